"""The live player's playhead: a buffer of media on the program-date-time clock, played at a rate the
catch-up rule sets, sampled every ``tick_s`` of wall time.

Time here is POSIX seconds on both clocks: the wall clock of the session and the media's program date
time, so latency is ``now - position`` (the instant shown now was shot that long ago).

``CatchUp`` follows dash.js's default live catch-up (``CatchupController``,
``liveCatchupModeDefault``; ``streaming.liveCatchup`` settings): the rate is a logistic of the latency's
drift from the target, ``(1 - c) + 2c / (1 + e^(-5 d))`` with ``c`` the largest slow-down
(``playbackRate.min``) when the player is too close and the largest speed-up (``playbackRate.max``) when it
is behind; after the buffer ran dry the rate stays 1 until the buffer holds half the target again; a
change smaller than ``0.02 / (0.5 / max)`` is not made; within ``min_drift`` of the target the rate is 1
(dash.js 3's ``liveCatchUpMinDrift``); with less than ``min_buffer`` buffered it does not speed up
(dash.js's ``playbackBufferMin``, 0.5 s, which its LoL+ mode uses so; hls.js asks for 1 s); past
``max_drift`` the player seeks back to the target (``maxDrift``, 12 s by default in dash.js). dash.js's
default range is 0.5-1.5x; ours is 0.9-1.1x (a change a viewer hardly hears), both settable. hls.js
(``maxLiveSyncPlaybackRate``, latency-controller) only ever speeds up, by a logistic rounded to 0.05.

``Playhead.advance(now)`` plays from the last call to ``now``: it drains the buffer at the rate, steps
over gaps in the media (as the players' gap controllers do), counts a stall whenever the buffer runs dry
while playing, and at every tick records a ``LiveSample`` and lets ``CatchUp`` set the rate for the next.
Nothing happens between two calls that the calls do not decide, so the fetching side may call it late
(after a blocking request) with the same result as a call on every tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from player.live_records import LiveSample
from player.records import Stall

__all__ = ["CatchUp", "Playhead"]

_EPS = 1e-6


@dataclass(frozen=True)
class CatchUp:
    """dash.js's default catch-up rule (see the module docstring); rates as offsets from 1."""

    min_rate: float = -0.1  # playbackRate.min: the largest slow-down
    max_rate: float = 0.1  # playbackRate.max: the largest speed-up
    min_drift: float = 0.02  # seconds of drift that are left alone
    max_drift: float | None = 12.0  # seconds behind the target past which the player seeks
    min_buffer: float = 0.5  # seconds buffered below which it never speeds up (dash.js's playbackBufferMin)

    def rate(self, latency: float, target: float, buffer: float, current: float, recovering: bool) -> float:
        """The rate to play at next, given the latency and buffer (seconds) now."""
        drift = latency - target
        if recovering or abs(drift) <= self.min_drift or (drift > 0 and buffer < self.min_buffer):
            return 1.0
        c = abs(self.min_rate) if drift < 0 else self.max_rate
        new = (1 - c) + 2 * c / (1 + math.exp(-5 * drift))
        smallest = 0.02 / (0.5 / self.max_rate) if self.max_rate > 0 else 0.0
        return current if abs(new - current) < smallest else new


