"""The live browser pages (e2e/live.html): their cases, one browser run that stops the channel when every
page is ready for its end, the verdict, and the latency figures (``bench.live`` uses them too).

A page reports latency samples on the clock its protocol gives (``e2e/live.js``): HLS against the
playhead's EXT-X-PROGRAM-DATE-TIME, DASH against the MPD's availabilityStartTime. ``dash_clock_offset``
measures how far the MPD's clock is from the playlists' (the same segment file, dated by each), which
``latencies`` adds to a DASH page's figures so that every player is judged on the same clock.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import m3u8
from browser_harness import MIN_PICTURE_CHANGE, MIN_PICTURE_STD, page_problems, run_pages

from packager import parse_mpd
from packager.mpd import parse_duration

# A live page passes when its first frame is on screen within LIVE_FIRST_FRAME_MS of the player starting,
# it played at least LIVE_MIN_PLAYED_S, and stalled at most MAX_STALLS times (the bound).
LIVE_FIRST_FRAME_MS = 8000
LIVE_MIN_PLAYED_S = 5.0
MAX_STALLS = 1
# The DVR seek: the first frame after it is dated SEEK_TOLERANCE_S or less from (date before - seekBack),
# and the playhead then moves on at least SEEK_MIN_ADVANCE_S within the page's seekWatch.
SEEK_TOLERANCE_S = 1.5
SEEK_MIN_ADVANCE_S = 2.0
# The end: the playhead stops no more than END_SHORT_S before the end of the media it has buffered.
END_SHORT_S = 0.5
END_SLACK_S = 2.0  # a stall this close to the end of a stopped channel is not counted (counted_stalls)
AWAITING_END = "awaiting-end"
DONE = "done"
_PHASE = re.compile(r"^e2e: (?P<id>\S+): phase (?P<phase>\S+)$")


@dataclass(frozen=True)
class LiveCase:
    """One live playback: ``player`` (shaka, dashjs, hlsjs) plays ``manifest`` (a path on the test server,
    ``/live/<channel>/master.m3u8``), ``seconds`` at the live edge, then an optional DVR seek of
    ``seek_back`` seconds, then (``await_end``) on until the channel ends."""

    id: str
    player: str
    manifest: str
    seconds: float = 10.0
    seek_back: float = 0.0
    seek_watch: float = 4.0
    await_end: bool = False
    timeout_ms: int = 60000
    clearkeys: Mapping[str, str] | None = None  # {kid hex: key hex} handed to the player
    licence: str | None = None  # an encrypted channel's ClearKey licence URL (hls.js needs it configured)
    shot_every_ms: int = 2000  # 0: no screenshots (the bench: they cost the encoder CPU)

    @property
    def dash(self) -> bool:
        return self.manifest.endswith(".mpd")

    def page(self, origin: str) -> dict:
        """The case as e2e/run.mjs takes it: unthrottled (the latency is the packager's and the player's)."""
        query = {
            "player": self.player,
            "manifest": self.manifest,
            "seconds": f"{self.seconds:g}",
            "timeout": str(self.timeout_ms),
        }
        if self.seek_back:
            query |= {"seekBack": f"{self.seek_back:g}", "seekWatch": f"{self.seek_watch:g}"}
        if self.await_end:
            query["awaitEnd"] = "1"
        if self.clearkeys:
            query["clearkeys"] = json.dumps(dict(self.clearkeys))
        if self.licence:
            query["licence"] = self.licence
        url = f"{origin}/e2e/live.html?{urllib.parse.urlencode(query)}"
        return {"id": self.id, "url": url, "networkKbps": 0, "shotEveryMs": self.shot_every_ms}


def play_live(
    cases: list[LiveCase], origin: str, work: Path, *, at_end: Callable[[], None] | None = None, concurrency: int = 6
) -> dict[str, dict]:
    """Play every case at once in one headless Chromium; once every page has said it waits for the end
    (or is done), call ``at_end()`` (stop the channel) on the driver's reader thread. Each page's findings
    by case id; ``at_end`` is called exactly once, at the latest when the browser is done."""
    phases: dict[str, str] = {}
    called = threading.Event()

    def maybe_end() -> None:
        if at_end is not None and not called.is_set():
            called.set()
            at_end()

    def on_line(line: str) -> None:
        m = _PHASE.match(line)
        if m:
            phases[m["id"]] = m["phase"]
            if all(phases.get(c.id) in (AWAITING_END, DONE) for c in cases):
                maybe_end()

    try:
        return run_pages([c.page(origin) for c in cases], work, concurrency, on_line=on_line)
    finally:
        maybe_end()


def wait_for_segments(channel_url: str, count: int, *, rendition: str = "video-0", timeout: float = 30.0) -> str:
    """Poll the channel's LL-HLS media playlist until it lists ``count`` whole segments; return its text.

    Players join then, not at the channel's first part: Shaka Player 5.2 fails to load an LL-HLS playlist
    that holds nothing but a growing segment (a TypeError in URL.getScheme), and a plain-HLS player can
    only start its usual three segments back once there are three. Raises ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{channel_url}{rendition}.m3u8", timeout=10) as r:
            text = r.read().decode()
        if sum(1 for s in m3u8.loads(text).segments if s.uri) >= count:
            return text
        if time.monotonic() > deadline:
            raise TimeoutError(f"{channel_url}{rendition}.m3u8 lists fewer than {count} segments after {timeout:g} s")
        time.sleep(0.2)  # another process writes the playlist: polling is the only way to see it


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) of ``values``; None for none."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def latencies(case: LiveCase, r: Mapping, *, dash_offset_s: float = 0.0, phase: str = "live") -> list[float]:
    """The page's latency samples of ``phase`` on the playlists' clock: HLS as measured, DASH from the
    MPD's clock plus ``dash_offset_s`` (``dash_clock_offset``)."""
    samples = [s for s in r.get("samples") or [] if s["phase"] == phase]
    if case.dash:
        return [s["mpdLatency"] + dash_offset_s for s in samples if s.get("mpdLatency") is not None]
    return [s["latency"] for s in samples if s.get("latency") is not None]


