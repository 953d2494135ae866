"""The live player: one session against a live HLS channel, in real time, under a network trace.

What it does, the way hls.js (``lowLatencyMode``) and dash.js play a low-latency stream:

- **Start at the live edge**: the playlist's newest media less the target latency, which is the
  channel's (``PART-HOLD-BACK`` of ``EXT-X-SERVER-CONTROL`` in LL-HLS, else ``HOLD-BACK``, else three
  target durations, hls.js's ``targetLatency``) unless given. Fetching begins at the independent part (or
  segment) at or before that instant; what lies before it is decoded, not shown.
- **LL-HLS**: one blocking playlist reload per part (``_HLS_msn``/``_HLS_part`` of the next part the
  player wants: the server answers once it exists), then the part (a byte range of the segment file, or
  a URI of its own). Renditions switch at a segment's first part (the only independent one on our
  channels). **Plain HLS** (a playlist without parts, or ``low_latency=False``): whole segments, the
  playlist polled every target duration (half of it when nothing changed).
- **Catch-up by playback rate**: ``live_playback.CatchUp`` (dash.js's default rule) every half second.
- **ABR**: an algorithm of ``player.abr`` chooses each segment's rendition with the throughput estimate
  of ``player.estimate`` (fed every part) and the live buffer; ``throughput`` by default (hls.js's and
  dash.js's low-latency choice: buffer-based rules plan for a VOD buffer, which a live player at 1-2 s of
  latency never has). Downloads are not abandoned (a part is a fraction of a second) and an algorithm's
  delay is not taken (it would only add latency).
- **Under a trace**: every request's bytes really come from the server; how long they take is
  ``player.network``'s model of the trace, as in the VOD session, kept on the wall clock: a request
  starts when it is made, waits one request latency (or, held by a blocking reload, until the server
  answers plus half a latency), then moves its bits at the trace's rates; the player acts on the bytes
  only when the model says they arrived, sleeping until then.

The server's refusals are advice, not failures (RFC 8216bis 6.2.5.2): a 400 or a 503 to a blocking
reload, a 404 for a part, are counted and followed by a plain reload. A session ends when its
``seconds`` run out, when the playlist ends (``EXT-X-ENDLIST``: the buffer plays out), when the server
stops answering, or when no new media came for ``idle_timeout_s``; ``run()`` returns a ``LiveReport``.
Video only, like the VOD session.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from urllib.parse import urlencode

from player import abr as algorithms
from player.client import EdgeClient, strip_query
from player.errors import BadManifest, FetchFailed
from player.estimate import DualEwma
from player.live_playback import CatchUp, Playhead
from player.live_playlist import ListedPart, ListedSegment, MediaPlaylist, Variant, read_master, read_media
from player.live_records import LiveReport, LiveSample, mean, percentile
from player.movie import Movie, Rendition
from player.network import Network
from player.records import Download, Player
from player.trace import Trace

__all__ = ["LiveSession", "play_live"]

log = logging.getLogger(__name__)

_MAX_SESSION_S = 24 * 3600.0  # the ABR's view of an open-ended session


class _LivePlayer(Player):
    """The player state the ABR algorithms read, with the live playhead's buffer."""

    playhead: Playhead

    def buffer_level(self) -> float:
        return self.playhead.level()


