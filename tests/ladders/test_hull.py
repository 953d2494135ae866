from __future__ import annotations

import itertools

import pytest

from ladders.hull import hull, spans
from tests.ladders import model_points, rd_point


def _keys(h):
    return [(p.height, p.crf) for p in h.points]


def _check_shape(h):
    for a, b in itertools.pairwise(h.points):
        assert a.bitrate_kbps < b.bitrate_kbps
        assert a.vmaf < b.vmaf
    for a, b, c in zip(h.points, h.points[1:], h.points[2:], strict=False):
        chord = a.vmaf + (c.vmaf - a.vmaf) * (b.log_rate - a.log_rate) / (c.log_rate - a.log_rate)
        assert b.vmaf > chord


def test_known_hull_drops_the_dominated_and_the_inside_points():
    pts = [
        rd_point("h264", 720, 40, 100, 50),
        rd_point("h264", 720, 34, 200, 70),
        rd_point("h264", 720, 30, 300, 72),  # below the chord 200 -> 400: not on the hull
        rd_point("h264", 720, 26, 400, 85),
        rd_point("h264", 720, 22, 800, 92),
        rd_point("h264", 720, 21, 900, 80),  # dominated: more bits, less quality than 800 kb/s
    ]
    h = hull(pts)
    assert h.codec == "h264"
    assert [p.bitrate_kbps for p in h.points] == [100, 200, 400, 800]
    _check_shape(h)


def test_equal_bitrates_keep_the_best_point():
    pts = [
        rd_point("h264", 360, 30, 500, 70),
        rd_point("h264", 540, 32, 500, 74),  # same bitrate, better: the one kept
        rd_point("h264", 720, 34, 500.0000000001, 60),  # same bitrate up to float noise, worse
        rd_point("h264", 540, 26, 1000, 85),
    ]
    h = hull(pts)
    assert _keys(h) == [(540, 32), (540, 26)]


def test_non_monotonic_noise_stays_below_the_hull_and_the_top_is_cut():
    pts = [
        rd_point("h264", 1080, 34, 1000, 80),
        rd_point("h264", 1080, 30, 1500, 78),  # noisy: more bits, lower score
        rd_point("h264", 1080, 26, 2000, 88),
        rd_point("h264", 1080, 22, 4000, 93),
        rd_point("h264", 1080, 18, 8000, 92.5),  # past the best score: never a choice
    ]
    h = hull(pts)
    assert _keys(h) == [(1080, 34), (1080, 26), (1080, 22)]
    _check_shape(h)


def test_a_single_resolution_and_a_single_point():
    pts = model_points(heights=[720])
    h = hull(pts)
    assert {(p.width, p.height) for p in h.points} == {(1280, 720)}
    assert len(h.points) == len(pts)  # the model is strictly concave: every probe is on its hull
    _check_shape(h)
    one = hull([rd_point("vp9", 480, 31, 900, 77)])
    assert one.codec == "vp9" and len(one.points) == 1 and one.vmaf_at(2000) == 77


def test_hull_is_owned_by_resolutions_in_ascending_order():
    h = hull(model_points())
    _check_shape(h)
    owners = spans(h)
    assert [s.height for s in owners] == [240, 360, 540, 720, 1080]
    assert sum(s.points for s in owners) == len(h.points)
    for a, b in itertools.pairwise(owners):
        assert a.to_kbps < b.from_kbps and a.to_vmaf < b.from_vmaf
    # Every probe lies on or below the hull.
    for p in model_points():
        assert p.vmaf <= h.vmaf_at(p.bitrate_kbps) + 1e-9


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        hull([])
    with pytest.raises(ValueError, match="mix av1, h264"):
        hull([rd_point("h264", 720, 30, 100, 50), rd_point("av1", 720, 30, 100, 50)])
    with pytest.raises(ValueError, match="positive"):
        hull([rd_point("h264", 720, 30, 0.0, 50)])
