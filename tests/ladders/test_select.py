from __future__ import annotations

import itertools
import math

import pytest

from ladders.hull import hull
from ladders.model import LadderPolicy
from ladders.select import select
from tests.ladders import CRFS, model_kbps, model_points, model_vmaf, rd_point, rd_points
from vodflow.errors import UsageError

WIDE = LadderPolicy(max_rungs=8)  # room for every rung the ratio rule asks for on the model title


def _own_interpolation(points, rung):
    """VMAF and kb/s at the rung's CRF, linear between its resolution's two neighbouring probe CRFs."""
    own = sorted((p for p in points if (p.codec, p.width, p.height) == (rung.codec, rung.width, rung.height)),
                 key=lambda p: p.crf)  # fmt: skip
    for a, b in itertools.pairwise(own):
        if a.crf <= rung.rate.crf <= b.crf:
            t = (rung.rate.crf - a.crf) / (b.crf - a.crf)
            return a.vmaf + t * (b.vmaf - a.vmaf), 2 ** (a.log_rate + t * (b.log_rate - a.log_rate))
    raise AssertionError(f"CRF {rung.rate.crf} is outside the probed range")


def _ratios(rungs):
    return [b.bitrate_kbps / a.bitrate_kbps for a, b in itertools.pairwise(rungs)]


def test_per_title_ladder_on_a_plausible_title():
    points = model_points()
    ladder = select(rd_points(points), WIDE)
    rungs = ladder.for_codec("h264")
    assert ladder.kind == "per-title" and ladder.policy == WIDE and ladder.codecs == ["h264"]
    assert 3 <= len(rungs) <= WIDE.max_rungs
    assert [r.bitrate_kbps for r in rungs] == sorted(r.bitrate_kbps for r in rungs)

    top, bottom = rungs[-1], rungs[0]
    assert 95.0 <= top.predicted_vmaf < 95.5
    true_top = model_vmaf(1080, model_kbps("h264", top.height, top.rate.crf))
    assert true_top == pytest.approx(95.0, abs=0.5)  # linear interpolation between CRFs 4 apart
    assert 150.0 <= bottom.bitrate_kbps < 150.0 * 1.05

    ratios = _ratios(rungs)
    assert all(1.5 <= q <= 2.0 for q in ratios), ratios
    # Each step down is one VMAF step, unless the ratio rule moved the rung (then it sits at a bound).
    by_step = by_ratio = 0
    for (a, b), q in zip(itertools.pairwise(rungs[1:]), ratios[1:], strict=True):
        step = b.predicted_vmaf - a.predicted_vmaf
        if abs(step - WIDE.vmaf_step) <= 0.5:
            by_step += 1
        else:
            assert q >= 1.9 or q <= 1.6, (step, q)
            by_ratio += 1
    assert by_step and by_ratio  # the model exercises both rules

    assert len({r.height for r in rungs}) >= 3
    assert [r.height for r in rungs] == sorted(r.height for r in rungs)
    for r in rungs:
        assert r.rate.mode == "capped_crf" and round(r.rate.crf, 1) == r.rate.crf
        assert r.rate.maxrate_kbps == round(1.5 * r.bitrate_kbps)
        assert r.rate.bufsize_kbits == round(2.0 * r.rate.maxrate_kbps)
        vmaf, kbps = _own_interpolation(points, r)
        assert r.predicted_vmaf == pytest.approx(vmaf) and r.bitrate_kbps == pytest.approx(kbps)
        truth = model_vmaf(r.height, model_kbps("h264", r.height, r.rate.crf))
        assert r.predicted_vmaf == pytest.approx(truth, abs=1.0)
        r.rendition()  # the encoder accepts it


def test_too_wide_a_span_for_max_rungs_is_spread_evenly():
    points = model_points()
    wide = select(rd_points(points), WIDE).rungs
    capped = select(rd_points(points)).rungs  # default max_rungs 6: 150 kb/s to ~5.9 Mb/s needs 7 at 2x
    assert len(wide) == 7 and len(capped) == 6
    assert (capped[0].rate, capped[-1].rate) == (wide[0].rate, wide[-1].rate)  # top and bottom stay
    ratios = _ratios(capped)
    even = (capped[-1].bitrate_kbps / capped[0].bitrate_kbps) ** (1 / 5)
    assert even > 2.0
    assert all(q == pytest.approx(even, rel=0.1) for q in ratios), ratios