def dash_clock_offset(mpd_text: str, playlist_text: str) -> float | None:
    """How much later the MPD dates a segment than the LL-HLS media playlist does (seconds): the MPD's
    availabilityStartTime + Period@start + the segment's start, less its EXT-X-PROGRAM-DATE-TIME, for the
    newest segment file both name. None when they name none in common."""
    ast = re.search(r'availabilityStartTime="([^"]+)"', mpd_text)
    period = re.search(r'<Period\b[^>]*\bstart="([^"]+)"', mpd_text)
    if ast is None:
        return None
    anchor = datetime.fromisoformat(ast.group(1).replace("Z", "+00:00")).timestamp()
    anchor += parse_duration(period.group(1)) if period else 0.0
    starts = {seg.url: seg.start for rep in parse_mpd(mpd_text).representations for seg in rep.segments}
    dated = [s for s in m3u8.loads(playlist_text).segments if s.uri in starts and s.program_date_time is not None]
    if not dated:
        return None
    seg = dated[-1]
    return anchor + starts[seg.uri] - seg.program_date_time.timestamp()


def live_problems(case: LiveCase, r: Mapping) -> list[str]:
    """What a live viewer would call broken: no page result, a fatal error before the channel was stopped
    (one while it ends is ``end_problems``'), no first frame in time, too little played, no latency
    measured, a picture that never changes or is flat (when the case is screenshot), more than MAX_STALLS
    stalls. Empty means it played live."""
    if not r.get("done"):
        return [f"the page never finished: {r.get('fatal')}"]
    found = []
    if r.get("doneReason") == "timeout":
        found.append(f"the page timed out in phase {r.get('phase')}: {r.get('currentTime', 0):.2f} s reached")
    if r.get("fatal") and r.get("fatalPhase") != AWAITING_END:  # one while the channel ends: end_problems
        found.append(f"fatal player error (phase {r.get('fatalPhase')}): {r['fatal']}")
    found += page_problems(r, first_frame_ms=LIVE_FIRST_FRAME_MS, min_played_s=LIVE_MIN_PLAYED_S)
    if not latencies(case, r):
        found.append("no latency was measured at the live edge")
    captures = r.get("captures") or []
    if case.shot_every_ms and not captures:
        found.append("the driver took no screenshot of the playing page")
    change = max((c["diffFromFirst"] for c in captures), default=0.0)
    if captures and change <= MIN_PICTURE_CHANGE:
        found.append(f"the picture did not change (largest difference {change:.2f} over {len(captures)} captures)")
    if flat := [c for c in captures if c["std"] < MIN_PICTURE_STD]:
        found.append(f"{len(flat)} of {len(captures)} captures are flat (blank or garbage)")
    stalls = counted_stalls(r)
    if len(stalls) > MAX_STALLS:
        found.append(f"{len(stalls)} stalls (at most {MAX_STALLS}): {stalls}")
    return found


def counted_stalls(r: Mapping) -> list[dict]:
    """The page's stalls less those of the channel's last END_SLACK_S (the encoder finishing its last
    segment once stopped: the final part comes when it comes)."""
    ended = r.get("ended")
    return [
        s
        for s in r.get("stalls") or []
        if not (ended and s["phase"] == AWAITING_END and s["currentTime"] >= ended["currentTime"] - END_SLACK_S)
    ]


def end_problems(case: LiveCase, r: Mapping) -> list[str]:
    """What is wrong with how the page saw the channel end: a fatal error, no end seen, an end before the
    channel was stopped, or a playhead that stopped more than END_SHORT_S before the media it had."""
    ended = r.get("ended")
    if r.get("fatal"):
        return [f"fatal player error: {r['fatal']}"]
    if not ended:
        return [f"the page saw no end (done: {r.get('doneReason')}, phase {r.get('phase')})"]
    found = []
    if ended["phase"] != AWAITING_END:
        found.append(f"the playback ended before the channel was stopped: {ended}")
    if ended.get("bufferedEnd") is not None and ended["currentTime"] < ended["bufferedEnd"] - END_SHORT_S:
        found.append(
            f"the player stopped at {ended['currentTime']:.2f} s with media buffered to {ended['bufferedEnd']:.2f} s"
            f" ({ended['how']}, paused {ended.get('paused')}, duration {ended.get('duration')})"
        )
    return found


def seek_problems(case: LiveCase, r: Mapping) -> list[str]:
    """What is wrong with the page's DVR seek: none made, never seeked, the first frame after it not
    ``seek_back`` earlier than before, or the playhead not moving on from there."""
    seek = r.get("seek")
    if not seek:
        return ["no DVR seek was made"]
    if seek.get("seekedMs") is None:
        return [f"the seek to {seek['toTime']:.2f} s never completed"]
    found = []
    before, after = seek.get("fromDate"), seek.get("dateAfter")
    if before is None or after is None:
        found.append(f"no frame date around the seek (before {before}, after {after})")
    elif abs((before - after) / 1000 - case.seek_back) > SEEK_TOLERANCE_S:
        found.append(f"the seek moved the frame date back {(before - after) / 1000:.2f} s, not {case.seek_back:g} s")
    if (seek.get("advancedS") or 0) < SEEK_MIN_ADVANCE_S:
        found.append(f"after the seek the playhead moved {seek.get('advancedS')} s in {case.seek_watch:g} s")
    return found
