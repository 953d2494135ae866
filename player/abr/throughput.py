"""Throughput rule: the highest rendition that fits the dual-EWMA estimate times a safety factor (0.9),
with dash.js's insufficient-buffer rule (a segment must fit a shrinking share of what the buffer can
cover: 0.9, then x0.9 per segment down to 0.5) and its abandonment rule (after 0.5 s, give up when
the projected total time passes 1.8 segment durations and a lower rendition would be smaller than
what is left)."""

from __future__ import annotations

from player.abr.base import Abr
from player.records import Player, Progress

__all__ = ["ThroughputRule"]


class ThroughputRule(Abr):
    name = "throughput"
    abandons = True
    safety = 0.9
    ibr_floor = 0.5
    ibr_start = 0.9
    abandon_multiplier = 1.8
    abandon_grace_s = 0.5

    def __init__(self, *, insufficient_buffer_rule: bool = True) -> None:
        self.ibr = insufficient_buffer_rule

    def start(self, player: Player) -> None:
        super().start(player)
        self.ibr_safety = self.ibr_start

    def choose(self, index: int) -> tuple[int, float]:
        p = self.player
        tput = p.throughput
        quality = p.quality_for(tput * self.safety)
        if self.ibr:
            safe_bits = self.ibr_safety * (p.buffer_level() - p.latency) * tput
            self.ibr_safety = max(self.ibr_safety * self.ibr_start, self.ibr_floor)
            quality = insufficient_buffer(self.movie.bitrates, self.movie.segment_duration, quality, safe_bits)
        return quality, 0.0

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        moving = progress.elapsed - progress.ttfb
        if progress.elapsed < self.abandon_grace_s or moving <= 0:
            return None
        tput = progress.downloaded / moving
        left = progress.size - progress.downloaded
        if progress.elapsed + left / tput <= self.abandon_multiplier * self.movie.segment_duration:
            return None
        quality = self.player.quality_for(tput * self.safety)
        rates = self.movie.bitrates
        if quality >= progress.quality or progress.size * rates[quality] / rates[progress.quality] >= left:
            return None
        return quality


def insufficient_buffer(bitrates, segment_duration: float, quality: int, safe_bits: float) -> int:
    """The highest rendition up to ``quality`` whose next-higher neighbour's segment still fits
    ``safe_bits`` (dash.js's InsufficientBufferRule as Sabre models it)."""
    for q in range(quality):
        if bitrates[q + 1] * segment_duration > safe_bits:
            return q
    return quality
