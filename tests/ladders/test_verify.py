"""A ladder's rungs are verified by measurement after the final encode, not only predicted."""

import pytest

from ladders.model import Ladder, Rung
from ladders.verify import encode_ladder
from pipeline.renditions import RateControl
from vodflow.errors import UsageError


def rung(codec, w, h, crf, cap, predicted):
    rate = RateControl(mode="capped_crf", crf=crf, maxrate_kbps=cap, bufsize_kbits=2 * cap)
    return Rung(codec=codec, width=w, height=h, rate=rate, bitrate_kbps=cap / 1.5, predicted_vmaf=predicted)


def test_encode_ladder_records_measured_vmaf_beside_the_prediction(tiny, tmp_path):
    ladder = Ladder(
        source=str(tiny["testsrc2"]),
        kind="per-title",
        rungs=[rung("h264", 160, 90, 30, 150, 40.0), rung("h264", 320, 180, 20, 900, 90.0)],
    )
    result, measured = encode_ladder(tiny["testsrc2"], ladder, tmp_path / "out", audio=False, show_progress=False)
    assert [r.predicted_vmaf for r in measured.rungs] == [40.0, 90.0]  # predictions kept as they were
    low, high = measured.rungs
    assert low.measured_vmaf is not None and high.measured_vmaf is not None
    assert 0 < low.measured_vmaf < high.measured_vmaf <= 100
    assert [r.measured_kbps for r in measured.rungs] == [f.bitrate_kbps for f in result.video]
    assert Ladder.from_json(measured.to_json()) == measured


def test_codec_filter_and_unverified_encode(tiny, tmp_path):
    ladder = Ladder(
        source=str(tiny["pan"]),
        kind="per-title",
        rungs=[rung("h264", 160, 90, 28, 200, 60.0), rung("vp9", 160, 90, 40, 200, 60.0)],
    )
    result, same = encode_ladder(
        tiny["pan"], ladder, tmp_path / "a", codecs=["vp9"], audio=False, verify=False, show_progress=False
    )
    assert [f.rendition.codec for f in result.video] == ["vp9"]
    assert [r.codec for r in same.rungs] == ["vp9"] and same.rungs[0].measured_vmaf is None
    with pytest.raises(UsageError, match="no rung for av1"):
        encode_ladder(tiny["pan"], ladder, tmp_path / "b", codecs=["av1"], show_progress=False)
