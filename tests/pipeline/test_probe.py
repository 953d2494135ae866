from fractions import Fraction

import pytest

from pipeline.probe import parse_ffprobe, parse_rate, probe
from vodflow.errors import ProbeError, UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30000/1001", Fraction(30000, 1001)),
        ("25/1", Fraction(25)),
        ("25", Fraction(25)),
        ("0/0", None),
        ("N/A", None),
        ("", None),
        (None, None),
        ("-1/1", None),
        ("24000/1001 ", Fraction(24000, 1001)),
    ],
)
def test_parse_rate_handles_odd_strings(text, expected):
    assert parse_rate(text) == expected


def test_probe_tiny_sample(tiny):
    info = probe(tiny["testsrc2"])
    assert info.video is not None
    assert (info.video.width, info.video.height) == (320, 180)
    assert info.video.fps == 30
    assert not info.video.vfr
    assert info.video.hdr == "sdr"
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert [a.channels for a in info.audio] == [2]
    assert info.video.field_order == "progressive"
    assert info.from_json(info.to_json()) == info


def test_probe_flags_vfr_and_interlacing(odd):
    vfr = probe(odd["vfr"]).video
    assert vfr.vfr and vfr.fps == 30 and float(Fraction(vfr.avg_frame_rate)) < 25
    il = probe(odd["interlaced"]).video
    assert il.field_order == "tt" and il.interlaced


def test_probe_missing_duration_falls_back_to_streams():
    doc = {
        "format": {"format_name": "matroska,webm"},
        "streams": [
            {
                "index": 0,
                "codec_type": "video",
                "codec_name": "h264",
                "width": 640,
                "height": 360,
                "r_frame_rate": "1000/1",
                "avg_frame_rate": "30/1",
                "tags": {"DURATION": "00:00:07.500000000"},
            },
            {
                "index": 1,
                "codec_type": "audio",
                "codec_name": "opus",
                "channels": 2,
                "tags": {"language": "fra", "DURATION": "00:00:07.520000000"},
            },
            {"index": 2, "codec_type": "audio", "codec_name": "aac", "channels": 6, "tags": {"language": "eng"}},
            {
                "index": 3,
                "codec_type": "subtitle",
                "codec_name": "webvtt",
                "tags": {"language": "deu"},
                "disposition": {"forced": 1},
            },
            {"index": 4, "codec_type": "video", "codec_name": "mjpeg", "disposition": {"attached_pic": 1}},
        ],
    }
    info = parse_ffprobe("x.mkv", 1, doc)
    assert info.duration == pytest.approx(7.52)
    assert info.video.index == 0 and info.video.fps == 30 and info.video.vfr  # 1000/1 is a timebase
    assert [(a.language, a.channels) for a in info.audio] == [("fra", 2), ("eng", 6)]
    assert info.subtitles[0].language == "deu" and info.subtitles[0].forced


def test_probe_reads_hdr_transfer_and_bit_depth():
    doc = {
        "format": {"format_name": "mov", "duration": "3.0"},
        "streams": [
            {
                "index": 0,
                "codec_type": "video",
                "codec_name": "hevc",
                "width": 3840,
                "height": 2160,
                "r_frame_rate": "24000/1001",
                "avg_frame_rate": "24000/1001",
                "pix_fmt": "yuv420p10le",
                "color_transfer": "smpte2084",
                "color_primaries": "bt2020",
                "field_order": "progressive",
            },
        ],
    }
    v = parse_ffprobe("x.mov", 1, doc).video
    assert (v.hdr, v.bit_depth, v.fps) == ("pq", 10, pytest.approx(23.976024))
    doc["streams"][0]["color_transfer"] = "arib-std-b67"
    assert parse_ffprobe("x.mov", 1, doc).video.hdr == "hlg"


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("missing", UsageError, "no such file"),
        ("directory", UsageError, "is a directory"),
        ("empty", ProbeError, "empty file"),
        ("text_as_mp4", ProbeError, "not a media file"),
        ("truncated", ProbeError, "truncated"),
    ],
)
def test_probe_rejects_unreadable_input_with_one_line(odd, name, error, words):
    with pytest.raises(error) as exc:
        probe(odd[name])
    msg = str(exc.value)
    assert words in msg and str(odd[name]) in msg and "\n" not in msg


def test_require_video_refuses_audio_only_and_huge_frames(odd, tiny):
    from pipeline.probe import require_video
    from vodflow.errors import NoVideoStream, UnsupportedMedia

    assert require_video(probe(tiny["pan"])).width == 320
    with pytest.raises(NoVideoStream, match=r"audio_only\.m4a: no video stream"):
        require_video(probe(odd["audio_only"]))
    with pytest.raises(UnsupportedMedia, match=r"huge\.mp4: frame size 10000x10000 is too large"):
        require_video(probe(odd["huge_frame"]))
