"""Choosing a title's rungs from its hulls (``select``).

Per codec, from that codec's probe points:

1. **Top rung** at ``policy.target_vmaf``. When the hull never gets there (the analysis never probes
   above the source's size, so the hull's top is the most the source can give), the top goes to the
   hull's *knee*: the first hull point after which one more doubling of bitrate buys less than
   ``KNEE_VMAF_PER_DOUBLING`` (1 VMAF point, about a sixth of a just-noticeable difference), i.e. where
   the slope of the next hull segment drops below it. Past the knee, bits buy differences nobody sees;
   before it, a viewer on a good link would still see the gain. When no segment is that flat (the probes
   end while quality still climbs), the top is the hull's last point: nothing above it is known. Either
   way the top rung is a probed encode, and never above the hull's highest point.
2. **Bottom rung** at ``policy.min_kbps``, or at the quality floor ``policy.min_vmaf`` when that needs
   more bits; at the hull's lowest point when the hull starts above both. When the top is less than
   ``min_ratio`` above the bottom, the ladder is the top rung alone.
3. **Rungs in between**, from the top down: each one ``vmaf_step`` below the one above, its bitrate
   then clamped so the ratio to the rung above stays within [``min_ratio``, ``max_ratio``] and the
   rung stays at least ``min_ratio`` above the bottom (a rung too close is moved down, a gap too wide
   gets a rung at ``max_ratio``). Rungs stop when the bottom is within ``max_ratio``. Two exceptions,
   both unavoidable: a gap between ``max_ratio`` and ``min_ratio``² (2 to 2.25 by default) cannot be
   cut into two legal gaps, so it is cut at its geometric middle (ratios of 1.41 to 1.5); and when the
   span from top to bottom needs more than ``max_rungs`` rungs, the rungs between are spread evenly in
   log rate and the ratios exceed ``max_ratio`` (top and bottom are both policy, so neither moves).
4. **Which resolution, which CRF**: the hull says which resolutions can own a level (the resolutions of
   the hull points around it; where two meet, the one whose own encodes need fewer bits for that
   quality, or give more quality for that bitrate, wins). The CRF comes from that resolution's own
   points (same codec, same size, by CRF: CRF against VMAF and against log rate, linear between the two
   neighbouring probe CRFs); predicted VMAF and bitrate are that interpolation at the final CRF. The
   top (and a bottom at the quality floor) is solved for its VMAF; the bottom at ``min_kbps`` and the
   rungs between are solved for the bitrate planned on the hull, because the ratio rule is the one a
   player's switching depends on (their VMAF is then the resolution's own, at most a little below the
   hull's, so a VMAF step can come out a little larger than planned). SVT-AV1 and VP9 CRFs are whole
   numbers, x264/x265 keep one decimal. Top and bottom round towards quality (so the top meets its
   target and the bottom is not below its floor); rungs between take whichever neighbouring CRF keeps
   the bitrate ratios legal, else the nearer one.
5. **Rate control** is capped CRF: maxrate = round(``maxrate_ratio_for(codec)`` x predicted kb/s), bufsize =
   round(``bufsize_ratio`` x maxrate), so a manifest's bandwidth is a bound the encoder keeps.
6. **Codecs**: a ladder per codec from its own hull; a rung of a newer codec (HEVC, AV1, VP9) is
   dropped when its predicted VMAF does not beat the H.264 hull at its bitrate by more than
   ``policy.codec_gain_vmaf`` (compared with ``Hull.vmaf_at``, which holds the hull's end values
   outside its range: below H.264's lowest probe that is a bound H.264 would not exceed, so a rung kept
   there beats it for certain). Other codecs therefore need H.264 points.

Probe noise: a resolution's VMAF and bitrate are made non-increasing in CRF (pool-adjacent-violators
averaging) before anything is interpolated, so a noisy probe cannot make a CRF ambiguous, and the hull
rungs are placed on is built from these cleaned curves, so hull and curves agree.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ladders.hull import hull
from ladders.model import Hull, Ladder, LadderPolicy, RDPoint, RDPoints, Rung
from pipeline.codecs import CODECS, CRF_MAX, CRF_STEP, Codec
from pipeline.renditions import RateControl
from vodflow.errors import UsageError

__all__ = ["KNEE_VMAF_PER_DOUBLING", "select"]

log = logging.getLogger(__name__)

KNEE_VMAF_PER_DOUBLING = 1.0
# Bitrates within this factor count as equal when checking that rungs still move down the hull.
_SAME_KBPS = 1.01


def _decreasing(values: Sequence[float]) -> list[float]:
    """The closest non-increasing sequence in least squares (pool adjacent violators)."""
    blocks: list[tuple[float, int]] = []  # (mean, count)
    for v in values:
        blocks.append((v, 1))
        while len(blocks) >= 2 and blocks[-2][0] < blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append(((m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2))
    return [m for m, n in blocks for _ in range(n)]


def _interp(x: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Piecewise-linear y(x) through (xs, ys), xs increasing, held at the end values outside."""
    if x <= xs[0]:
        return ys[0]
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def _solve(target: float, xs: Sequence[float], ys: Sequence[float]) -> float:
    """Largest x at which the non-increasing piecewise-linear y(x) still reaches ``target`` (clamped)."""
    if target > ys[0]:
        return xs[0]
    for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:], strict=False):
        if y1 < target <= y0:
            return x0 + (x1 - x0) * (y0 - target) / (y0 - y1)
    return xs[-1]


