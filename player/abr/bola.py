"""BOLA (Spiteri, Urgaonkar, Sitaraman, INFOCOM 2016) and BOLA-E (Spiteri, Sitaraman, Sparacio, MMSys
2018), with the choices of the Sabre reference simulator (gamma*p = 5, utilities ln(b/b_min)).

- ``Bola``: per segment, the rendition maximising (V (u_q + gp) - buffer) / b_q, with V set so the top
  rendition is chosen at the maximum buffer (shrunk near the start and end of the title, BOLA-FINITE);
  never steps up past one above what the throughput supports (BOLA-U); abandons a download when a
  lower rendition scores better on what is left. ``Bola(basic=True)`` is BOLA-BASIC: fixed V, no
  abandonment.
- ``BolaE``: utilities ln(b/b_min) + 1, V and gp chosen so the lowest rendition is kept below 10 s of
  buffer and the top one from 10 s + 2 s per rendition; a *placeholder* buffer (virtual seconds) lets
  it start at the throughput rendition and keeps the effect of waits; the insufficient-buffer rule.
"""

from __future__ import annotations

import math
from enum import Enum

from player.abr.base import Abr
from player.abr.throughput import insufficient_buffer
from player.records import Download, Player, Progress

__all__ = ["Bola", "BolaE"]


def _argmax_score(v: float, gp: float, utilities, bitrates, level: float) -> int:
    best, score = 0, None
    for q, (u, b) in enumerate(zip(utilities, bitrates, strict=True)):
        s = (v * (u + gp) - level) / b
        if score is None or s > score:
            best, score = q, s
    return best


class Bola(Abr):
    name = "bola"
    abandons = True

    def __init__(self, *, gp: float = 5.0, basic: bool = False) -> None:
        self.gp = gp
        self.basic = basic
        if basic:
            self.name = "bola_basic"
            self.abandons = False

    def start(self, player: Player) -> None:
        super().start(player)
        b0 = self.movie.bitrates[0]
        self.utilities = [math.log(b / b0) for b in self.movie.bitrates]
        self.v = (player.max_buffer - self.movie.segment_duration) / (self.utilities[-1] + self.gp)
        self.last_seek_index = 0
        self.last_quality = 0

    def choose(self, index: int) -> tuple[int, float]:
        movie, p = self.movie, self.player
        if not self.basic:
            left = min(index - self.last_seek_index, movie.segments - index)
            horizon = max(left / 2, 3) * movie.segment_duration
            self.v = (min(p.max_buffer, horizon) - movie.segment_duration) / (self.utilities[-1] + self.gp)
        quality = _argmax_score(self.v, self.gp, self.utilities, movie.bitrates, p.buffer_level())
        if quality > self.last_quality:
            quality_t = p.quality_for(p.throughput)
            if quality > quality_t:
                quality = self.last_quality if self.last_quality > quality_t else quality_t + 1
        self.last_quality = quality
        return quality, 0.0

    def on_seek(self, position: float) -> None:
        self.last_seek_index = math.floor(position / self.movie.segment_duration)

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        if self.basic:
            return None
        left = progress.size - progress.downloaded
        if progress.downloaded <= 0 or left <= 0:
            return None
        score = (self.v * (self.gp + self.utilities[progress.quality]) - buffer_level) / left
        if score < 0:
            return None
        rates = self.movie.bitrates
        to = None
        for q in range(progress.quality):
            size = progress.size * rates[q] / rates[progress.quality]
            s = (self.v * (self.gp + self.utilities[q]) - buffer_level) / size
            if size < left and s > score:
                score, to = s, q
        if to is not None:
            self.last_quality = to
        return to


class _State(Enum):
    STARTUP = 1
    STEADY = 2


