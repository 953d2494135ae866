"""Colour in probe and QA (issue 16): HDR10, HLG and 10-bit SDR recognised with their exact metadata, the
gaps of an HDR10 source named, and sources whose colour metadata lies refused in one line, nothing encoded.

Real clips from FFmpeg 6.0's 10-bit libx265 (and 8.1's libx264 for the 8-bit lies), real ffprobe 8.1."""

import sys
from fractions import Fraction
from pathlib import Path

import pytest

from pipeline.encode import encode
from pipeline.probe import parse_ffprobe, probe, require_honest_colour
from pipeline.qa import qa
from pipeline.rung_spec import parse_rung
from tests import media
from vodflow.errors import BadColourMetadata, QAFailed, UnsupportedMedia
from vodflow.process import run

LIES = {
    # clip: (dynamic range, words of the one line)
    "pq_8bit": ("hdr10", "PQ transfer (smpte2084) on 8-bit samples: HDR needs 10-bit"),
    "hlg_8bit": ("hlg", "HLG transfer (arib-std-b67) on 8-bit samples: HDR needs 10-bit"),
    "pq_bt709": ("hdr10", "PQ transfer with BT.709 primaries"),
    "mastering_dark": ("hdr10", "mastering display max luminance is 0"),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("colour")
    return {
        "hdr10": media.hdr10(d),
        "hdr10_bare": media.hdr10_bare(d),
        "hlg": media.hlg(d),
        "sdr10": media.sdr10(d),
        "pq_bt709": media.pq_bt709(d),
        "mastering_dark": media.mastering_dark(d),
        "pq_8bit": media.pq_8bit(d),
        "hlg_8bit": media.pq_8bit(d, transfer=18),
    }


def test_hdr10_is_recognised_with_its_exact_metadata(clips):
    v = probe(clips["hdr10"]).video
    c = v.colour
    assert (c.dynamic_range, c.bit_depth, c.primaries, c.transfer, c.matrix) == (
        "hdr10",
        10,
        "bt2020",
        "smpte2084",
        "bt2020nc",
    )
    m = c.mastering
    assert (m.red_x, m.red_y, m.green_x, m.green_y, m.blue_x, m.blue_y) == (
        "34000/50000",
        "16000/50000",
        "13250/50000",
        "34500/50000",
        "7500/50000",
        "3000/50000",
    )
    assert (m.white_point_x, m.white_point_y) == ("15635/50000", "16450/50000")
    assert (m.max_luminance, m.min_luminance) == ("10000000/10000", "50/10000")
    assert m.value("max_luminance") == 1000 and m.value("min_luminance") == Fraction(1, 200)
    assert (c.max_cll, c.max_fall) == (1000, 400)
    # x265 puts the metadata in SEI, the MP4 has no mdcv/clli box: found in the first frame.
    assert (c.metadata_from, c.first_frame_read) == ("frame", True)
    assert v.hdr == "pq"
    assert type(v).from_json(v.to_json()) == v


def test_stream_side_data_is_read_before_the_first_frame():
    # ffprobe 8.1's stream side data of an SVT-AV1 MP4 (mdcv and clli boxes), as it printed it; no frame.
    mastering = {
        "side_data_type": "Mastering display metadata",
        **{k: f"{n}/50000" for k, n in (("red_x", 34000), ("red_y", 16000), ("green_x", 13250))},
        **{k: f"{n}/50000" for k, n in (("green_y", 34500), ("blue_x", 7500), ("blue_y", 3000))},
        **{"white_point_x": "15635/50000", "white_point_y": "16450/50000"},
        **{"min_luminance": "50/10000", "max_luminance": "10000000/10000"},
    }
    light = {"side_data_type": "Content light level metadata", "max_content": 1000, "max_average": 400}
    stream = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "av1",
        "width": 64,
        "height": 64,
        "pix_fmt": "yuv420p10le",
        "color_space": "bt2020nc",
        "color_transfer": "smpte2084",
        "color_primaries": "bt2020",
        "side_data_list": [mastering, light],
    }
    c = parse_ffprobe("x.mp4", 1, {"streams": [stream]}, None, False).video.colour
    found = (c.metadata_from, c.max_cll, c.max_fall, c.mastering.max_luminance)
    assert found == ("stream", 1000, 400, "10000000/10000")
    # min at or above max is a lie too
    stream["side_data_list"] = [{**mastering, "min_luminance": "10000000/10000"}, light]
    info = parse_ffprobe("x.mp4", 1, {"streams": [stream]})
    with pytest.raises(BadColourMetadata, match=r"^x\.mp4: mastering display min luminance 1000 cd/m² is not below"):
        require_honest_colour(info)