class _Resolution:
    """One resolution's own probe points of one codec: VMAF and log rate as functions of CRF."""

    def __init__(self, points: list[RDPoint]) -> None:
        self.width, self.height = points[0].width, points[0].height
        by_crf: dict[float, list[RDPoint]] = {}
        for p in points:
            by_crf.setdefault(p.crf, []).append(p)
        self.crfs = sorted(by_crf)
        self.vmaf = _decreasing([sum(p.vmaf for p in by_crf[c]) / len(by_crf[c]) for c in self.crfs])
        self.log_rate = _decreasing([sum(p.log_rate for p in by_crf[c]) / len(by_crf[c]) for c in self.crfs])

    def vmaf_at(self, crf: float) -> float:
        return _interp(crf, self.crfs, self.vmaf)

    def kbps_at(self, crf: float) -> float:
        return 2 ** _interp(crf, self.crfs, self.log_rate)

    def crf_for_vmaf(self, vmaf: float) -> float:
        return _solve(vmaf, self.crfs, self.vmaf)

    def crf_for_kbps(self, kbps: float) -> float:
        return _solve(math.log2(kbps), self.crfs, self.log_rate)


@dataclass(frozen=True)
class _Placed:
    """A rung before it becomes a record: where, at which encoder CRF, and what it is predicted to give."""

    res: _Resolution
    crf: float
    vmaf: float
    kbps: float


_Chooser = Callable[[list[_Placed], float], _Placed]


def _nearest(options: list[_Placed], exact_crf: float) -> _Placed:
    return min(options, key=lambda p: (abs(p.crf - exact_crf), p.crf))


def _best_quality(options: list[_Placed], exact_crf: float) -> _Placed:
    return options[0]  # options come in ascending CRF: the first is the highest quality


