"""Robust MPC (Yin, Jindal, Sekar, Sinopoli, SIGCOMM 2015) and our quality-aware variant.

Both look ``horizon`` (5) segments ahead: every sequence of renditions is simulated against a
bandwidth prediction (harmonic mean of the last 5 download throughputs, divided by 1 + the largest
relative prediction error of the last 5: the *robust* lower bound), with each segment's real size,
the latency estimate and the buffer cap, and the first rendition of the best sequence is fetched.

- ``RobustMpc`` maximises Pensieve's QoE_lin: Σ R (Mb/s) − 4.3 Σ stall (s) − Σ |ΔR|.
- ``QualityAware`` maximises delivered VMAF from the per-segment sidecar: Σ VMAF − 1 × Σ |ΔVMAF| −
  ``stall_penalty`` × Σ stall − a penalty for ending the horizon under ``safe_buffer`` seconds (VMAF
  saturates, so spending bits on the top renditions buys little while a stall costs a lot); of two
  equal scores the cheaper wins (1 VMAF point ≙ 100 Mb/s). Without a sidecar it falls back to a log-bitrate utility
  scaled to 0-100.

All sequences are evaluated at once with numpy (5 renditions: 3 125 sequences per decision).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from functools import cache

import numpy as np

from origin.player.abr.base import Abr
from origin.player.session import Download, Player

__all__ = ["QualityAware", "RobustMpc"]


@cache
def _sequences(renditions: int, horizon: int) -> np.ndarray:
    return np.array(list(itertools.product(range(renditions), repeat=horizon)), dtype=np.intp)


class _Lookahead(Abr):
    horizon = 5
    past = 5

    def start(self, player: Player) -> None:
        super().start(player)
        self.last_quality = 0
        self.errors: deque[float] = deque(maxlen=self.past)
        self.samples: deque[float] = deque(maxlen=self.past)
        self.prediction: float | None = None

    def on_download(self, download: Download) -> None:
        if download.abandoned:
            return
        actual = download.throughput
        if self.prediction is not None:
            self.errors.append(abs(self.prediction - actual) / actual)
        self.samples.append(actual)
        self.last_quality = download.quality

    def predict(self) -> float | None:
        """The robust bandwidth prediction (bit/s), or ``None`` before the first download."""
        if not self.samples:
            return None
        harmonic = len(self.samples) / sum(1 / s for s in self.samples)
        self.prediction = harmonic
        return harmonic / (1 + (max(self.errors) if self.errors else 0.0))

    def utility(self, index: int, h: int) -> np.ndarray:
        raise NotImplementedError

    def score(self, utilities: np.ndarray, changes: np.ndarray, stall: np.ndarray, end_buffer: np.ndarray):
        raise NotImplementedError

    def choose(self, index: int) -> tuple[int, float]:
        bw = self.predict()
        if bw is None:
            return 0, 0.0
        movie, p = self.movie, self.player
        h = min(self.horizon, movie.segments - index)
        seqs = _sequences(len(movie.bitrates), h)
        sizes = np.asarray(movie.sizes[index : index + h], dtype=float)
        util = self.utility(index, h)
        level = np.full(len(seqs), p.buffer_level())
        stall = np.zeros(len(seqs))
        changes = np.zeros(len(seqs))
        total = np.zeros(len(seqs))
        prev = np.full(len(seqs), self._prev_utility(index))
        for k in range(h):
            q = seqs[:, k]
            t = sizes[k][q] / bw + p.latency
            stall += np.maximum(t - level, 0.0)
            level = np.minimum(np.maximum(level - t, 0.0) + movie.segment_duration, p.max_buffer)
            u = util[k][q]
            total += u
            changes += np.abs(u - prev)
            prev = u
        best = int(np.argmax(self.score(total, changes, stall, level)))
        return int(seqs[best, 0]), 0.0

    def _prev_utility(self, index: int) -> float:
        return float(self.utility(max(index - 1, 0), 1)[0][self.last_quality])


class RobustMpc(_Lookahead):
    name = "mpc"
    rebuffer_penalty = 4.3

    def utility(self, index: int, h: int) -> np.ndarray:
        return np.tile(np.asarray(self.movie.bitrates) / 1e6, (h, 1))

    def score(self, utilities, changes, stall, end_buffer):
        return utilities - changes - self.rebuffer_penalty * stall


class QualityAware(_Lookahead):
    name = "quality"

    def __init__(self, *, stall_penalty: float = 200.0, switch_penalty: float = 1.0, safe_buffer: float = 8.0) -> None:
        self.stall_penalty = stall_penalty
        self.switch_penalty = switch_penalty
        self.safe_buffer = safe_buffer

    def start(self, player: Player) -> None:
        super().start(player)
        rates = player.movie.bitrates
        span = math.log(rates[-1] / rates[0]) or 1.0
        self._proxy = np.array([100 * math.log(r / rates[0]) / span for r in rates])

    def utility(self, index: int, h: int) -> np.ndarray:
        vmaf = self.movie.vmaf
        if vmaf is None:
            return np.tile(self._proxy, (h, 1))
        return np.asarray(vmaf[index : index + h], dtype=float) - np.asarray(self.movie.bitrates) / 1e8

    def score(self, utilities, changes, stall, end_buffer):
        short = np.maximum(self.safe_buffer - end_buffer, 0.0)
        return utilities - self.switch_penalty * changes - self.stall_penalty * stall - 10.0 * short
