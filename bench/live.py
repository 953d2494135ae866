"""Live channel benchmark (``python -m bench.live [--quick] [--json]``).

One channel from the generated source (the issue's 2-rung ladder: 640x360 800 kb/s, 320x180 250 kb/s,
2 s segments of 0.5 s parts) runs in this process through ``flows.live.ChannelSupervisor`` (the same
supervisor ``vodflow live start`` runs in its own process) for 60 s (``--quick``) or 300 s, while two
HTTP clients follow it on the same clock:

- an LL-HLS follower: one blocking playlist reload per part (``_HLS_msn``/``_HLS_part`` of the part the
  preload hint names), then the part's bytes; it plays what it fetched in real time from the moment the
  first part arrived and counts a stall when its buffer runs dry;
- a plain-HLS follower on the same channel's plain playlist (no parts), polling every half target
  duration and fetching each new whole segment (the baseline).

and real players in headless Chromium play it at the same time (``e2e/live.html``, the browser tests'
live page, through a test server that passes ``/live/<channel>/`` on to the channel's edge routes):
LL-HLS in hls.js (``lowLatencyMode``) and Shaka Player, LL-DASH in dash.js (low-latency mode, live delay
from the MPD's ServiceDescription, liveCatchup) and Shaka Player, plain HLS in hls.js, each from its first
frame to the end of the run (``--no-browsers`` leaves them out).

Figures: ``encode_speed`` (media seconds per wall second over the run) and ``dropped_frames`` from the
encoder; ``blocking_reload_p50_ms``/``_p95_ms``: from the moment the supervisor's state saw a part (its
listener, this process's clock) to the held reload's answer reaching the follower; ``ll_hls_delivery_*``
and ``plain_hls_delivery_*``: from a part's (segment's) last media instant on the program date time clock
to its last byte at the follower, the least latency any player could have; ``stalls`` of the LL-HLS
follower. Browser latency: ``Date.now()`` in the page (this machine's clock, the packager's) less the
wall-clock time of the frame at the playhead, every 250 ms from the first frame: HLS by the playhead's
PROGRAM-DATE-TIME, DASH by the MPD's availabilityStartTime + currentTime, moved onto the playlists' clock
by ``dash_mpd_clock_offset_s`` (how much later the MPD dates a segment than the playlist does).
``<play>_latency_p50_s``/``_p95_s`` and ``<play>_stalls`` per play (``ll_hls_hlsjs``, ``ll_hls_shaka``,
``ll_dash_dashjs``, ``ll_dash_shaka``, ``plain_hls_hlsjs``); the issue's ``ll_hls_latency_*``,
``ll_dash_latency_*`` and ``plain_hls_latency_p50_s`` are the reference players' (hls.js, dash.js).
With ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import m3u8

from flows.live import ChannelConfig, ChannelSupervisor
from packager import DASH_MANIFEST, HLS_MASTER
from pipeline.live_ladder import parse_ladder

# The browser tests' harness (e2e/tests: not a package) plays the pages here too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e" / "tests"))
from browser_harness import serve
from live_harness import LiveCase, counted_stalls, dash_clock_offset, latencies, pct, play_live, wait_for_segments

LADDER = "640x360@800k,320x180@250k"
RENDITION = "video-0"
CHANNEL = "bench"
# (play, player, manifest): the reference player of each protocol first
PLAYS = (
    ("ll_hls_hlsjs", "hlsjs", HLS_MASTER),
    ("ll_hls_shaka", "shaka", HLS_MASTER),
    ("ll_dash_dashjs", "dashjs", DASH_MANIFEST),
    ("ll_dash_shaka", "shaka", DASH_MANIFEST),
    ("plain_hls_hlsjs", "hlsjs", "master-plain.m3u8"),
)
JOIN_AFTER_SEGMENTS = 3  # the players join once the channel has this many (live_harness.wait_for_segments)
# The join (6 s of media) and Chromium, the pages and the first frames: the players watch the rest.
_BROWSER_START_S = 14.0


def _parts(pl: m3u8.M3U8, uri: str) -> list:
    return [p for seg in pl.segments for p in seg.parts if p.uri == uri]


def _end_of_part(pl: m3u8.M3U8, uri: str, index: int) -> float | None:
    """The program-date-time instant (epoch s) at which part ``index`` of segment ``uri`` ends."""
    for seg in pl.segments:
        parts = [p for p in seg.parts if p.uri == uri]
        if parts and seg.program_date_time is not None and index < len(parts):
            return seg.program_date_time.timestamp() + sum(p.duration for p in parts[: index + 1])
    return None


class _Published:
    """When the supervisor's state first listed each (msn, part) of one rendition (this process's clock)."""

    def __init__(self, sup: ChannelSupervisor) -> None:
        self.sup = sup
        self.seen: dict[tuple[int, int], float] = {}

    def __call__(self) -> None:
        last = self.sup.state.last(RENDITION)
        if last is not None and last not in self.seen:
            self.seen[last] = time.time()


async def _ll_follower(
    session: aiohttp.ClientSession, url: str, until: float, published: _Published, out: dict
) -> None:
    reloads, delivery = out["reload_ms"], out["ll_delivery_s"]
    play_start: float | None = None  # wall time playback began (moved on by a stall)
    held = buffered = 0.0  # media seconds fetched before, and since, playback began
    stalls = 0
    async with session.get(url + f"{RENDITION}.m3u8") as r:
        pl = m3u8.loads(await r.text())
    hold_back = float(pl.server_control.part_hold_back or 3 * pl.part_inf.part_target)
    while time.time() < until:
        hint = pl.preload_hint
        if hint is None:
            async with session.get(url + f"{RENDITION}.m3u8") as r:
                pl = m3u8.loads(await r.text())
            continue
        msn = int(hint.uri.rsplit("-", 1)[1].split(".")[0])
        part = len(_parts(pl, hint.uri))
        async with session.get(url + f"{RENDITION}.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}) as r:
            text = await r.text()
            answered = time.time()
            if r.status != 200:
                out["errors"] += 1
                continue
        pl = m3u8.loads(text)
        if (msn, part) in published.seen:
            reloads.append((answered - published.seen[(msn, part)]) * 1000)
        listed = _parts(pl, hint.uri)
        if len(listed) <= part:
            continue
        p = listed[part]
        start, length = (int(x) for x in reversed(p.byterange.strip('"').split("@"))) if p.byterange else (0, None)
        headers = {"Range": f"bytes={start}-{start + length - 1}"} if length else {}
        async with session.get(url + p.uri, headers=headers) as r:
            await r.read()
        got = time.time()
        end = _end_of_part(pl, hint.uri, part)
        if end is not None:
            delivery.append(got - end)
        # A player starts PART-HOLD-BACK behind the live edge (it waits for that much media), then plays in
        # real time; a part that lands after the playhead reached it is a stall (and playback resumes there).
        if play_start is None:
            held += p.duration
            if held >= hold_back:
                play_start, buffered = got, held
            continue
        if got - play_start > buffered:
            stalls += 1
            play_start = got - buffered
        buffered += p.duration
    out["stalls"] = stalls


async def _plain_follower(session: aiohttp.ClientSession, url: str, until: float, out: dict) -> None:
    seen: set[str] = set()
    first = True
    while time.time() < until:
        async with session.get(url + f"{RENDITION}-plain.m3u8") as r:
            pl = m3u8.loads(await r.text())
        for seg in pl.segments:
            if seg.uri in seen or seg.uri is None:
                continue
            seen.add(seg.uri)
            if first:
                continue  # what was there before we came is not a measure of delivery
            async with session.get(url + seg.uri) as r:
                await r.read()
            if seg.program_date_time is not None:
                out["plain_delivery_s"].append(time.time() - seg.program_date_time.timestamp() - seg.duration)
        first = False
        await asyncio.sleep(pl.target_duration / 2 if pl.target_duration else 1.0)


async def _dash_offset(session: aiohttp.ClientSession, url: str) -> float | None:
    """``dash_clock_offset`` of the channel at ``url``, once its MPD and playlist name a segment in common."""
    deadline = time.time() + 10
    while time.time() < deadline:
        async with session.get(url + DASH_MANIFEST) as r:
            mpd = await r.text()
        async with session.get(url + f"{RENDITION}.m3u8") as r:
            playlist = await r.text()
        offset = dash_clock_offset(mpd, playlist)
        if offset is not None:
            return offset
        await asyncio.sleep(0.2)
    return None


def _browsers(url: str, seconds: float, work: Path) -> dict[str, tuple[LiveCase, dict]]:
    """Every play of ``PLAYS`` in one headless Chromium for the rest of the run: ``(case, findings)`` by play."""
    watch = max(5.0, seconds - _BROWSER_START_S)
    cases = [
        LiveCase(
            id=play,
            player=player,
            manifest=f"/live/{CHANNEL}/{manifest}",
            seconds=watch,
            timeout_ms=int((watch + 30) * 1000),
            shot_every_ms=0,  # screenshots cost CPU the encoder needs; latency needs none
        )
        for play, player, manifest in PLAYS
    ]
    wait_for_segments(url, JOIN_AFTER_SEGMENTS)
    with serve(work) as server:
        server.proxy(f"/live/{CHANNEL}/", url.split("/live/")[0])
        results = play_live(cases, server.url, work / "browser")
    return {c.id: (c, results[c.id]) for c in cases}


async def _no_browsers() -> dict:
    return {}


async def _run(seconds: float, out_dir: Path, *, browsers: bool = True) -> dict:
    config = ChannelConfig(name=CHANNEL, source="testsrc", ladder=parse_ladder(LADDER))
    sup = ChannelSupervisor(out_dir, config)
    published = _Published(sup)
    sup.state.add_listener(published)
    task = asyncio.create_task(sup.run(handle_signals=False))
    while sup.url is None or sup.state.last(RENDITION) is None:
        if task.done():
            raise SystemExit(f"the channel did not start: {(out_dir / 'status.json').read_text()}")
        await asyncio.sleep(0.05)
    figures: dict = {"reload_ms": [], "ll_delivery_s": [], "plain_delivery_s": [], "errors": 0, "stalls": 0}
    started = time.time()
    until = started + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        pages = asyncio.to_thread(_browsers, sup.url, seconds, out_dir) if browsers else _no_browsers()
        _, _, figures["browsers"] = await asyncio.gather(
            _ll_follower(session, sup.url, until, published, figures),
            _plain_follower(session, sup.url, until, figures),
            pages,
        )
        figures["dash_offset_s"] = await _dash_offset(session, sup.url) if browsers else None
    stats = sup.encoder.stats() if sup.encoder else None
    sup.stopping.set()
    await task
    figures["stats"] = stats
    figures["runs"] = sup.runs
    figures["wall_s"] = time.time() - started
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 s instead of 300 s")
    ap.add_argument("--seconds", type=float, help="run this long instead")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    ap.add_argument("--no-browsers", action="store_true", help="leave the players in Chromium out")
    ap.add_argument("--pages", type=Path, help="write every page's findings (samples, stalls) to this JSON file")
    args = ap.parse_args()
    seconds = args.seconds or (60.0 if args.quick else 300.0)
    print(f"live channel {LADDER}, 2 s segments of 0.5 s parts, testsrc, {seconds:g} s ({datetime.now():%H:%M:%S})")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        f = asyncio.run(_run(seconds, Path(tmp), browsers=not args.no_browsers))
    if args.pages:
        args.pages.write_text(json.dumps({play: r for play, (_, r) in f["browsers"].items()}, indent=1))
    st = f["stats"]
    result = {
        "encode_speed": round(st.speed_measured, 3) if st else None,
        "dropped_frames": st.dropped if st else None,
        "duplicated_frames": st.duplicated if st else None,
        "encoder_runs": f["runs"],
        "stalls": f["stalls"],
        "errors": f["errors"],
        "blocking_reload_p50_ms": _round(pct(f["reload_ms"], 0.5), 1),
        "blocking_reload_p95_ms": _round(pct(f["reload_ms"], 0.95), 1),
        "blocking_reloads": len(f["reload_ms"]),
        "ll_hls_delivery_p50_s": _round(pct(f["ll_delivery_s"], 0.5), 3),
        "ll_hls_delivery_p95_s": _round(pct(f["ll_delivery_s"], 0.95), 3),
        "plain_hls_delivery_p50_s": _round(pct(f["plain_delivery_s"], 0.5), 3),
    }
    plays = _browser_figures(f["browsers"], f["dash_offset_s"])
    result |= {
        # The keys: the reference player of each protocol (hls.js, dash.js).
        "ll_hls_latency_p50_s": plays.get("ll_hls_hlsjs_latency_p50_s"),
        "ll_hls_latency_p95_s": plays.get("ll_hls_hlsjs_latency_p95_s"),
        "ll_dash_latency_p50_s": plays.get("ll_dash_dashjs_latency_p50_s"),
        "ll_dash_latency_p95_s": plays.get("ll_dash_dashjs_latency_p95_s"),
        "plain_hls_latency_p50_s": plays.get("plain_hls_hlsjs_latency_p50_s"),
        "dash_mpd_clock_offset_s": _round(f["dash_offset_s"], 3),
        **plays,
    }
    print(f"  encoder: speed {result['encode_speed']}x, dropped {result['dropped_frames']}, runs {f['runs']}")
    print(
        f"  blocking reload (part seen -> held reload answered): p50 {result['blocking_reload_p50_ms']} ms,"
        f" p95 {result['blocking_reload_p95_ms']} ms over {len(f['reload_ms'])} reloads"
    )
    print(
        f"  delivery (media instant -> bytes at the client): LL-HLS part p50 {result['ll_hls_delivery_p50_s']} s"
        f" p95 {result['ll_hls_delivery_p95_s']} s; plain HLS segment p50 {result['plain_hls_delivery_p50_s']} s"
    )
    print(f"  LL-HLS follower stalls {f['stalls']}, HTTP errors {f['errors']}")
    if f["reload_ms"]:
        print(f"  (reload ms mean {statistics.mean(f['reload_ms']):.1f}, max {max(f['reload_ms']):.1f})")
    if not f["browsers"]:
        print("  browsers: not run (--no-browsers)")
    for play, (_case, r) in f["browsers"].items():
        print(
            f"  {play} ({r.get('player')} {r.get('version')}): latency p50 {plays.get(f'{play}_latency_p50_s')} s"
            f" p95 {plays.get(f'{play}_latency_p95_s')} s, stalls {plays.get(f'{play}_stalls')},"
            f" first frame {r.get('firstFrameMs')} ms, target {r.get('targetLatency')}"
            + (f", error: {r['fatal']}" if r.get("fatal") else "")
        )
    if f["browsers"]:
        print(f"  (DASH latency on the playlists' clock: the MPD's + {result['dash_mpd_clock_offset_s']} s)")
    if args.json:
        print(json.dumps(result))


def _browser_figures(browsers: dict[str, tuple[LiveCase, dict]], dash_offset_s: float | None) -> dict:
    """``<play>_latency_p50_s``, ``_p95_s`` and ``<play>_stalls`` of every page (None: nothing measured)."""
    out: dict = {}
    for play, (case, r) in browsers.items():
        usable = r.get("done") and not r.get("fatal") and (dash_offset_s is not None or not case.dash)
        lat = latencies(case, r, dash_offset_s=dash_offset_s or 0.0) if usable else []
        out[f"{play}_latency_p50_s"] = _round(pct(lat, 0.5), 3)
        out[f"{play}_latency_p95_s"] = _round(pct(lat, 0.95), 3)
        out[f"{play}_stalls"] = len(counted_stalls(r)) if r.get("done") else None
    return out


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


if __name__ == "__main__":
    main()
