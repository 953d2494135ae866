"""Per-segment VMAF: each rendition scored against the source frame by frame (libvmaf, via
``pipeline.quality.vmaf``), then averaged over the frames of each segment. Players and the ABR
simulator read the result as the package's ``quality.json`` sidecar (``packager.sidecar``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from pipeline.quality import vmaf

__all__ = ["per_segment", "segment_vmaf"]


def per_segment(per_frame: Sequence[float], frame_times: Sequence[float], starts: Sequence[float]) -> list[float]:
    """Mean of the frame scores falling in each segment (``starts`` ascending, seconds). A segment that no
    scored frame falls in (subsampling) takes its predecessor's score."""
    out: list[float] = []
    sums = [0.0] * len(starts)
    counts = [0] * len(starts)
    k = 0
    for t, score in zip(frame_times, per_frame, strict=True):
        while k + 1 < len(starts) and t >= starts[k + 1] - 1e-6:
            k += 1
        sums[k] += score
        counts[k] += 1
    for s, c in zip(sums, counts, strict=True):
        out.append(s / c if c else (out[-1] if out else 0.0))
    return out


def segment_vmaf(
    reference: str | os.PathLike[str],
    distorted: str | os.PathLike[str],
    starts: Sequence[float],
    *,
    frame_rate: float,
    subsample: int = 1,
    show_progress: bool = False,
) -> list[float]:
    """VMAF per segment of ``distorted`` against ``reference``; ``starts`` are the segment start times.
    Raises what ``pipeline.quality.vmaf`` raises."""
    score = vmaf(reference, distorted, subsample=subsample, show_progress=show_progress)
    times = [i * subsample / frame_rate for i in range(len(score.per_frame))]
    return per_segment(score.per_frame, times, starts)