@pytest.mark.parametrize(
    ("name", "verdict", "words"),
    [
        ("hdr10", "hdr10", "HDR10 (bt2020 primaries, smpte2084 transfer, bt2020nc matrix, 10-bit; "),
        ("hlg", "hlg", "HLG (bt2020 primaries, arib-std-b67 transfer, bt2020nc matrix, 10-bit)"),
        ("sdr10", "sdr", "10-bit SDR (bt709 primaries, bt709 transfer, bt709 matrix, 10-bit)"),
    ],
)
def test_qa_gives_a_verdict_per_kind(clips, name, verdict, words):
    report = qa(clips[name], show_progress=False)
    colour = report.check("colour")
    assert (colour.severity, colour.value) == ("info", verdict)
    assert colour.reason.startswith(words), colour.reason
    assert report.decoded_seconds is not None  # decoded: not refused
    c = report.media.video.colour
    if name == "hdr10":
        assert "mastering display 1000/0.005 cd/m² max/min, MaxCLL 1000 MaxFALL 400" in colour.reason
    else:
        assert (c.mastering, c.max_cll, c.max_fall) == (None, None, None)
    assert c.bit_depth == 10


def test_an_8bit_sdr_source_is_plain_sdr(tmp_path):
    c = qa(media.clip(tmp_path, size="64x64", seconds=1, audio=False), show_progress=False).check("colour")
    assert (c.severity, c.value) == ("info", "sdr") and c.reason.startswith("8-bit SDR (")


def test_hdr10_without_metadata_warns_what_is_missing(clips):
    report = qa(clips["hdr10_bare"], show_progress=False)
    colour = report.check("colour")
    assert (colour.severity, colour.value) == ("warn", "hdr10")
    assert "no mastering display metadata (SMPTE ST 2086) in the stream or its first frame" in colour.reason
    assert "no MaxCLL/MaxFALL content light level in the stream or its first frame" in colour.reason
    assert report.passed  # a gap, not a lie


@pytest.mark.parametrize("name", sorted(LIES))
def test_lying_colour_metadata_is_refused_in_one_line(clips, name, tmp_path):
    verdict, words = LIES[name]
    src = clips[name]
    report = qa(src, show_progress=False)
    assert report.decoded_seconds is None  # refused from the probe, before decoding
    assert [(c.name, c.severity, c.value) for c in report.checks] == [("colour", "fail", verdict)]
    with pytest.raises(QAFailed) as exc:
        report.raise_for_failure()
    line = str(exc.value)
    assert line.startswith(f"{src}: QA failed: colour: {words}") and "\n" not in line
    # encode refuses it too, before any ffmpeg: nothing written
    out = tmp_path / "out"
    with pytest.raises(BadColourMetadata) as enc:
        encode(src, [parse_rung("h264:64x64:200k")], out, show_progress=False)
    assert isinstance(enc.value, UnsupportedMedia) and str(enc.value).startswith(f"{src}: {words}")
    assert not out.exists()


@pytest.mark.parametrize("name", ["pq_8bit", "mastering_dark"])
def test_cli_qa_refuses_a_lie_with_exit_1_and_one_stderr_line(clips, name):
    res = run([sys.executable, "-m", "cli.main", "qa", str(clips[name])], check=False, timeout=300)
    assert res.returncode == 1, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert str(clips[name]) in lines[0] and LIES[name][1] in lines[0]


def test_cli_probe_names_the_dynamic_range(clips):
    res = run([sys.executable, "-m", "cli.main", "probe", str(clips["hdr10"])], check=False, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "yuv420p10le 10-bit HDR10" in res.stdout


def test_the_tone_mapping_warning_names_the_dynamic_range(clips, tmp_path):
    result = encode(clips["hlg"], [parse_rung("h264:64x64:200k")], tmp_path, show_progress=False)
    assert (
        f"{clips['hlg']}: HLG source (arib-std-b67) encoded without tone mapping; colours will be off"
        in result.warnings
    )