class _CodecCurves:
    """A codec's hull and its resolutions' own curves: everything a rung is placed with."""

    def __init__(self, codec: Codec, points: list[RDPoint]) -> None:
        self.codec = codec
        groups: dict[tuple[int, int], list[RDPoint]] = {}
        for p in points:
            if p.bitrate_kbps > 0 and math.isfinite(p.bitrate_kbps) and math.isfinite(p.vmaf):
                groups.setdefault((p.width, p.height), []).append(p)
        self.resolutions = {size: _Resolution(pts) for size, pts in groups.items()}
        # The hull is built from the cleaned curves, so it and the curves rungs are read from agree.
        self.hull: Hull = hull(
            next(p for p in groups[size] if p.crf == crf).model_copy(update={"vmaf": v, "bitrate_kbps": 2**lr})
            for size, res in self.resolutions.items()
            for crf, v, lr in zip(res.crfs, res.vmaf, res.log_rate, strict=True)
        )

    def _owners(self, kbps: float) -> list[_Resolution]:
        """Resolutions of the hull points around ``kbps``: one at a hull point or beyond an end, else two."""
        pts = self.hull.points
        x = math.log2(kbps)
        if x <= pts[0].log_rate:
            near = [pts[0]]
        elif x >= pts[-1].log_rate:
            near = [pts[-1]]
        else:
            a, b = next((a, b) for a, b in itertools.pairwise(pts) if x <= b.log_rate)
            near = [b] if x == b.log_rate else [a, b]
        return list({(p.width, p.height): self.resolutions[(p.width, p.height)] for p in near}.values())

    def _legal_crfs(self, res: _Resolution, crf: float) -> list[float]:
        """The encoder-legal CRFs either side of ``crf`` inside the resolution's probed range, ascending."""
        step = CRF_STEP[self.codec]
        lo_bound = max(0.0, math.ceil(res.crfs[0] / step - 1e-9) * step)
        hi_bound = min(CRF_MAX[self.codec], math.floor(res.crfs[-1] / step + 1e-9) * step)
        if lo_bound > hi_bound:  # no legal CRF was probed (one probe at 30.5): the nearest legal one
            lo_bound = hi_bound = min(max(round(crf / step) * step, 0.0), CRF_MAX[self.codec])
        near = (math.floor(crf / step + 1e-9) * step, math.ceil(crf / step - 1e-9) * step)
        return sorted({round(min(max(c, lo_bound), hi_bound), 1) for c in near})

    def place(self, choose: _Chooser, *, vmaf: float | None = None, kbps: float | None = None) -> _Placed:
        """A rung at a quality (the owner needing the fewest bits wins) or a bitrate (the best quality wins)."""
        if vmaf is not None:
            at = self.hull.kbps_at(vmaf)
            at = self.hull.points[-1].bitrate_kbps if at is None else at
        else:
            assert kbps is not None
            at = kbps
        best: tuple[tuple[float, float], _Resolution, float] | None = None
        for res in self._owners(at):
            if vmaf is not None:
                crf = res.crf_for_vmaf(vmaf)
                got = res.vmaf_at(crf)
                # One that cannot reach the quality ranks after any that can, by its shortfall.
                score = (0.0, res.kbps_at(crf)) if got >= vmaf - 1e-9 else (1.0, vmaf - got)
            else:
                assert kbps is not None
                crf = res.crf_for_kbps(kbps)
                # One whose probes do not reach down (or up) to the bitrate ranks after any that can.
                miss = abs(math.log2(res.kbps_at(crf) / kbps))
                score = (0.0, -res.vmaf_at(crf)) if miss < 1e-6 else (1.0, miss)
            if best is None or score < best[0]:
                best = (score, res, crf)
        assert best is not None
        _, res, crf = best
        options = [_Placed(res, c, res.vmaf_at(c), res.kbps_at(c)) for c in self._legal_crfs(res, crf)]
        return choose(options, crf)


def _knee(h: Hull, per_doubling: float = KNEE_VMAF_PER_DOUBLING) -> RDPoint:
    """The first hull point after which a doubling of bitrate buys less than ``per_doubling`` VMAF.

    The hull is concave in log2 rate, so its segments' slopes (VMAF per doubling) only fall: the knee
    is where they first drop below ``per_doubling``; the hull's top when none does (the probes end
    while quality still climbs, and nothing above them is known).
    """
    for a, b in itertools.pairwise(h.points):
        if (b.vmaf - a.vmaf) / (b.log_rate - a.log_rate) < per_doubling:
            return a
    return h.points[-1]


def _violation(ratio: float, low: float, high: float) -> float:
    """How far (in log2) a bitrate ratio lies outside [low, high]; 0 inside."""
    return max(0.0, math.log2(low / ratio), math.log2(ratio / high) if high < math.inf else 0.0)


