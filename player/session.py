"""The playback model: one viewing session in virtual time.

The order of events per segment is the Sabre reference simulator's (so the parity bench can hold us
to its numbers): the first segment is fetched at the algorithm's first choice without abandonment;
then, per segment, wait while the buffer has no room for one more segment, ask the algorithm for a
rendition and an optional delay, download (checking for abandonment after every progress step),
drain the buffer by the download's duration, append the segment, tell the algorithm, and update the
throughput estimate. An abandoned download does not update the estimate; its segment is requested
again at a fresh choice (Sabre's behaviour, the default) or, with ``abandon_to_target``, at the
rendition the algorithm abandoned to (dash.js's behaviour, used against the edge).

Every segment fills the buffer and plays for its real duration (``Movie.durations``: a title's short
last segment is short every time a session loops over it); the algorithms plan with the nominal one.

Playback starts once ``startup`` seconds are buffered (one segment by default, as in Sabre); a seek
empties the buffer and waits for ``startup`` again (counted as seek wait, not as a stall). A stall
is time with nothing to play after playback has started; its count is the number of times the buffer
ran dry. A segment's bitrate and VMAF count from the moment it starts to play.

When ``fetch`` is given, every download's bytes really come from it (the edge): the number of bytes it
returns is the size the network model moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from player.abr.base import Abr
from player.estimate import DualEwma
from player.movie import Movie
from player.network import Network
from player.records import Download, Player, Progress, SessionResult, Stall

__all__ = ["Session"]

Fetch = Callable[[int, int], float]
_EPS = 1e-9  # seconds


class Session:
    """One session of ``abr`` over ``network``; ``run()`` returns a ``SessionResult``."""

    def __init__(
        self,
        movie: Movie,
        network: Network,
        abr: Abr,
        *,
        max_buffer: float = 25.0,
        startup: float | None = None,
        abandon: bool = True,
        seeks: Sequence[tuple[float, float]] = (),
        fetch: Fetch | None = None,
        half_lives: Sequence[float] = (3.0, 8.0),
        abandon_to_target: bool = False,
    ) -> None:
        seg = movie.segment_duration
        self.movie = movie
        self.network = network
        self.abr = abr
        self.player = Player(movie, max_buffer, DualEwma(seg, half_lives))
        self.max_buffer = max(max_buffer, seg)
        self.startup_threshold = min(seg if startup is None else max(startup, 1e-9), self.max_buffer)
        self.abandon = abandon
        self.seeks = sorted(seeks)
        self.fetch = fetch
        self.abandon_to_target = abandon_to_target
        self.playing = False
        self.started = False
        self.startup = 0.0
        self.seek_wait = 0.0
        self.clock = 0.0
        self.played: list[tuple[float, int, int]] = []
        self.stalls: list[Stall] = []
        self._stall_now = 0.0  # stall seconds inside the current download
        self.bits = 0.0

    # -- the buffer ---------------------------------------------------------------------------------
    def _play(self, t: float) -> None:
        """Let ``t`` seconds of wall time pass for the viewer."""
        p = self.player
        if not self.playing:
            if self.started:
                self.seek_wait += t
            else:
                self.startup += t
            self.clock += t
            return
        if not p.buffer:
            # the buffer ran dry earlier: this continues that stall unless it ran dry exactly at the end
            # of the last step (no stall was begun then)
            last = self.stalls[-1] if self.stalls else None
            self._stall(t, new=last is None or last.start + last.duration < self.clock - _EPS)
            return
        while t > 0 and p.buffer:
            quality, seconds = p.buffer[0]
            if p.consumed == 0:
                self.played.append((self.clock, self._next_play_index, quality))
                self._next_play_index += 1
            left = seconds - p.consumed
            if t >= left - _EPS:  # segments of uneven length leave rounding dust: no stall made of it
                p.pop()
                self.clock += left
                t = max(t - left, 0.0)
            else:
                p.consumed += t
                self.clock += t
                t = 0.0
        if t > _EPS:
            self._stall(t, new=True)

    def _stall(self, t: float, *, new: bool) -> None:
        if new or not self.stalls:
            self.stalls.append(Stall(self.clock, t))
        else:
            last = self.stalls[-1]
            self.stalls[-1] = Stall(last.start, last.duration + t)
        self._stall_now += t
        self.clock += t

    def _wait(self, t: float) -> None:
        self._play(t)
        self.network.wait(t)

    # -- downloads ----------------------------------------------------------------------------------
    def _download(self, index: int, quality: int, *, abandon: bool) -> Download:
        p = self.player
        size = self.movie.sizes[index][quality]
        if self.fetch is not None:
            size = self.fetch(self.movie.source_index(index), quality)
        self.bits += size
        start = self.network.now
        level = p.buffer_level()
        if not abandon:
            ttfb = self.network.first_bit()
            elapsed = ttfb + self.network.transfer(size)
            return self._record(index, quality, size, size, start, elapsed, ttfb, None, level)
        ttfb = self.network.first_bit()
        elapsed = ttfb
        done = 0.0
        min_s = self.network.min_step_s - ttfb
        while done < size:
            bits, t = self.network.transfer_at_least(size - done, self.network.min_step_bits, min_s)
            done += bits
            elapsed += t
            min_s = self.network.min_step_s
            if done < size:
                progress = Progress(index, quality, size, done, elapsed, ttfb)
                to = self.abr.check_abandon(progress, max(0.0, level - elapsed))
                if to is not None:
                    self.bits -= size - done
                    return self._record(index, quality, size, done, start, elapsed, ttfb, to, level)
        return self._record(index, quality, size, size, start, elapsed, ttfb, None, level)

    def _record(self, index, quality, size, done, start, elapsed, ttfb, to, level) -> Download:
        return Download(index, quality, size, done, start, elapsed, ttfb, to, level, 0.0, self.player.throughput)

    def _finish(self, d: Download) -> Download:
        """Drain the buffer by the download's time, store the segment, tell the algorithm, learn."""
        p = self.player
        self._stall_now = 0.0
        self._play(d.elapsed)
        if not d.abandoned:
            p.push(d.quality, self.movie.durations[d.index])
            if not self.playing and (p.buffer_level() >= self.startup_threshold - 1e-9 or self._last(d.index)):
                self.playing = True
                self.started = True
        d = Download(
            d.index, d.quality, d.size, d.downloaded, d.start, d.elapsed, d.ttfb, d.abandoned_to,
            d.buffer_before, p.buffer_level(), d.estimate, self._stall_now,
        )  # fmt: skip
        p.downloads.append(d)
        self.abr.on_download(d)
        if not d.abandoned:
            p.estimator.push(d.elapsed - d.ttfb, d.throughput, d.ttfb)
        return d

    def _last(self, index: int) -> bool:
        return index == self.movie.segments - 1

    # -- the session --------------------------------------------------------------------------------
    def run(self) -> SessionResult:
        """Play the whole movie; returns what happened."""
        movie, p = self.movie, self.player
        self._next_play_index = 0
        self.abr.start(p)
        self._finish(self._download(0, self.abr.first_quality(), abandon=False))
        index = 1
        retry: int | None = None
        while index < movie.segments:
            if self.seeks and movie.start_of(index) >= self.seeks[0][0] - 1e-9:
                _, to = self.seeks.pop(0)
                index = movie.index_at(to)
                p.clear()
                self._next_play_index = index
                self.playing = False
                self.abr.on_seek(to)
            full = p.buffer_level() + movie.durations[index] - self.max_buffer
            if full > 0:
                self._wait(full)
                self.abr.on_delay(full)
            if retry is not None:
                quality, delay, retry = retry, 0.0, None
            else:
                quality, delay = self.abr.choose(index)
            if delay > 0:
                self._wait(delay)
            d = self._finish(self._download(index, quality, abandon=self.abandon and self.abr.abandons))
            if not d.abandoned:
                index += 1
            elif self.abandon_to_target:
                retry = d.abandoned_to
        self.playing = True
        self._stall_now = 0.0
        self._play(p.buffer_level())
        p.clear()
        return SessionResult(
            movie=movie,
            abr=self.abr.name,
            trace=self.network.trace.name,
            downloads=p.downloads,
            played=self.played,
            stalls=self.stalls,
            startup=self.startup,
            seek_wait=self.seek_wait,
            total_time=self.clock,
            bits_downloaded=self.bits,
        )