def test_target_out_of_reach_puts_the_top_at_the_knee():
    # A 540p source (the analysis never probes above it) probed down to CRF 6: 540p tops out near 92.
    points = model_points(heights=[540, 360, 240], crfs=range(6, 47, 4))
    h = hull(points)
    assert h.points[-1].vmaf < 95
    top = select(rd_points(points), WIDE).rungs[-1]
    i = next(i for i, p in enumerate(h.points) if (p.height, p.crf) == (top.height, top.rate.crf))
    assert (top.bitrate_kbps, top.predicted_vmaf) == pytest.approx((h.points[i].bitrate_kbps, h.points[i].vmaf))

    def per_doubling(a, b):
        return (b.vmaf - a.vmaf) / (b.log_rate - a.log_rate)

    # The knee: the hull climbs at least 1 VMAF per doubling up to the top rung, and less after it.
    assert 0 < i < len(h.points) - 1
    assert per_doubling(h.points[i - 1], h.points[i]) >= 1.0 > per_doubling(h.points[i], h.points[i + 1])
    # The model's own slope (0.55 x (92 - VMAF) per doubling) is 1 at VMAF 90.2.
    assert top.predicted_vmaf == pytest.approx(90.2, abs=0.6)


def test_hull_still_climbing_at_its_end_tops_out_at_its_last_probe():
    points = [p for p in model_points(heights=[1080]) if p.crf >= 34]
    best = max(points, key=lambda p: p.vmaf)
    assert best.vmaf < 90
    top = select(rd_points(points), WIDE).rungs[-1]
    assert (top.rate.crf, top.predicted_vmaf, top.bitrate_kbps) == (
        best.crf,
        best.vmaf,
        pytest.approx(best.bitrate_kbps),
    )


def test_bottom_at_the_quality_floor_or_at_the_hull_start():
    points = model_points()
    floor = select(rd_points(points), LadderPolicy(max_rungs=8, min_vmaf=72.0)).rungs
    assert floor[0].predicted_vmaf >= 72.0 and floor[0].bitrate_kbps > 200
    assert floor[0].predicted_vmaf == pytest.approx(72.0, abs=0.3)
    # Without 240p and 360p probes the hull starts above 150 kb/s: the bottom is its first point.
    high = [p for p in points if p.height >= 720]
    start = hull(high).points[0]
    bottom = select(rd_points(high), WIDE).rungs[0]
    assert start.bitrate_kbps > 150
    assert (bottom.height, bottom.rate.crf) == (start.height, start.crf)
    assert bottom.bitrate_kbps == pytest.approx(start.bitrate_kbps)


def test_a_gap_no_legal_cut_fits_is_cut_in_the_middle():
    # Top ~5.9 Mb/s, bottom at 2.8 Mb/s: a 2.1x gap is too wide for one step and too narrow for two.
    rungs = select(rd_points(model_points()), LadderPolicy(min_kbps=2800.0)).rungs
    assert len(rungs) == 3
    whole = rungs[-1].bitrate_kbps / rungs[0].bitrate_kbps
    assert 2.0 < whole < 2.25
    assert _ratios(rungs) == pytest.approx([math.sqrt(whole)] * 2, rel=0.01)


def test_max_rungs_one_and_two():
    points = rd_points(model_points())
    full = select(points, WIDE).rungs
    assert select(points, LadderPolicy(max_rungs=1)).rungs == [full[-1]]
    assert select(points, LadderPolicy(max_rungs=2)).rungs == [full[0], full[-1]]


def test_noisy_probes_do_not_break_the_ladder():
    points = model_points()
    noisy = []
    for p in points:
        if (p.height, p.crf) == (1080, 22):  # scores below the cheaper CRF 26 probe
            p = rd_point("h264", 1080, 22, p.bitrate_kbps, 91.0)
        if (p.height, p.crf) == (720, 30):  # smaller than the CRF 34 probe
            p = rd_point("h264", 720, 30, 600.0, p.vmaf)
        noisy.append(p)
    rungs = select(rd_points(noisy), WIDE).rungs
    assert [r.bitrate_kbps for r in rungs] == sorted(r.bitrate_kbps for r in rungs)
    assert [r.predicted_vmaf for r in rungs] == sorted(r.predicted_vmaf for r in rungs)
    assert rungs[-1].predicted_vmaf >= 95.0 and rungs[0].bitrate_kbps >= 150.0
    assert all(1.5 <= q <= 2.0 for q in _ratios(rungs))