class BolaE(Abr):
    name = "bolae"
    abandons = True
    minimum_buffer = 10.0
    minimum_buffer_per_level = 2.0
    ibr_floor = 0.5
    ibr_start = 0.9

    def __init__(self, *, insufficient_buffer_rule: bool = True, gp: float = 5.0) -> None:
        self.ibr = insufficient_buffer_rule
        self.config_gp = gp

    def start(self, player: Player) -> None:
        super().start(player)
        movie = self.movie
        offset = 1 - math.log(movie.bitrates[0])
        self.utilities = [math.log(b) + offset for b in movie.bitrates]
        if not self.ibr:
            self.gp = self.config_gp - offset
            self.v = (player.max_buffer - movie.segment_duration) / (self.utilities[-1] + self.gp)
        else:
            buffer = self.minimum_buffer + self.minimum_buffer_per_level * len(movie.bitrates)
            buffer = max(buffer, player.max_buffer)
            self.gp = (self.utilities[-1] - 1) / (buffer / self.minimum_buffer - 1)
            if self.gp <= 0:
                # One rendition: utilities[-1] is 1 and gp 0; every choice is level 0, so any positive
                # gp gives the same decisions with finite scores.
                self.gp = 1.0
            self.v = self.minimum_buffer / self.gp
        self.state = _State.STARTUP
        self.placeholder = 0.0
        self.last_quality = 0
        self.ibr_safety = self.ibr_start

    def _from_buffer(self, level: float) -> int:
        return _argmax_score(self.v, self.gp, self.utilities, self.movie.bitrates, level)

    def min_buffer_for(self, quality: int) -> float:
        """The buffer level above which BOLA prefers ``quality`` to every lower rendition."""
        rates, u = self.movie.bitrates, self.utilities
        level = 0.0
        for q in range(quality):
            if u[q] < u[quality]:
                b, bq = rates[q], rates[quality]
                level = max(level, self.v * (self.gp + (bq * u[q] - b * u[quality]) / (bq - b)))
        return level

    def max_buffer_for(self, quality: int) -> float:
        return self.v * (self.utilities[quality] + self.gp)

    def choose(self, index: int) -> tuple[int, float]:
        p = self.player
        level = p.buffer_level()
        if self.state is _State.STARTUP:
            if p.throughput is None:
                return self.last_quality, 0.0
            self.state = _State.STEADY
            self.ibr_safety = self.ibr_start
            quality = p.quality_for(p.throughput)
            self.placeholder = max(0.0, self.min_buffer_for(quality) - level)
            return quality, 0.0

        quality = self._from_buffer(level + self.placeholder)
        quality_t = p.quality_for(p.throughput)
        if quality > self.last_quality and quality > quality_t:
            quality = max(self.last_quality, quality_t) + 1

        delay = level + self.placeholder - self.max_buffer_for(quality)
        if delay > 0:
            if delay <= self.placeholder:
                self.placeholder -= delay
                delay = 0.0
            else:
                delay -= self.placeholder
                self.placeholder = 0.0
        else:
            delay = 0.0
        if quality == len(self.movie.bitrates) - 1:
            delay = 0.0

        if self.ibr:
            safe_bits = self.ibr_safety * (level - p.latency) * p.throughput
            self.ibr_safety = max(self.ibr_safety * self.ibr_start, self.ibr_floor)
            lowered = insufficient_buffer(self.movie.bitrates, self.movie.segment_duration, quality, safe_bits)
            if lowered != quality:
                quality = lowered
                delay = 0.0
                self.placeholder = min(max(0.0, self.min_buffer_for(quality) - level), self.placeholder)
        return quality, delay

    def on_delay(self, seconds: float) -> None:
        self.placeholder += seconds

    def on_download(self, download: Download) -> None:
        self.last_quality = download.quality
        level = self.player.buffer_level()
        if download.abandoned_to is None:
            # keep the placeholder between what this rendition's choice allows
            level_was = level + download.elapsed
            self.placeholder = min(self.placeholder, max(0.0, self.max_buffer_for(download.quality) - level_was))
            if level > 0:  # never inflate it while rebuffering
                self.placeholder = max(self.placeholder, self.min_buffer_for(download.quality) - level_was)
        else:
            # an abandonment means the estimate was wrong: fall back to a conservative level
            to = download.abandoned_to
            want = self.min_buffer_for(to) if to > 0 else self.minimum_buffer
            self.placeholder = min(self.placeholder, max(0.0, want - level))

    def on_seek(self, position: float) -> None:
        self.state = _State.STARTUP

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        left = progress.size - progress.downloaded
        if progress.downloaded <= 0 or left <= 0:
            return None
        # a new request costs a latency: judge the state as it will be after one
        level = max(0.0, buffer_level + self.placeholder - progress.ttfb)
        tput = progress.downloaded / (progress.elapsed - progress.ttfb)
        remaining = left - progress.ttfb * tput
        if remaining <= 0:
            return None
        rates = self.movie.bitrates
        score = (self.v * (self.gp + self.utilities[progress.quality]) - level) / remaining
        to = None
        for q in range(progress.quality):
            size = progress.size * rates[q] / rates[progress.quality]
            s = (self.v * (self.gp + self.utilities[q]) - level) / size
            # a smaller rest of this download is no reason to switch, whatever the score says
            if size < remaining and s > score:
                score, to = s, q
        return to
