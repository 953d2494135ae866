"""How much two rate-quality curves differ in bits: BD-rate, and the two summaries a ladder is judged by.

BD-rate (Bjøntegaard, VCEG-M33) averages the bitrate difference over the quality range both curves
cover. Here it uses piecewise cubic Hermite interpolation (PCHIP) of log rate against quality, as the
JCT-VC/JVET common-test-condition sheets do since JCTVC-L1100, instead of the original cubic
polynomial, which overshoots between points. For a ladder two numbers matter more than that average:
the bits saved at equal quality rung by rung (``savings_per_rung``) and at the top
(``top_saving``), where most of the bytes are served.

Curves are given as ``(kbps, quality)`` pairs, or as anything ``as_pairs`` understands: ``RDPoint``s,
``Rung``s (measured values when present, else predicted), a ``Hull``, or a one-codec ``RDPoints`` or
``Ladder``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ladders.errors import CurveError
from ladders.model import Hull, Ladder, RDPoint, RDPoints, Rung
from vodflow.records import Record

__all__ = ["RungSaving", "TopSaving", "as_pairs", "bd_rate", "savings_per_rung", "top_saving"]


class RungSaving(Record):
    """Bits a candidate needs for one reference rung's quality, against what that rung spends.

    ``saving`` is ``1 - candidate_kbps / reference_kbps`` (0.3 = 30 % fewer bits; negative = more bits).
    Both are None when the candidate never reaches the rung's quality. ``clamped`` means the candidate's
    lowest point already scores above that quality, so ``candidate_kbps`` (that point's bitrate) is an
    upper bound on what it needs and ``saving`` a lower bound.
    """

    reference_kbps: float
    vmaf: float
    candidate_kbps: float | None
    saving: float | None
    clamped: bool = False


class TopSaving(Record):
    """Bits the candidate needs at the top quality against the reference's top rung.

    ``vmaf`` is the quality compared: ``target_vmaf``, or the reference top rung's own VMAF where that
    is lower (a reference that never reaches the target is judged at what it does give).
    ``candidate_kbps`` and ``saving`` are None when the candidate never reaches ``vmaf``;
    ``candidate_top_vmaf`` says how far it got.
    """

    target_vmaf: float
    vmaf: float
    reference_kbps: float
    reference_vmaf: float
    candidate_kbps: float | None
    candidate_top_vmaf: float
    saving: float | None
    clamped: bool = False


def _pair(item: Any) -> tuple[float, float]:
    if isinstance(item, RDPoint):
        return item.bitrate_kbps, item.vmaf
    if isinstance(item, Rung):
        vmaf = item.measured_vmaf if item.measured_vmaf is not None else item.predicted_vmaf
        if vmaf is None:
            raise CurveError(f"rung {item.codec} {item.width}x{item.height} has no VMAF, measured or predicted")
        kbps = item.measured_kbps if item.measured_kbps is not None else item.bitrate_kbps
        return kbps, vmaf
    kbps, quality = item
    return float(kbps), float(quality)


def as_pairs(curve: Any) -> list[tuple[float, float]]:
    """Return ``curve`` as ``(kbps, quality)`` pairs, in the order given.

    Accepts pairs, ``RDPoint``s, ``Rung``s, a ``Hull``, or an ``RDPoints`` / ``Ladder`` of one codec.
    Raises ``CurveError`` for a multi-codec ``RDPoints``/``Ladder``, a rung without any VMAF, or a
    bitrate that is not positive and finite.
    """
    items: Iterable[Any]
    if isinstance(curve, Hull):
        items = curve.points
    elif isinstance(curve, RDPoints | Ladder):
        kind = type(curve).__name__
        codecs = sorted({x.codec for x in (curve.points if isinstance(curve, RDPoints) else curve.rungs)})
        if len(codecs) != 1:
            raise CurveError(f"this {kind} holds {len(codecs)} codecs ({', '.join(codecs)}); pick one")
        items = curve.points if isinstance(curve, RDPoints) else curve.rungs
    else:
        items = curve
    pairs = [_pair(x) for x in items]
    for kbps, quality in pairs:
        if not (kbps > 0 and math.isfinite(kbps)) or not math.isfinite(quality):
            raise CurveError(f"({kbps:g} kb/s, {quality:g}) is not a usable rate-quality point")
    return pairs


def _by_quality(pairs: Sequence[tuple[float, float]], name: str) -> tuple[list[float], list[float]]:
    """Quality (strictly increasing) and natural-log rate; of equal qualities the cheapest point stays."""
    best: dict[float, float] = {}
    for kbps, q in pairs:
        best[q] = min(kbps, best.get(q, math.inf))
    if len(best) < 2:
        raise CurveError(f"BD-rate needs at least 2 points of different quality on curve {name}, not {len(best)}")
    q = sorted(best)
    return q, [math.log(best[x]) for x in q]


def bd_rate(a: Any, b: Any) -> float:
    """Return the Bjøntegaard delta rate of curve ``b`` against curve ``a``, in percent.

    The average bitrate change at equal quality over the quality range both curves cover: -30.0 means
    ``b`` needs 30 % fewer bits than ``a``. Log rate is interpolated against quality with PCHIP and
    integrated exactly over the overlap. Four points a curve is the classic setting; any number from 2
    works (2 points is a straight line in log rate), and the curves need not have as many points each.

    Raises ``CurveError`` when a curve has fewer than 2 distinct qualities or the curves' quality
    ranges do not overlap (the BD-rate is undefined there, and an extrapolated number would be a guess).
    """
    from scipy.interpolate import PchipInterpolator  # imported here: scipy costs 0.3 s at `import ladders`

    qa, ra = _by_quality(as_pairs(a), "a")
    qb, rb = _by_quality(as_pairs(b), "b")
    lo, hi = max(qa[0], qb[0]), min(qa[-1], qb[-1])
    if not hi > lo:
        raise CurveError(
            f"the curves' quality ranges do not overlap ({qa[0]:g}..{qa[-1]:g} against {qb[0]:g}..{qb[-1]:g})"
        )
    area_a = PchipInterpolator(qa, ra).integrate(lo, hi)
    area_b = PchipInterpolator(qb, rb).integrate(lo, hi)
    return float(math.expm1((area_b - area_a) / (hi - lo)) * 100.0)


def _kbps_for(pairs: list[tuple[float, float]], vmaf: float) -> tuple[float | None, bool]:
    """Lowest bitrate at which the curve (linear in log rate between points) reaches ``vmaf``.

    Returns (kbps, clamped): (None, False) when it never does; (lowest point's kbps, True) when even
    the lowest point scores more, since nothing is known below it.
    """
    pts = sorted(pairs)
    if vmaf <= pts[0][1]:
        return pts[0][0], vmaf < pts[0][1]
    for (r0, q0), (r1, q1) in itertools.pairwise(pts):
        if q0 < vmaf <= q1:
            x0, x1 = math.log2(r0), math.log2(r1)
            return 2 ** (x0 + (x1 - x0) * (vmaf - q0) / (q1 - q0)), False
    return None, False


def savings_per_rung(reference: Any, candidate: Any) -> list[RungSaving]:
    """Return, for each reference rung (ascending bitrate), the bits the candidate saves at its quality.

    The candidate's bitrate at a rung's VMAF is interpolated on the candidate's points, linear in log
    rate (as ``Hull`` does), taking the lowest bitrate that reaches it. A rung the candidate never
    reaches gets None, not a guess. Raises ``CurveError`` for an empty curve or unusable points.
    """
    ref, cand = as_pairs(reference), as_pairs(candidate)
    if not ref or not cand:
        raise CurveError("both curves need at least one point")
    out = []
    for kbps, vmaf in sorted(ref):
        need, clamped = _kbps_for(cand, vmaf)
        out.append(
            RungSaving(
                reference_kbps=kbps,
                vmaf=vmaf,
                candidate_kbps=need,
                saving=None if need is None else 1.0 - need / kbps,
                clamped=clamped,
            )
        )
    return out


def top_saving(reference: Any, candidate: Any, target_vmaf: float = 95.0) -> TopSaving:
    """Return the bits the candidate needs at the top quality against the reference's top rung.

    The reference's top rung is its highest-bitrate point; the quality compared is ``target_vmaf`` or
    that rung's VMAF where it is lower. The candidate's bitrate there is interpolated as in
    ``savings_per_rung``. Raises ``CurveError`` for an empty curve or unusable points.
    """
    ref, cand = as_pairs(reference), as_pairs(candidate)
    if not ref or not cand:
        raise CurveError("both curves need at least one point")
    top_kbps, top_vmaf = max(ref)
    vmaf = min(target_vmaf, top_vmaf)
    need, clamped = _kbps_for(cand, vmaf)
    return TopSaving(
        target_vmaf=target_vmaf,
        vmaf=vmaf,
        reference_kbps=top_kbps,
        reference_vmaf=top_vmaf,
        candidate_kbps=need,
        candidate_top_vmaf=max(q for _, q in cand),
        saving=None if need is None else 1.0 - need / top_kbps,
        clamped=clamped,
    )