def _av1_title(gain):
    return rd_points(model_points("h264") + model_points("av1", gain=gain))


def test_av1_rungs_that_beat_h264_are_kept():
    points = _av1_title(0.6)  # AV1 needs 60 % of H.264's bits everywhere
    ladder = select(points, WIDE, codecs=["h264", "av1"])
    assert ladder.codecs == ["h264", "av1"]
    av1 = ladder.for_codec("av1")
    everything = select(points, WIDE.model_copy(update={"codec_gain_vmaf": -100.0}), codecs=["h264", "av1"])
    assert av1 == everything.for_codec("av1") and len(av1) >= 5
    h264_hull = hull(points.for_codec("h264"))
    for r in av1:
        assert r.predicted_vmaf > h264_hull.vmaf_at(r.bitrate_kbps)
        assert r.rate.crf == int(r.rate.crf) and r.rate.crf in range(CRFS["av1"][0], CRFS["av1"][-1] + 1)
        vmaf, kbps = _own_interpolation(points.points, r)  # recomputed at the whole CRF
        assert r.predicted_vmaf == pytest.approx(vmaf) and r.bitrate_kbps == pytest.approx(kbps)
        # SVT-AV1 enforces its cap over a short window: AV1 gets more headroom than H.264's 1.5x.
        assert r.rate.maxrate_kbps == round(2.5 * r.bitrate_kbps)
        r.rendition()
    assert av1[-1].predicted_vmaf >= 95.0
    # Asking for a gain no rung has drops them all.
    assert select(points, WIDE.model_copy(update={"codec_gain_vmaf": 50.0})).for_codec("av1") == []


def test_av1_rungs_that_do_not_beat_h264_are_dropped():
    # This AV1 is good at 1080p but worse than H.264 below it (gain 1.6: 60 % more bits), so its own
    # hull uses small frames at the lowest bitrates, where H.264 beats it.
    points = _av1_title(lambda h: 0.6 if h >= 1080 else 1.6)
    h264_hull = hull(points.for_codec("h264"))
    every = select(points, WIDE.model_copy(update={"codec_gain_vmaf": -100.0})).for_codec("av1")
    kept = select(points, WIDE).for_codec("av1")
    dropped = [r for r in every if r not in kept]
    assert kept and dropped
    assert all(r in every for r in kept)
    assert all(r.predicted_vmaf > h264_hull.vmaf_at(r.bitrate_kbps) for r in kept)
    assert all(r.predicted_vmaf <= h264_hull.vmaf_at(r.bitrate_kbps) for r in dropped)
    assert max(r.bitrate_kbps for r in dropped) < min(r.bitrate_kbps for r in kept)


def test_vp9_crfs_are_whole_and_hevc_keeps_a_decimal():
    points = rd_points(model_points("h264") + model_points("vp9", gain=0.7) + model_points("hevc", gain=0.75))
    ladder = select(points, WIDE)
    assert ladder.codecs == ["h264", "hevc", "vp9"]
    assert all(r.rate.crf == int(r.rate.crf) for r in ladder.for_codec("vp9"))
    assert any(r.rate.crf != int(r.rate.crf) for r in ladder.for_codec("hevc"))
    for r in ladder.rungs:
        r.rendition()


def test_usage_errors():
    av1_only = rd_points(model_points("av1"))
    with pytest.raises(UsageError, match=r"H\.264 points are needed"):
        select(av1_only)
    with pytest.raises(UsageError, match="no probe points for hevc"):
        select(rd_points(model_points("h264")), codecs=["h264", "hevc"])
    with pytest.raises(ValueError, match="at least one"):
        select(rd_points([rd_point("h264", 720, 30, 0.0, 50.0)]))
    # H.264 points present but not asked for: AV1 alone is fine, judged against them.
    both = _av1_title(0.6)
    assert select(both, WIDE, codecs=["av1"]).codecs == ["av1"]


def test_every_rung_bitrate_is_finite_and_positive():
    ladder = select(_av1_title(0.6), WIDE)
    assert all(math.isfinite(r.bitrate_kbps) and r.bitrate_kbps > 0 for r in ladder.rungs)
