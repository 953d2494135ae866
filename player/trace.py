"""Network traces: periods of constant bandwidth and latency, read from files or generated.

Three file formats are read (``load`` picks by content):

- text lines ``time_s throughput_Mbps`` (Pensieve/ABRBench sets): each line's rate holds until the next
  line's time; the last line lasts as long as the interval before it;
- Sabre JSON, a list of ``{"duration_ms", "bandwidth_kbps", "latency_ms"}``;
- Mahimahi packet-delivery files: one millisecond timestamp per line, each a 1500-byte delivery
  opportunity; binned into ``bin_ms`` periods.

Text and Mahimahi traces carry no latency; the caller's per-request ``latency_s`` is used. A trace is
played in a loop when a session outlasts it.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from player.errors import BadTrace

__all__ = ["Period", "Trace", "load", "markov", "steady", "step"]

MAHIMAHI_PACKET_BITS = 1500 * 8


@dataclass(frozen=True, slots=True)
class Period:
    """``duration`` seconds at ``bandwidth`` bit/s, each request waiting ``latency`` seconds first."""

    duration: float
    bandwidth: float
    latency: float


@dataclass(frozen=True)
class Trace:
    """A named list of periods; ``mean_bandwidth`` is time-weighted (bit/s)."""

    name: str
    periods: tuple[Period, ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise BadTrace(f"{self.name}: the trace has no periods")
        if any(p.duration < 0 or p.bandwidth < 0 or p.latency < 0 for p in self.periods):
            raise BadTrace(f"{self.name}: negative duration, bandwidth or latency")
        if not any(p.duration > 0 and p.bandwidth > 0 for p in self.periods):
            raise BadTrace(f"{self.name}: the trace never delivers a bit")

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.periods)

    @property
    def mean_bandwidth(self) -> float:
        return sum(p.duration * p.bandwidth for p in self.periods) / self.duration

    def scaled(self, factor: float) -> Trace:
        """The same trace with every bandwidth multiplied by ``factor``."""
        return Trace(self.name, tuple(Period(p.duration, p.bandwidth * factor, p.latency) for p in self.periods))


def load(path: str | Path, *, latency_s: float = 0.08, bin_ms: int = 100) -> Trace:
    """Read a trace file in any of the three formats. Raises ``BadTrace``."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise BadTrace(f"{path}: cannot read the trace ({e.__class__.__name__})") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        return _sabre(path, text)
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise BadTrace(f"{path}: the trace is empty")
    if all(len(r) == 1 for r in rows):
        return _mahimahi(path, rows, latency_s, bin_ms)
    return _text(path, rows, latency_s)


def _number(path: Path, value: object) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadTrace(f"{path}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise BadTrace(f"{path}: {value!r} is not a finite number")
    return x


def _sabre(path: Path, text: str) -> Trace:
    try:
        items = json.loads(text)
        periods = tuple(
            Period(
                _number(path, p["duration_ms"]) / 1000,
                _number(path, p["bandwidth_kbps"]) * 1000,
                _number(path, p["latency_ms"]) / 1000,
            )
            for p in items
        )
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise BadTrace(f"{path}: not a Sabre trace (list of duration_ms/bandwidth_kbps/latency_ms): {e}") from None
    return Trace(path.name, periods)


def _text(path: Path, rows: list[list[str]], latency_s: float) -> Trace:
    if any(len(r) < 2 for r in rows):
        raise BadTrace(f"{path}: expected lines of 'time_s throughput_Mbps'")
    times = [_number(path, r[0]) for r in rows]
    rates = [_number(path, r[1]) * 1e6 for r in rows]
    if any(b < a for a, b in itertools.pairwise(times)):
        raise BadTrace(f"{path}: times go backwards")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    last = gaps[-1] if gaps and gaps[-1] > 0 else 1.0
    durations = [*gaps, last]
    return Trace(path.name, tuple(Period(d, r, latency_s) for d, r in zip(durations, rates, strict=True)))


def _mahimahi(path: Path, rows: list[list[str]], latency_s: float, bin_ms: int) -> Trace:
    stamps = [_number(path, r[0]) for r in rows]
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise BadTrace(f"{path}: timestamps go backwards")
    end = max(stamps[-1], 1.0)
    bins = [0] * math.ceil(end / bin_ms)
    for t in stamps:
        bins[min(int(t // bin_ms), len(bins) - 1)] += 1
    seconds = bin_ms / 1000
    return Trace(path.name, tuple(Period(seconds, n * MAHIMAHI_PACKET_BITS / seconds, latency_s) for n in bins))


def steady(bandwidth: float, *, duration: float = 60.0, latency_s: float = 0.08, name: str = "steady") -> Trace:
    """One rate (bit/s) for ``duration`` seconds (looped by the player)."""
    return Trace(name, (Period(duration, bandwidth, latency_s),))


def step(steps: Sequence[tuple[float, float]], *, latency_s: float = 0.08, name: str = "step") -> Trace:
    """Successive ``(duration_s, bandwidth_bps)`` steps."""
    return Trace(name, tuple(Period(d, b, latency_s) for d, b in steps))


def markov(
    states: Sequence[float],
    *,
    duration: float = 600.0,
    period: float = 1.0,
    stay: float = 0.9,
    jitter: float = 0.1,
    seed: int = 0,
    latency_s: float = 0.08,
    name: str | None = None,
) -> Trace:
    """A Markov-modulated trace: every ``period`` seconds the state (a mean rate in bit/s) is kept with
    probability ``stay`` or moves to a neighbouring state; within a state each period's rate is the mean
    times a log-normal factor of spread ``jitter``. Deterministic for a given ``seed``."""
    if not states:
        raise BadTrace("markov: at least one state is needed")
    rng = random.Random(seed)
    k = rng.randrange(len(states))
    periods = []
    for _ in range(max(1, round(duration / period))):
        if rng.random() > stay and len(states) > 1:
            k = min(len(states) - 1, max(0, k + rng.choice((-1, 1))))
        rate = states[k] * math.exp(rng.gauss(0.0, jitter) - jitter * jitter / 2)
        periods.append(Period(period, rate, latency_s))
    return Trace(name or f"markov-{seed}", tuple(periods))