def _codec_ladder(curves: _CodecCurves, policy: LadderPolicy) -> list[_Placed]:
    """One codec's rungs, highest first."""
    h = curves.hull
    lo_r, hi_r = policy.min_ratio, policy.max_ratio
    if h.points[-1].vmaf >= policy.target_vmaf:
        top = curves.place(_best_quality, vmaf=policy.target_vmaf)
    else:
        top = curves.place(_best_quality, vmaf=_knee(h).vmaf)
    if policy.max_rungs == 1:
        return [top]

    bottom_kbps = max(policy.min_kbps, h.points[0].bitrate_kbps)
    floor_kbps = h.kbps_at(policy.min_vmaf) if policy.min_vmaf is not None else 0.0
    if floor_kbps is None or floor_kbps >= top.kbps:
        return [top]  # the quality floor is at or above the top: one rung is the whole ladder
    if floor_kbps > bottom_kbps:
        bottom = curves.place(_best_quality, vmaf=policy.min_vmaf)
    else:
        bottom = curves.place(_best_quality, kbps=bottom_kbps)
    if top.kbps / bottom.kbps < lo_r:
        return [top]

    def between(want: float, above: _Placed) -> _Placed:
        """A rung near ``want`` kb/s, at the CRF that keeps its ratios to ``above`` and the bottom legal."""

        def choose(options: list[_Placed], exact_crf: float) -> _Placed:
            def cost(p: _Placed) -> tuple[float, float]:
                bad = _violation(above.kbps / p.kbps, lo_r, hi_r) + _violation(p.kbps / bottom.kbps, lo_r, math.inf)
                return bad, abs(math.log2(p.kbps / want))

            return min(options, key=cost)

        return curves.place(choose, kbps=want)

    rungs = [top]
    while rungs[-1].kbps / bottom.kbps > hi_r:
        above = rungs[-1]
        low = max(above.kbps / hi_r, bottom.kbps * lo_r)
        high = above.kbps / lo_r
        if low > high:  # a gap in (max_ratio, min_ratio²): no legal cut, so cut it in the middle
            want = math.sqrt(above.kbps * bottom.kbps)
        else:
            by_step = h.kbps_at(above.vmaf - policy.vmaf_step) or h.points[0].bitrate_kbps
            want = min(max(by_step, low), high)
        rung = between(want, above)
        if rung.kbps * _SAME_KBPS >= above.kbps or rung.kbps <= bottom.kbps * _SAME_KBPS:
            break  # the probes end here: nothing between can be placed
        rungs.append(rung)
    rungs.append(bottom)

    if len(rungs) > policy.max_rungs:
        # Too wide a span for max_rungs rungs at legal ratios: keep top and bottom, spread the rest evenly.
        n = policy.max_rungs
        span = bottom.kbps / top.kbps
        rungs = [top]
        for k in range(1, n - 1):
            rungs.append(curves.place(_nearest, kbps=top.kbps * span ** (k / (n - 1))))
        rungs.append(bottom)

    distinct = [rungs[0]]
    for r in rungs[1:]:
        if r.kbps * _SAME_KBPS < distinct[-1].kbps:
            distinct.append(r)
    return distinct


def _rung(codec: Codec, p: _Placed, policy: LadderPolicy) -> Rung:
    maxrate = max(1, round(policy.maxrate_ratio_for(codec) * p.kbps))
    return Rung(
        codec=codec,
        width=p.res.width,
        height=p.res.height,
        rate=RateControl(
            mode="capped_crf",
            crf=p.crf,
            maxrate_kbps=maxrate,
            bufsize_kbits=max(1, round(policy.bufsize_ratio * maxrate)),
        ),
        bitrate_kbps=p.kbps,
        predicted_vmaf=p.vmaf,
    )


def select(points: RDPoints, policy: LadderPolicy | None = None, *, codecs: Sequence[Codec] | None = None) -> Ladder:
    """Return the per-title ladder chosen from ``points``' hulls (the rules are in the module docstring).

    ``codecs`` defaults to every codec with points, H.264 first. Rungs come grouped by codec in that
    order, each codec's in ascending bitrate, with capped-CRF rate control and predicted VMAF.

    Raises ``UsageError`` when a codec asked for has no points, or a codec other than H.264 is asked for
    without H.264 points to compare it with; ``CurveError`` (from ``hull``) when a codec's points hold no
    usable point.
    """
    policy = policy or LadderPolicy()
    present = {p.codec for p in points.points}
    wanted = [c for c in CODECS if c in present] if codecs is None else list(dict.fromkeys(codecs))
    if not wanted:
        raise UsageError(f"{points.source}: no rate-quality points to choose a ladder from")
    missing = [c for c in wanted if c not in present]
    if missing:
        raise UsageError(f"{points.source}: no probe points for {', '.join(missing)}; analyse that codec first")
    if any(c != "h264" for c in wanted) and "h264" not in present:
        raise UsageError(
            f"{points.source}: {', '.join(c for c in wanted if c != 'h264')} rungs are kept only where they beat"
            " H.264, so H.264 points are needed too"
        )

    h264 = _CodecCurves("h264", points.for_codec("h264")) if "h264" in present else None
    rungs: list[Rung] = []
    for codec in wanted:
        curves = h264 if codec == "h264" and h264 is not None else _CodecCurves(codec, points.for_codec(codec))
        chosen = _codec_ladder(curves, policy)
        if codec != "h264":
            assert h264 is not None
            kept = []
            for p in chosen:
                rival = h264.hull.vmaf_at(p.kbps)
                if p.vmaf > rival + policy.codec_gain_vmaf:
                    kept.append(p)
                else:
                    log.info(
                        "%s: %s %dx%d at %.0f kb/s dropped: VMAF %.1f does not beat H.264's %.1f there",
                        *(points.source, codec, p.res.width, p.res.height, p.kbps, p.vmaf, rival),
                    )
            chosen = kept
        rungs.extend(_rung(codec, p, policy) for p in reversed(chosen))
    return Ladder(source=points.source, kind="per-title", rungs=rungs, policy=policy)
