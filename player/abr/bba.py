"""BBA-0 (Huang, Johari, McKeown, Trunnell, Watson, SIGCOMM 2014): the rendition follows the buffer.

Below the reservoir the lowest rendition, above reservoir + cushion the highest; in between the rate
map f(B) rises linearly from the lowest to the highest bitrate, and the previous rendition is kept
until f(B) passes the next rendition up (step up to the highest below f(B)) or falls below the next
one down (step down to the lowest above f(B)). Reservoir 5 s and cushion 10 s suit the 25 s buffers
used here (the paper's 90 s / 126 s were for a 240 s buffer).
"""

from __future__ import annotations

from player.abr.base import Abr
from player.records import Player

__all__ = ["Bba"]


class Bba(Abr):
    name = "bba"

    def __init__(self, *, reservoir: float = 5.0, cushion: float = 10.0) -> None:
        self.reservoir = reservoir
        self.cushion = cushion

    def start(self, player: Player) -> None:
        super().start(player)
        self.last = 0

    def rate_map(self, level: float) -> float:
        """f(B): the bitrate the buffer level ``level`` (s) allows."""
        rates = self.movie.bitrates
        if level <= self.reservoir:
            return rates[0]
        if level >= self.reservoir + self.cushion:
            return rates[-1]
        return rates[0] + (rates[-1] - rates[0]) * (level - self.reservoir) / self.cushion

    def choose(self, index: int) -> tuple[int, float]:
        rates = self.movie.bitrates
        level = self.player.buffer_level()
        f = self.rate_map(level)
        prev = self.last
        up = min(prev + 1, len(rates) - 1)
        down = max(prev - 1, 0)
        if level <= self.reservoir:
            q = 0
        elif level >= self.reservoir + self.cushion:
            q = len(rates) - 1
        elif f >= rates[up]:
            q = max(i for i, r in enumerate(rates) if r < f or i == 0)
        elif f <= rates[down]:
            q = min(i for i, r in enumerate(rates) if r > f or i == len(rates) - 1)
        else:
            q = prev
        self.last = q
        return q, 0.0
