"""Robust MPC (Yin, Jindal, Sekar, Sinopoli, SIGCOMM 2015) and our quality-aware variant.

Both look ``horizon`` (5) segments ahead: every sequence of renditions is simulated against a
bandwidth prediction (harmonic mean of the last 5 download throughputs, divided by 1 + the largest
relative prediction error of the last 5: the *robust* lower bound), with each segment's real size,
the latency estimate and the buffer cap, and the first rendition of the best sequence is fetched.

- ``RobustMpc`` maximises Pensieve's QoE_lin: Σ R (Mb/s) − 4.3 Σ stall (s) − Σ |ΔR|.
- ``QualityAware`` maximises delivered VMAF from the per-segment sidecar under a throughput
  uncertainty model (see its docstring).

All sequences are evaluated at once with numpy (5 renditions: 3 125 sequences per decision).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from functools import cache

import numpy as np

from player.abr.base import Abr
from player.records import Download, Player, Progress

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
        lengths = movie.durations[index : index + h]
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
            level = np.minimum(np.maximum(level - t, 0.0) + lengths[k], p.max_buffer)
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


class QualityAware(Abr):
    """Maximise delivered VMAF (the sidecar) without stalls: a look-ahead over plans with a
    throughput-uncertainty model and buffer-aware risk control.

    - Plans: over the next ``horizon`` segments, rendition ``a`` for the first ``k`` then ``b`` for
      the rest (every ``a``, ``b``, ``k``): the shapes robust MPC's optimum nearly always takes, at
      ~1/60 of its cost with 6 renditions.
    - Uncertainty: the last ``past`` downloads give ratios actual / predicted throughput (predicted =
      harmonic mean of the samples before each); each ratio times the current prediction is one
      scenario. A plan's stall seconds and end buffer are computed under every scenario; the plan is
      scored by the mean of its utility minus ``stall_penalty`` × stall and ``buffer_penalty`` × the
      seconds its end buffer falls short of ``safe_buffer``, plus ``worst_weight`` × the worst
      scenario's penalty (so a plan that stalls in one plausible future pays for it).
    - Utility: each segment's VMAF at the chosen rendition (duration-weighted, so a short segment is
      worth less), minus ``switch_penalty`` × |ΔVMAF|, minus ``bit_cost`` VMAF points per Mb/s of
      the segment, so a rung that buys little VMAF for its bits is not taken just because there is
      room. Without a sidecar, VMAF is replaced by a log-bitrate proxy on 0-100.
    - Abandonment: a download that at its current rate would finish after the buffer runs dry is
      abandoned for the highest lower rendition whose whole segment would arrive in time.

    Parameters were tuned on the training subset of ``bench.abr`` (``--tune``), never on the traces
    reported beside it.
    """

    name = "quality"
    abandons = True
    horizon = 5
    past = 8

    def __init__(
        self,
        *,
        stall_penalty: float = 200.0,
        switch_penalty: float = 0.5,
        safe_buffer: float = 6.0,
        buffer_penalty: float = 2.0,
        worst_weight: float = 0.5,
        bit_cost: float = 0.0,
    ) -> None:
        self.stall_penalty = stall_penalty
        self.switch_penalty = switch_penalty
        self.safe_buffer = safe_buffer
        self.buffer_penalty = buffer_penalty
        self.worst_weight = worst_weight
        self.bit_cost = bit_cost

    def start(self, player: Player) -> None:
        super().start(player)
        m = player.movie
        rates = np.asarray(m.bitrates, dtype=float)
        if m.vmaf is not None:
            self._vmaf = np.asarray(m.vmaf, dtype=float)
        else:
            span = math.log(rates[-1] / rates[0]) or 1.0
            self._vmaf = np.tile(100 * np.log(rates / rates[0]) / span, (m.segments, 1))
        self._sizes = np.asarray(m.sizes, dtype=float)
        self._lengths = np.asarray(m.durations, dtype=float)
        self._plans: dict[int, np.ndarray] = {}
        self.samples: deque[float] = deque(maxlen=self.past)
        self.ratios: deque[float] = deque(maxlen=self.past)
        self.last_quality = 0

    def _plans_for(self, h: int) -> np.ndarray:
        if h not in self._plans:
            n = len(self.movie.bitrates)
            plans = {tuple([a] * k + [b] * (h - k)) for a in range(n) for b in range(n) for k in range(1, h + 1)}
            self._plans[h] = np.array(sorted(plans), dtype=np.intp)
        return self._plans[h]

    def _harmonic(self) -> float:
        return len(self.samples) / sum(1 / x for x in self.samples)

    def on_download(self, download: Download) -> None:
        if download.abandoned:
            self.ratios.append(min(1.0, download.throughput / self._harmonic()) if self.samples else 1.0)
            return
        actual = download.throughput
        if self.samples:
            self.ratios.append(actual / self._harmonic())
        self.samples.append(actual)
        self.last_quality = download.quality

    def choose(self, index: int) -> tuple[int, float]:
        if not self.samples:
            return 0, 0.0
        p = self.player
        h = min(self.horizon, self.movie.segments - index)
        plans = self._plans_for(h)  # (P, h)
        scen = self._harmonic() * np.asarray(self.ratios or [1.0])[:, None]  # (S, 1)
        lengths = self._lengths[index : index + h]
        level = np.full((len(scen), len(plans)), p.buffer_level())
        stall = np.zeros_like(level)
        util = np.zeros(len(plans))
        prev = self._vmaf[max(index - 1, 0), self.last_quality]
        for k in range(h):
            q = plans[:, k]
            v = self._vmaf[index + k, q]
            util += (v - self.bit_cost * self._sizes[index + k, q] / 1e6) * lengths[k] / self.movie.segment_duration
            util -= self.switch_penalty * np.abs(v - prev)
            prev = v
            t = self._sizes[index + k, q][None, :] / scen + p.latency
            stall += np.maximum(t - level, 0.0)
            level = np.minimum(np.maximum(level - t, 0.0) + lengths[k], p.max_buffer)
        risk = self.stall_penalty * stall + self.buffer_penalty * np.maximum(self.safe_buffer - level, 0.0)
        score = util - risk.mean(axis=0) - self.worst_weight * risk.max(axis=0)
        return int(plans[int(np.argmax(score)), 0]), 0.0

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        if progress.quality == 0 or progress.downloaded <= 0:
            return None
        tput = progress.downloaded / max(progress.elapsed - progress.ttfb, 1e-9)
        left = progress.size - progress.downloaded
        if left / tput <= buffer_level:
            return None
        rates = self.movie.bitrates
        for q in range(progress.quality - 1, -1, -1):
            size = progress.size * rates[q] / rates[progress.quality]
            if self.player.latency + size / tput <= buffer_level and size < left:
                return q
        return None
