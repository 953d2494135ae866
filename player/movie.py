"""What an ABR algorithm knows about a title: segment duration, rendition bitrates, every segment's
size per rendition and, when the package has a quality sidecar, every segment's VMAF per rendition.

``Movie`` is built from a Sabre movie description (``load_sabre``) or from a published package's
manifests (``player.manifest``). Units: seconds, bits, bit/s.

``segment_duration`` is the nominal duration (what the algorithms plan with, as dash.js does with a
template's duration); ``durations`` holds every segment's real one, so a title's short last segment
plays, fills the buffer and loops for what it really lasts.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from player.errors import BadMovie

__all__ = ["Movie", "Rendition", "load_sabre"]


@dataclass(frozen=True)
class Rendition:
    """One video rendition as a player sees it (``bandwidth`` is what the manifest announces)."""

    id: str
    bandwidth: float
    width: int = 0
    height: int = 0
    codecs: str = ""
    init_url: str = ""
    segment_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Movie:
    """``sizes[i][q]`` bits of segment ``i`` at rendition ``q``; renditions sorted by ``bitrates``."""

    segment_duration: float
    bitrates: tuple[float, ...]
    sizes: tuple[tuple[float, ...], ...]
    vmaf: tuple[tuple[float, ...], ...] | None = None
    renditions: tuple[Rendition, ...] = field(default=(), repr=False)
    title_segments: int = 0  # segments in the title itself, before any looping
    durations: tuple[float, ...] = ()  # each segment's real duration (default: all ``segment_duration``)
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if self.segment_duration <= 0 or not self.bitrates or not self.sizes:
            raise BadMovie("a movie needs a positive segment duration, bitrates and segments")
        if list(self.bitrates) != sorted(self.bitrates):
            raise BadMovie("bitrates must be in increasing order")
        if any(len(s) != len(self.bitrates) for s in self.sizes):
            raise BadMovie("every segment needs one size per bitrate")
        if self.vmaf is not None and (
            len(self.vmaf) != len(self.sizes) or any(len(v) != len(self.bitrates) for v in self.vmaf)
        ):
            raise BadMovie("the VMAF table must have one score per segment and bitrate")
        if not self.title_segments:
            object.__setattr__(self, "title_segments", len(self.sizes))
        if not self.durations:
            object.__setattr__(self, "durations", (float(self.segment_duration),) * len(self.sizes))
        if len(self.durations) != len(self.sizes) or min(self.durations) <= 0:
            raise BadMovie("every segment needs one positive duration")
        object.__setattr__(self, "_starts", (0.0, *itertools.accumulate(self.durations)))

    @property
    def segments(self) -> int:
        return len(self.sizes)

    @property
    def duration(self) -> float:
        return self._starts[-1]

    def start_of(self, index: int) -> float:
        """Media time at which segment ``index`` starts."""
        return self._starts[index]

    def index_at(self, position: float) -> int:
        """The segment playing at media time ``position`` (clamped to the movie)."""
        return min(max(bisect.bisect_right(self._starts, position + 1e-9) - 1, 0), self.segments - 1)

    def looped(self, seconds: float) -> Movie:
        """This movie repeated (or cut) to the fewest whole segments that last at least ``seconds``, each
        at its real duration: a session longer than the title plays its segments again from the start."""
        n, total = 0, 0.0
        while n == 0 or total < seconds - 1e-9:
            total += self.durations[n % self.segments]
            n += 1
        reps = math.ceil(n / self.segments)
        sizes = (self.sizes * reps)[:n]
        vmaf = None if self.vmaf is None else (self.vmaf * reps)[:n]
        durations = (self.durations * reps)[:n]
        return Movie(self.segment_duration, self.bitrates, sizes, vmaf, self.renditions, self.title_segments, durations)

    def source_index(self, index: int) -> int:
        """The title's own segment that segment ``index`` of a looped session plays."""
        return index % self.title_segments


def load_sabre(path: str | Path) -> Movie:
    """A Sabre movie JSON (``segment_duration_ms``, ``bitrates_kbps``, ``segment_sizes_bits``; an optional
    ``segment_vmaf`` table of the same shape). Raises ``BadMovie``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return from_sabre(data)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise BadMovie(f"{path}: not a Sabre movie description ({e.__class__.__name__}: {e})") from None
    except BadMovie as e:
        raise BadMovie(f"{path}: {e}") from None


def from_sabre(data: dict) -> Movie:
    """A ``Movie`` from a parsed Sabre movie description."""
    vmaf = data.get("segment_vmaf")
    return Movie(
        segment_duration=float(data["segment_duration_ms"]) / 1000,
        bitrates=tuple(float(b) * 1000 for b in data["bitrates_kbps"]),
        sizes=_table(data["segment_sizes_bits"]),
        vmaf=None if vmaf is None else _table(vmaf),
    )


def _table(rows: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(x) for x in row) for row in rows)
