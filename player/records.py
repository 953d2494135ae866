"""The session records an ABR algorithm and the session both read: a download in flight (``Progress``),
a finished or abandoned one (``Download``), a ``Stall``, the player state an algorithm may read
(``Player``) and what a whole session did (``SessionResult``).

They live apart from ``session`` so the ABR interface (``abr.base``) and the session that drives it
need not import each other. Times in seconds, sizes in bits, rates in bit/s.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from player.estimate import DualEwma
from player.movie import Movie

__all__ = ["Download", "Player", "Progress", "SessionResult", "Stall"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A download in flight: ``downloaded`` of ``size`` bits after ``elapsed`` s (``ttfb`` of them waiting)."""

    index: int
    quality: int
    size: float
    downloaded: float
    elapsed: float
    ttfb: float


@dataclass(frozen=True, slots=True)
class Download:
    """A finished or abandoned request; times in s from the session start, sizes in bits."""

    index: int
    quality: int
    size: float
    downloaded: float
    start: float
    elapsed: float
    ttfb: float
    abandoned_to: int | None
    buffer_before: float
    buffer_after: float
    estimate: float | None
    stall: float = 0.0

    @property
    def abandoned(self) -> bool:
        return self.abandoned_to is not None

    @property
    def throughput(self) -> float:
        return self.downloaded / max(self.elapsed - self.ttfb, 1e-9)


@dataclass(frozen=True, slots=True)
class Stall:
    start: float
    duration: float


@dataclass
class SessionResult:
    """What happened: every download, every played segment ``(start, index, quality)``, every stall."""

    movie: Movie
    abr: str
    trace: str
    downloads: list[Download]
    played: list[tuple[float, int, int]]
    stalls: list[Stall]
    startup: float
    seek_wait: float
    total_time: float
    bits_downloaded: float


@dataclass
class Player:
    """The player state an ABR algorithm may read."""

    movie: Movie
    max_buffer: float
    estimator: DualEwma
    buffer: deque[tuple[int, float]] = field(default_factory=deque)  # (rendition, seconds) per segment
    consumed: float = 0.0  # seconds of the head segment already played
    downloads: list[Download] = field(default_factory=list)
    buffered: float = 0.0  # seconds in ``buffer``, kept with it

    def buffer_level(self) -> float:
        return self.buffered - self.consumed

    def push(self, quality: int, seconds: float) -> None:
        self.buffer.append((quality, seconds))
        self.buffered += seconds

    def pop(self) -> None:
        self.buffered -= self.buffer.popleft()[1]
        self.consumed = 0.0
        if not self.buffer:
            self.buffered = 0.0

    def clear(self) -> None:
        self.buffer.clear()
        self.buffered = self.consumed = 0.0

    @property
    def throughput(self) -> float | None:
        return self.estimator.throughput

    @property
    def latency(self) -> float:
        return self.estimator.latency or 0.0

    def quality_for(self, throughput: float) -> int:
        """The highest rendition whose segment, after one latency, arrives within a segment duration at
        ``throughput`` (the lowest when none does)."""
        p = self.movie.segment_duration
        rates = self.movie.bitrates
        q = 0
        while q + 1 < len(rates) and self.latency + p * rates[q + 1] / throughput <= p:
            q += 1
        return q
