from __future__ import annotations

import math

import pytest

from ladders.bdrate import as_pairs, bd_rate, savings_per_rung, top_saving
from ladders.hull import hull
from ladders.model import Rung
from pipeline.renditions import RateControl
from tests.ladders import model_points, rd_point

# Published numbers: the JCT-VC examples in Netflix's vmaf repository,
# python/test/bd_rate_calculator_test.py (BDrateCalculatorJCTVCTest), whose calculator is "validated
# against JCTVC-E137". Pairs are (kb/s, PSNR dB); Netflix reports a fraction, we report percent.
JCTVC = [
    (
        [(108048.8736, 43.6471), (61279.976, 40.3953), (33905.6656, 37.247), (18883.6928, 34.2911)],
        [(108061.2784, 43.6768), (61299.9936, 40.4232), (33928.7472, 37.2761), (18910.912, 34.3147)],
        -0.00465215420752807,
    ),
    (
        [(40433.8848, 37.5761), (7622.7456, 35.3756), (2394.488, 33.8977), (1017.6184, 32.0603)],
        [(40370.12, 37.5982), (7587.0024, 35.4025), (2390.0944, 33.9194), (1017.0984, 32.0822)],
        -0.018779823450567612,
    ),
]


@pytest.mark.parametrize(("anchor", "test", "published"), JCTVC)
def test_bd_rate_matches_published_jctvc_numbers(anchor, test, published):
    # Netflix asserts 4 places of the fraction (0.01 %); PCHIP reproduces it to far better than that.
    assert bd_rate(anchor, test) == pytest.approx(published * 100, abs=1e-6)
    # Order of the points does not matter.
    assert bd_rate(anchor[::-1], test) == pytest.approx(published * 100, abs=1e-6)


def test_identical_curves_and_half_the_bitrate():
    a = [(r, q) for r, q in JCTVC[1][0]]
    assert bd_rate(a, a) == pytest.approx(0.0, abs=1e-12)
    half = [(r / 2, q) for r, q in a]
    assert bd_rate(a, half) == pytest.approx(-50.0, abs=1e-9)
    assert bd_rate(half, a) == pytest.approx(100.0, abs=1e-9)


def test_bd_rate_only_over_the_overlap_and_from_records():
    # Two straight lines (2 points each) of different slopes, overlapping on VMAF 85..90: in log2 rate,
    # b - a runs from log2(0.6) - 1 at 85 to log2(0.6) - 1.5 at 90, so the mean is log2(0.6) - 1.25.
    a = [(1000, 80.0), (4000, 90.0)]
    b = [(600, 85.0), (1200, 95.0)]
    assert bd_rate(a, b) == pytest.approx((0.6 * 2**-1.25 - 1) * 100, abs=1e-9)
    h264 = hull(model_points("h264"))
    cheaper = hull(model_points("h264", gain=0.6))  # the same curves at 60 % of the bits
    assert bd_rate(h264, cheaper) == pytest.approx(-40.0, abs=1e-6)
    assert bd_rate(h264.points, cheaper.points) == pytest.approx(-40.0, abs=1e-6)


def test_bd_rate_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([(100, 30.0)], [(100, 30.0), (200, 35.0)])
    with pytest.raises(ValueError, match="at least 2"):
        bd_rate([(100, 30.0), (200, 30.0)], [(100, 30.0), (200, 35.0)])  # one distinct quality
    with pytest.raises(ValueError, match="do not overlap"):
        bd_rate([(100, 30.0), (200, 35.0)], [(400, 36.0), (800, 40.0)])
    with pytest.raises(ValueError, match="usable"):
        bd_rate([(0, 30.0), (200, 35.0)], [(100, 30.0), (200, 35.0)])


def _rung(kbps, predicted, measured=None, measured_kbps=None):
    return Rung(
        codec="h264",
        width=1280,
        height=720,
        rate=RateControl(mode="bitrate", bitrate_kbps=round(kbps)),
        bitrate_kbps=kbps,
        predicted_vmaf=predicted,
        measured_vmaf=measured,
        measured_kbps=measured_kbps,
    )


def test_as_pairs_prefers_measured_values():
    assert as_pairs([_rung(3000, 90.0), _rung(3000, 90.0, 88.0, 3100.0)]) == [(3000, 90.0), (3100.0, 88.0)]
    assert as_pairs([rd_point("av1", 720, 30, 500.0, 80.0)]) == [(500.0, 80.0)]
    with pytest.raises(ValueError, match="no VMAF"):
        as_pairs([_rung(3000, None)])


def test_savings_per_rung_by_hand():
    reference = [(300, 60.0), (1050, 75.0), (3000, 88.0), (5800, 94.0)]
    # Candidate: 300 kb/s -> 70, 1200 kb/s -> 90 (10 VMAF per doubling in between), top 90.
    candidate = [(300, 70.0), (600, 80.0), (1200, 90.0)]
    rows = savings_per_rung(reference, candidate)
    assert [r.reference_kbps for r in rows] == [300, 1050, 3000, 5800]
    # 60 is below the candidate's lowest point (70): its bits there are only a bound.
    assert rows[0].clamped and rows[0].candidate_kbps == 300 and rows[0].saving == 0.0
    # 75 lies halfway (in log rate) between 300 and 600: 300 * 2 ** 0.5.
    assert rows[1].candidate_kbps == pytest.approx(300 * math.sqrt(2))
    assert rows[1].saving == pytest.approx(1 - 300 * math.sqrt(2) / 1050)
    assert not rows[1].clamped
    # 88: 600 * 2 ** 0.8.
    assert rows[2].candidate_kbps == pytest.approx(600 * 2**0.8)
    # 94 is never reached: reported, not hidden.
    assert rows[3].candidate_kbps is None and rows[3].saving is None


def test_top_saving_by_hand():
    reference = [(300, 60.0), (3000, 88.0), (5800, 97.0)]
    candidate = [(1000, 85.0), (2000, 91.0), (4000, 97.0)]
    top = top_saving(reference, candidate)  # the reference top gives 97; the candidate needs 95
    assert top.vmaf == 95.0 and top.reference_kbps == 5800 and top.reference_vmaf == 97.0
    assert top.candidate_kbps == pytest.approx(2000 * 2 ** (4 / 6))
    assert top.saving == pytest.approx(1 - 2000 * 2 ** (4 / 6) / 5800)
    # A reference that tops out at 90 is judged at 90.
    low = top_saving([(1000, 80.0), (2000, 90.0)], candidate)
    assert low.vmaf == 90.0 and low.candidate_kbps == pytest.approx(1000 * 2 ** (5 / 6))
    # A candidate that never gets there: None, with how far it got.
    short = top_saving(reference, [(1000, 85.0), (2000, 91.0)])
    assert short.candidate_kbps is None and short.saving is None and short.candidate_top_vmaf == 91.0
