"""An encode without its warm-up lead: its bits counted from the keyframe on, refused anywhere else."""

from __future__ import annotations

import pytest

from pipeline.encode import encode
from pipeline.rung_spec import parse_rung
from pipeline.trim import tail
from vodflow.errors import ProbeError, UsageError


@pytest.fixture(scope="module")
def encoded(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("trim")
    rung = parse_rung("h264:320x180:crf28").model_copy(update={"gop_seconds": 0.5})  # keyframes every 15 frames
    result = encode(tiny["testsrc2"], [rung], out, audio=(), show_progress=False)
    return result.video[0]


def test_the_tail_from_a_keyframe_has_the_rest_of_the_frames_and_fewer_bits(encoded):
    total = encoded.frames
    whole = tail(encoded.path, skip=0, fps=30.0)
    assert whole.frames == total
    assert whole.bits == pytest.approx(encoded.bitrate_kbps * 1000 * encoded.duration, rel=0.01)
    rest = tail(encoded.path, skip=30, fps=30.0)
    assert rest.frames == total - 30 and rest.duration == pytest.approx((total - 30) / 30.0)
    # The two GOPs left out are gone from the count, the two kept are whole (each opens on a keyframe).
    assert 0.3 * whole.bits < rest.bits < 0.7 * whole.bits


def test_a_cut_off_the_keyframes_is_refused(encoded):
    with pytest.raises(ProbeError, match="no keyframe"):
        tail(encoded.path, skip=20, fps=30.0)
    with pytest.raises(UsageError):
        tail(encoded.path, skip=-1, fps=30.0)
