"""The upper convex hull of one codec's probe points in (log2 bitrate, VMAF).

A probe point is on the hull when no mix of other encodes gives more quality for its bits. The hull is
what per-title encoding picks rungs from: along it, each stretch is owned by the resolution whose encodes
are best there (low resolutions at low bitrates, the source's size at the top).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ladders.errors import CurveError
from ladders.model import Hull, RDPoint
from vodflow.records import Record

__all__ = ["HullSpan", "hull", "spans"]

# Two bitrates closer than this in log2 (a relative difference of about 1e-9) are the same bitrate.
_SAME_RATE = 1e-9


class HullSpan(Record):
    """A run of consecutive hull points at one resolution: the part of the hull that resolution owns.

    Between two spans lies a transition segment whose ends belong to different resolutions;
    ``ladders.select`` decides a level there by asking each resolution's own encodes.
    """

    width: int
    height: int
    from_kbps: float
    to_kbps: float
    from_vmaf: float
    to_vmaf: float
    points: int

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


def _cross(o: RDPoint, a: RDPoint, b: RDPoint) -> float:
    """Positive when o -> a -> b turns left (a lies below the chord o-b), negative when it turns right."""
    return (a.log_rate - o.log_rate) * (b.vmaf - o.vmaf) - (a.vmaf - o.vmaf) * (b.log_rate - o.log_rate)


def hull(points: Iterable[RDPoint]) -> Hull:
    """Return the upper convex hull of one codec's points in (log2 bitrate, VMAF).

    The hull's points are in ascending bitrate with strictly increasing VMAF, and none of them lies on
    or below the chord between its neighbours. Of several points at the same bitrate only the best
    (highest VMAF; then the smaller frame, then the higher CRF) can be on it. Noise (a point that scores
    less than a cheaper one) simply stays below the hull; everything past the highest-scoring point is
    cut, because spending more bits for less quality is never a choice.

    Raises ``CurveError`` when ``points`` is empty, holds no point with a positive finite bitrate and a
    finite VMAF, or mixes codecs.
    """
    pts = list(points)
    if not pts:
        raise CurveError("a hull needs at least one rate-quality point")
    codecs = sorted({p.codec for p in pts})
    if len(codecs) > 1:
        raise CurveError(f"a hull is per codec, but the points mix {', '.join(codecs)}")
    usable = [p for p in pts if p.bitrate_kbps > 0 and math.isfinite(p.bitrate_kbps) and math.isfinite(p.vmaf)]
    if not usable:
        raise CurveError("no point has a positive, finite bitrate and a finite VMAF")

    usable.sort(key=lambda p: (p.log_rate, -p.vmaf, p.width * p.height, -p.crf))
    distinct: list[RDPoint] = []
    for p in usable:
        # Sorted best-first within a bitrate, so the first of a run of equal bitrates is the one to keep.
        if not distinct or p.log_rate - distinct[-1].log_rate > _SAME_RATE:
            distinct.append(p)

    upper: list[RDPoint] = []
    for p in distinct:
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) >= 0:
            upper.pop()
        upper.append(p)

    # Slopes only fall along an upper hull: once one is flat or negative, the rest are too.
    rising = upper[:1]
    for p in upper[1:]:
        if p.vmaf <= rising[-1].vmaf:
            break
        rising.append(p)
    return Hull(codec=codecs[0], points=rising)


def spans(h: Hull) -> list[HullSpan]:
    """Return the runs of ``h``'s points by resolution, in ascending bitrate (one span per run)."""
    out: list[HullSpan] = []
    run: list[RDPoint] = []
    for p in [*h.points, None]:
        if run and (p is None or (p.width, p.height) != (run[0].width, run[0].height)):
            out.append(
                HullSpan(
                    width=run[0].width,
                    height=run[0].height,
                    from_kbps=run[0].bitrate_kbps,
                    to_kbps=run[-1].bitrate_kbps,
                    from_vmaf=run[0].vmaf,
                    to_vmaf=run[-1].vmaf,
                    points=len(run),
                )
            )
            run = []
        if p is not None:
            run.append(p)
    return out