class Playhead:
    """The buffer and the playhead of one live session. ``start`` is the wall time the session began."""

    def __init__(self, start: float, target: float, catch_up: CatchUp, *, resume_s: float, tick_s: float = 0.5):
        self.start = start
        self.target = target
        self.catch_up = catch_up
        self.resume_s = resume_s  # media ahead needed to start, or to go on after a stall
        self.tick_s = tick_s
        self.clock = start  # wall time played up to
        self.next_tick = start + tick_s
        self.units: list[list[float]] = []  # [start, end, quality] of the media ahead, in order
        self.position: float | None = None  # the media instant shown; None until the start position is set
        self.playing = False
        self.started_at: float | None = None  # wall time playback first began
        self.recovering = False  # the buffer ran dry: the rate stays 1 until it holds target / 2
        self.rate = 1.0
        self.stalls: list[Stall] = []
        self.samples: list[LiveSample] = []
        self.played: list[tuple[int, float]] = []  # (quality, media seconds) as shown, in order
        self.quality: int | None = None  # of what is shown now
        self.labels: list[tuple[str, float]] = []  # (rendition name, bit/s) per quality, for the samples
        self.seek_wanted = False
        self.seeking = False  # flushed by a seek, not playing again yet
        self.sync = False  # the start position is still to be moved up to the live edge less the target
        self.sync_since = start
        self.at_edge = False  # set by the fetching side once it waits for media that does not exist yet
        self.waiting = 0.0  # wall seconds spent waiting for media after a seek
        self.last_shown = start  # wall time (about) the last media was shown

    # -- what the fetching side tells it ------------------------------------------------------------
    def begin_at(self, position: float) -> None:
        """Show ``position`` (the live edge less the target when the playlist was read) or later: when
        playback begins, the instant one target behind the wall clock if that much is buffered (the live
        edge estimated with the playlist's age, as hls.js's ``liveSyncPosition`` does)."""
        self.position = position
        self.units = [u for u in self.units if u[1] > position + _EPS]
        self.sync, self.sync_since, self.at_edge = True, self.clock, False

    def push(self, start: float, duration: float, quality: int) -> None:
        """Media ``[start, start + duration)`` of rendition ``quality`` arrived (what overlaps is dropped)."""
        end = start + duration
        if self.units:
            start = max(start, self.units[-1][1])
        if self.position is not None:
            start = max(start, self.position)
        if end > start + _EPS:
            self.units.append([start, end, quality])

    def drain(self) -> None:
        """The stream ended: whatever is buffered plays out, however little, and playback stops there. The
        wait for the end (a stall begun while the last parts were still to come, with nothing shown after
        it) is the stream's end, not a stall."""
        self.resume_s = 0.0
        for _ in range(10_000):
            if (level := self.level()) <= _EPS:
                break
            self.advance(self.clock + level / self.rate)
        if self.stalls and self.start + self.stalls[-1].start >= self.last_shown - _EPS:
            self.stalls.pop()

    def flush(self) -> None:
        """A seek: drop the buffer and wait for media at a new position (not a stall)."""
        self.units.clear()
        self.playing = False
        self.position = None
        self.seek_wanted = False
        self.seeking = True

    def level(self) -> float:
        """Seconds of media ahead of the playhead."""
        pos = self.position if self.position is not None else (self.units[0][0] if self.units else 0.0)
        return sum(max(0.0, u[1] - max(u[0], pos)) for u in self.units)

    # -- playing ------------------------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Play from the last call up to wall time ``now``, sampling on every tick."""
        while self.clock < now - _EPS:
            step = min(now, self.next_tick) - self.clock
            self._play(step)
            self.clock += step
            if self.clock >= self.next_tick - _EPS:
                self._tick()
                self.next_tick += self.tick_s

    def _play(self, seconds: float) -> None:
        if not self.playing:
            if self.position is not None and self.level() >= self.resume_s - _EPS and self._synced():
                if self.sync and self.units:
                    latest = self.units[-1][1] - self.resume_s
                    self.position = max(self.position, min(self.clock - self.target, latest))
                    self.sync = False
                self.playing = True
                self.seeking = False
                self.started_at = self.clock if self.started_at is None else self.started_at
            elif self.started_at is not None and not self.seeking:
                self._stall(seconds, self.clock)
                return
            else:  # starting, or seeking: waiting for media at the new position is not a stall
                self.waiting += seconds if self.started_at is not None else 0.0
                return
        media = seconds * self.rate
        while media > _EPS and self.units:
            u = self.units[0]
            assert self.position is not None
            if self.position < u[0]:
                self.position = u[0]  # a gap in the media: stepped over
            take = min(media, u[1] - self.position)
            if take > 0:
                self._show(int(u[2]), take)
                self.position += take
                media -= take
            if self.position >= u[1] - _EPS:
                self.units.pop(0)
        if media > _EPS:
            # ran dry part way through the step: the rest of it is a stall
            self.playing = False
            self.recovering = True
            left = media / self.rate
            self._stall(left, self.clock + seconds - left, new=True)

    def _synced(self) -> bool:
        """Ready to begin at one target behind the wall clock: that much and ``resume_s`` more is buffered,
        or the fetching side reached the live edge (``at_edge``), or it has tried for a target's time."""
        if not self.sync or not self.units:
            return True
        enough = self.units[-1][1] >= self.clock - self.target + self.resume_s - _EPS
        return enough or self.at_edge or self.clock - self.sync_since >= self.target

    def _show(self, quality: int, media: float) -> None:
        if self.played and self.played[-1][0] == quality:
            self.played[-1] = (quality, self.played[-1][1] + media)
        else:
            self.played.append((quality, media))
        self.quality = quality
        self.last_shown = self.clock

    def _stall(self, seconds: float, at: float, *, new: bool = False) -> None:
        """``seconds`` of wall time from ``at`` with nothing to show (one stall with the one before when
        that one lasted up to ``at``)."""
        last = self.stalls[-1] if self.stalls else None
        if new or last is None or self.start + last.start + last.duration < at - _EPS:
            self.stalls.append(Stall(at - self.start, seconds))
        else:
            self.stalls[-1] = Stall(last.start, last.duration + seconds)

    def _tick(self) -> None:
        now = self.clock
        level = self.level()
        shown = self.position is not None and self.started_at is not None and not self.seeking
        latency = now - self.position if shown else None  # type: ignore[operator]
        if self.recovering and level > self.target / 2:
            self.recovering = False
        if latency is not None and self.playing:
            self.rate = self.catch_up.rate(latency, self.target, level, self.rate, self.recovering)
            drift = self.catch_up.max_drift
            if drift is not None and latency - self.target > drift:
                self.seek_wanted = True
        else:
            self.rate = 1.0  # starting, stalled or seeking: the next rate is chosen once it plays
        name, bps = self.labels[self.quality] if self.quality is not None and self.labels else (None, None)
        state = "playing" if self.playing else "seeking" if self.seeking else "stalled"
        state = state if self.started_at is not None else "starting"
        self.samples.append(
            LiveSample(
                t_s=round(now - self.start, 3),
                latency_s=None if latency is None else round(latency, 4),
                buffer_s=round(level, 4),
                rendition=name,
                bitrate_kbps=None if bps is None else round(bps / 1000, 1),
                rate=round(self.rate, 4),
                state=state,
            )
        )
