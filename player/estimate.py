"""Throughput and latency estimates from finished downloads: two EWMAs each, the conservative one wins.

Throughput EWMAs are weighted by download time (half-lives 3 s and 8 s by default, the lower estimate
is used, as dash.js and Sabre do); latency EWMAs by request count (half-lives in segments, the same
seconds divided by the segment duration; the higher estimate is used). Both are corrected for their
zero start, so the first sample is taken as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["DualEwma"]


class DualEwma:
    """``throughput`` (bit/s) and ``latency`` (s), ``None`` until the first ``push``."""

    def __init__(self, segment_duration: float, half_lives: Sequence[float] = (3.0, 8.0)) -> None:
        self.half_lives = tuple(half_lives)
        self._latency_half_lives = tuple(h / segment_duration for h in self.half_lives)
        self._tput = [0.0] * len(self.half_lives)
        self._lat = [0.0] * len(self.half_lives)
        self._tput_weight = 0.0
        self._lat_weight = 0.0
        self.throughput: float | None = None
        self.latency: float | None = None

    def push(self, seconds: float, throughput: float, latency: float) -> None:
        """Add one download that moved its bits at ``throughput`` over ``seconds`` after ``latency``."""
        for i, (h, hl) in enumerate(zip(self.half_lives, self._latency_half_lives, strict=True)):
            a = math.pow(0.5, seconds / h)
            self._tput[i] = a * self._tput[i] + (1 - a) * throughput
            a = math.pow(0.5, 1 / hl)
            self._lat[i] = a * self._lat[i] + (1 - a) * latency
        self._tput_weight += seconds
        self._lat_weight += 1
        self.throughput = min(
            t / (1 - math.pow(0.5, self._tput_weight / h)) for t, h in zip(self._tput, self.half_lives, strict=True)
        )
        self.latency = max(
            x / (1 - math.pow(0.5, self._lat_weight / h))
            for x, h in zip(self._lat, self._latency_half_lives, strict=True)
        )