class LiveSession:
    """One live session of ``url`` (a multivariant or media playlist) under ``trace``; ``run()`` plays it."""

    def __init__(
        self,
        url: str,
        trace: Trace,
        *,
        abr: str = "throughput",
        target_latency: float | None = None,
        seconds: float | None = 60.0,
        low_latency: bool = True,
        catch_up: CatchUp | None = None,
        latency_s: float | None = None,
        idle_timeout_s: float = 15.0,
        client: EdgeClient | None = None,
        on_sample: Callable[[LiveSample], None] | None = None,
    ) -> None:
        self.url = url
        self.trace = trace
        self.abr_name = abr
        self.abr = algorithms.make(abr)
        self.target_override = target_latency
        self.seconds = seconds
        self.low_latency = low_latency
        self.catch_up = catch_up or CatchUp()
        self.network = Network(trace, latency_s=latency_s)
        self.idle_timeout_s = idle_timeout_s
        self.client = client or EdgeClient(timeout=30.0)
        self.on_sample = on_sample
        self.refused: dict[str, int] = {}
        self.media_requests = self.playlist_requests = 0
        self.bits = 0.0
        self.seeks = 0
        self._reported = 0
        self._seen_msn = -1  # the newest segment of the last plain reload: did it change?
        self.playhead: Playhead | None = None

    # -- time and the network model -----------------------------------------------------------------
    def _now(self) -> float:
        return time.time()

    def _wait_until(self, when: float) -> None:
        while (left := when - self._now()) > 0:
            time.sleep(min(left, 0.5))
            self._advance(min(self._now(), when))
        self._advance(when)

    def _advance(self, now: float) -> None:
        if self.playhead is None:
            return
        self.playhead.advance(now)
        if self.on_sample is not None:
            for s in self.playhead.samples[self._reported :]:
                self.on_sample(s)
        self._reported = len(self.playhead.samples)

    def _get(self, url: str, byte_range: tuple[int, int] | None = None) -> tuple[int, bytes, float, float]:
        """``(status, body, ttfb, transfer seconds)`` of one request, once the model says it arrived."""
        t0 = self._now()
        status, body = self.client.request(url, byte_range=byte_range)
        answered = self._now()
        net = self.network
        net.wait(max(0.0, t0 - self.start - net.now))
        ttfb = net.first_bit()
        held = answered - self.start + ttfb / 2  # a held reload's answer still crosses half a round trip
        if held > net.now:
            net.wait(held - net.now)
        moving = net.transfer(8.0 * len(body))
        self.bits += 8.0 * len(body)
        self._wait_until(self.start + net.now)
        return status, body, ttfb, moving

    # -- playlists ----------------------------------------------------------------------------------
    def _reload(self, q: int, block: tuple[int, int | None] | None = None) -> MediaPlaylist | None:
        """The media playlist of rendition ``q`` (held for ``block`` = (msn, part) when the server can);
        None when the server refused (counted)."""
        url = self.variants[q].url
        if block is not None:
            msn, part = block
            query = {"_HLS_msn": msn} if part is None else {"_HLS_msn": msn, "_HLS_part": part}
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
        self.playlist_requests += 1
        status, body, _, _ = self._get(url)
        if status != 200:
            log.info("%s: the server answered %s", url, status)
            self.refused[str(status)] = self.refused.get(str(status), 0) + 1
            return None
        pl = read_media(url, body, self.client)
        self.playlists[q] = pl
        return pl

    def _open(self) -> MediaPlaylist:
        self.start = self._now()
        status, body, _, _ = self._get(self.url)
        where = strip_query(self.url)
        if status != 200:
            raise FetchFailed(f"{where}: the server answered {status}")
        variants = read_master(self.url, body, self.client)
        if variants is None:
            name = where.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            variants = [Variant(self.url, name, 0.0, None, "")]
        self.variants = variants
        self.playlists: dict[int, MediaPlaylist] = {}
        pl = self._reload(0)
        if pl is None:
            raise FetchFailed(f"{strip_query(variants[0].url)}: the server refused the media playlist")
        if pl.ended:
            raise BadManifest(f"{where}: not a live playlist (it has EXT-X-ENDLIST: a VOD title or an ended channel)")
        return pl

    # -- the session --------------------------------------------------------------------------------
    def run(self) -> LiveReport:
        """Play until the session's end (see the module docstring). Raises ``FetchFailed`` when the
        channel cannot be reached or refuses its playlist, ``BadManifest`` when it is not a live one."""
        pl = self._open()
        self.ll = self.low_latency and pl.part_target is not None
        hold = (pl.part_hold_back or pl.hold_back or 3 * pl.part_target) if self.ll else pl.hold_back  # type: ignore[operator]
        self.target = self.target_override or hold or 3 * pl.target_duration
        seg_s = max((s.duration for s in pl.segments if s.complete), default=pl.target_duration) or 1.0
        # playback starts, and goes on after a stall, once one part (half a segment in plain HLS) is there:
        # the unit that arrives, as Sabre starts on one segment
        parts = [p.duration for s in pl.segments for p in s.parts]
        resume = (min(parts, default=pl.part_target) if self.ll else seg_s / 2) or 0.5
        self.playhead = Playhead(self.start, self.target, self.catch_up, resume_s=resume)  # type: ignore[arg-type]
        self.playhead.labels = [(v.name, v.bandwidth) for v in self.variants]
        # The algorithms plan in the unit the player downloads: a part in LL-HLS, a segment in plain HLS
        # (a 2 s segment against a 1 s live buffer would look unaffordable at any throughput).
        self._start_abr(pl.part_target if self.ll else seg_s)  # type: ignore[arg-type]
        self.inits: dict[int, str] = {}
        self.quality = self.abr.first_quality()
        self.segment_index = 0
        self._chosen_for = -1  # the segment the ABR last chose a rendition for
        self.last_media = self._now()
        end = self._loop()
        self._advance(self._now())
        if end == "ended":
            self.playhead.drain()
        return self._report(end)

    def _start_abr(self, unit_s: float) -> None:
        """The ABR's view: a movie of ``unit_s`` downloads at the announced bandwidths, as long as the session."""
        rates = tuple(v.bandwidth for v in self.variants)
        n = math.ceil((self.seconds or _MAX_SESSION_S) / unit_s) + 16
        rends = tuple(Rendition(id=v.name, bandwidth=v.bandwidth, codecs=v.codecs) for v in self.variants)
        movie = Movie(unit_s, rates, (tuple(r * unit_s for r in rates),) * n, renditions=rends)
        self.view = _LivePlayer(movie, max(self.target, unit_s), DualEwma(unit_s))
        self.view.playhead = self.playhead
        self.abr.start(self.view)

    def _loop(self) -> str:
        pl = self.playlists[0]
        while not self._listed(pl):  # a channel that has just started may list nothing yet
            if self._now() - self.last_media > self.idle_timeout_s:
                return "stalled"
            self._pause(pl.part_target or pl.target_duration / 2 or 0.5)
            pl = self._reload(0) or pl
        self.cursor = self._start_point(pl)
        self._last_poll = self._now()
        while True:
            if self.seconds is not None and self._now() - self.start >= self.seconds:
                return "seconds"
            if self._now() - self.last_media > self.idle_timeout_s:
                return "stalled"
            if self.playhead.seek_wanted:
                self._seek(self.playlists[self.quality])
                continue
            pl = self.playlists[self.quality]
            step = self._find(pl)
            try:
                if step == "fetch":
                    self._fetch(pl)
                elif step == "end":
                    return "ended"
                elif step == "behind":
                    self._seek(pl)
                else:
                    assert self.playhead is not None
                    self.playhead.at_edge = True  # all there is was fetched: playback may begin
                    self._wait_for_more(pl)
            except FetchFailed:
                return "gone"

    def _wait_for_more(self, pl: MediaPlaylist) -> None:
        """The cursor is not in the playlist yet: a held reload for it (LL-HLS), or the next poll."""
        if self.ll and pl.can_block_reload:
            if self._reload(self.quality, self.cursor) is None:
                self._recover(pl)
            return
        # plain HLS: reload a target duration after the last, half of one when it brought nothing
        wait = pl.target_duration / (1 if pl.last_msn > self._seen_msn else 2)
        self._seen_msn = pl.last_msn
        self._wait_until(max(self._now(), self._last_poll + wait))
        self._last_poll = self._now()
        self._reload(self.quality)

    def _pause(self, seconds: float) -> None:
        self._wait_until(self._now() + seconds)

    # -- where to fetch -----------------------------------------------------------------------------
    def _listed(self, pl: MediaPlaylist) -> list[ListedSegment]:
        """The segments of ``pl`` this player could fetch (whole ones, and growing ones in LL-HLS)."""
        return [s for s in pl.segments if not s.gap and (s.complete or (self.ll and bool(s.parts)))]

    def _start_point(self, pl: MediaPlaylist) -> tuple[int, int | None]:
        """The cursor (msn, part; part None for a whole segment) to fetch first, and the playhead's start:
        the live edge less the target, at an independent part (LL) or a segment's start at or before."""
        assert self.playhead is not None
        listed = self._listed(pl)
        if not listed:  # after a seek into a playlist that lists nothing: wait at its end
            self.playhead.begin_at(self._now() - self.target)
            return (pl.last_msn + 1, 0 if self.ll else None)
        want = max(pl.edge - self.target, listed[0].start)
        if self.ll:
            starts = [(p.start, s.msn, p.index) for s in listed for p in s.parts if p.independent and p.start <= want]
            if starts:
                at, msn, index = max(starts)
                self.playhead.begin_at(max(want, at))
                return (msn, index)
        seg = max((s for s in listed if s.start <= want and s.complete), key=lambda s: s.start, default=listed[0])
        self.playhead.begin_at(max(want, seg.start))
        return (seg.msn, None if not self.ll else (0 if seg.parts else None))

    def _find(self, pl: MediaPlaylist) -> str:
        """What to do for the cursor: ``fetch`` it, ``wait`` for it (reload), ``behind`` (it left the window),
        ``end`` (the playlist ended before it). Moves the cursor over what is not to be fetched."""
        while True:
            msn, part = self.cursor
            seg = pl.segment(msn)
            if seg is None:
                if msn < pl.media_sequence:
                    return "behind"
                return "end" if pl.ended else "wait"
            if seg.gap:
                self.cursor = (msn + 1, 0 if self.ll else None)
                continue
            if part is None:  # a whole segment
                return "fetch" if seg.complete else "wait"
            if part < len(seg.parts):
                return "fetch"
            if seg.complete:
                if not seg.parts and part == 0:  # its parts are no longer listed: take it whole
                    self.cursor = (msn, None)
                    return "fetch"
                self.cursor = (msn + 1, 0)
                continue
            return "wait"

    def _seek(self, pl: MediaPlaylist) -> None:
        """Jump back to the target latency: the buffer goes, fetching starts again at the live edge."""
        self.seeks += 1
        self.playhead.flush()
        fresh = self._reload(self.quality) or pl
        self.cursor = self._start_point(fresh)

    # -- fetching -----------------------------------------------------------------------------------
    def _fetch(self, pl: MediaPlaylist) -> None:
        if self.cursor[1] in (None, 0) and self._chosen_for != self.cursor[0]:
            self._chosen_for = self.cursor[0]  # one decision a segment, a retry of its first part included
            pl = self._choose(pl, self.cursor[0])
            if self._find(pl) != "fetch":
                return
        msn, part = self.cursor
        seg = pl.segment(msn)
        assert seg is not None
        unit: ListedPart | ListedSegment = seg if part is None else seg.parts[part]
        if seg.init_url and self.inits.get(self.quality) != seg.init_url:
            self.media_requests += 1
            status, _, _, _ = self._get(seg.init_url)
            if status != 200:
                self._refused(status, pl, seg.init_url)
                return
            self.inits[self.quality] = seg.init_url
        assert unit.url is not None and self.playhead is not None
        level = self.playhead.level()
        t0 = self.network.now
        self.media_requests += 1
        status, body, ttfb, moving = self._get(unit.url, unit.byte_range if isinstance(unit, ListedPart) else None)
        if status not in (200, 206):
            self._refused(status, pl, unit.url)
            return
        self.playhead.push(unit.start, unit.duration, self.quality)
        self.last_media = self._now()
        bits = 8.0 * len(body)
        d = Download(
            self.segment_index, self.quality, bits, bits, t0, self.network.now - t0, ttfb, None, level,
            self.playhead.level(), self.view.throughput,
        )  # fmt: skip
        self.view.downloads.append(d)
        self.abr.on_download(d)
        if moving > 0:
            self.view.estimator.push(moving, bits / moving, ttfb)
        self.cursor = (msn, part + 1) if part is not None else (msn + 1, 0 if self.ll else None)

    def _choose(self, pl: MediaPlaylist, msn: int) -> MediaPlaylist:
        """At a segment's start: the ABR's rendition for it, and that rendition's playlist listing it."""
        q = self.quality
        if self.segment_index > 0 and self.view.throughput is not None:
            q = min(max(self.abr.choose(self.segment_index)[0], 0), len(self.variants) - 1)
        self.segment_index += 1
        if q == self.quality:
            return pl
        other = self.playlists.get(q)
        if other is None or not self._lists(other, msn):
            block = (msn, 0 if self.ll else None) if pl.can_block_reload and self.ll else None
            other = self._reload(q, block)
        if other is None or not self._lists(other, msn):
            return pl  # the other rendition cannot give this segment yet: stay
        self.quality = q
        return other

    def _lists(self, pl: MediaPlaylist, msn: int) -> bool:
        """True when ``pl`` can give segment ``msn`` from its start (its first part, or all of it)."""
        seg = pl.segment(msn)
        return seg is not None and (seg.complete or (self.ll and bool(seg.parts)))

    def _refused(self, status: int, pl: MediaPlaylist, url: str) -> None:
        log.info("%s: the server answered %s", strip_query(url), status)
        self.refused[str(status)] = self.refused.get(str(status), 0) + 1
        self._recover(pl)

    def _recover(self, pl: MediaPlaylist) -> None:
        """After a refusal: what the playlist holds now, without holding; a pause when that is nothing new
        (so a server that keeps refusing is not asked in a tight loop)."""
        fresh = self._reload(self.quality)
        if fresh is None or self._find(fresh) == "wait":
            self._pause(pl.part_target or pl.target_duration / 2)

    # -- the report ---------------------------------------------------------------------------------
    def _report(self, end: str) -> LiveReport:
        ph = self.playhead
        shown = [s for s in ph.samples if s.state != "starting" and s.latency_s is not None]
        latencies = [s.latency_s for s in shown if s.latency_s is not None]
        playing = [s.rate for s in ph.samples if s.state == "playing"] or [1.0]
        played = ph.played
        media = sum(m for _, m in played)
        rates = [v.bandwidth for v in self.variants]
        mean_bps = sum(rates[q] * m for q, m in played) / media if media else None
        return LiveReport(
            url=strip_query(self.url),
            trace=self.trace.name,
            abr=self.abr_name,
            mode="ll-hls" if self.ll else "hls",
            target_latency_s=round(self.target, 4),
            seconds=round(ph.clock - self.start, 3),
            startup_s=None if ph.started_at is None else round(ph.started_at - self.start, 3),
            start_latency_s=latencies[0] if latencies else None,
            latency_p50_s=percentile(latencies, 0.5),
            latency_p95_s=percentile(latencies, 0.95),
            latency_mean_s=None if not latencies else round(mean(latencies) or 0.0, 4),
            latency_min_s=min(latencies, default=None),
            latency_max_s=max(latencies, default=None),
            stalls=len(ph.stalls),
            stall_s=round(sum(s.duration for s in ph.stalls), 3),
            switches=max(len(played) - 1, 0),  # runs of one rendition as shown
            mean_bitrate_kbps=None if mean_bps is None else round(mean_bps / 1000, 1),
            max_rate=max(playing),
            min_rate=min(playing),
            seeks=self.seeks,
            seek_wait_s=round(ph.waiting, 3),
            media_requests=self.media_requests,
            playlist_requests=self.playlist_requests,
            bytes_downloaded=round(self.bits / 8),
            refused=dict(self.refused),
            end=end,  # type: ignore[arg-type]
            samples=list(ph.samples),
        )


def play_live(url: str, trace: Trace, **options: object) -> LiveReport:
    """One live session (``LiveSession``'s options); returns its report. Raises ``FetchFailed``,
    ``BadManifest``."""
    return LiveSession(url, trace, **options).run()  # type: ignore[arg-type]
