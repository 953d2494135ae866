"""pipeline.encode with the real ffmpeg and ffprobe on tiny clips.

Fast presets are passed explicitly (each still has scene-cut detection on by default where the encoder
has it, so the GOP checks mean something); every encode here is a few seconds of 320x180 or smaller.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline import codecs, encode_args
from pipeline.encode import encode
from pipeline.encode_args import video_args
from pipeline.ffmpeg import run_ffmpeg
from pipeline.renditions import DEFAULT_AUDIO, AudioRendition, EncodeResult, RateControl, Rendition
from pipeline.rung_spec import parse_rung
from tests import media
from vodflow import tools
from vodflow.errors import (
    DecodeError,
    EncoderOptionError,
    NoVideoStream,
    ProbeError,
    UnsupportedMedia,
    UsageError,
)
from vodflow.process import run
from vodflow.progress import Progress

# Fast, but not so fast that a preset switches scene-cut detection off by itself (x265 ultrafast does).
FAST = {"h264": "veryfast", "hevc": "superfast", "av1": "12", "vp9": "8"}
CODECS = ("h264", "hevc", "av1", "vp9")


def rung(codec: str, w: int = 320, h: int = 180, *, gop: float = 0.5, **rate) -> Rendition:
    rate = rate or {"mode": "crf", "crf": 30}
    return Rendition(codec=codec, width=w, height=h, preset=FAST[codec], gop_seconds=gop, rate=RateControl(**rate))


def ffprobe(path: Path, *entries: str) -> dict:
    """ffprobe's JSON for the first stream of ``path`` (``-show_entries`` as given)."""
    argv = [tools.find(tools.Tool.FFPROBE), "-v", "error", "-select_streams", "0", "-of", "json"]
    for e in entries:
        argv += ["-show_entries", e]
    return json.loads(run([*argv, path]).stdout)


def keyframes(path: Path) -> list[float]:
    packets = ffprobe(path, "packet=pts_time,flags")["packets"]
    return [round(float(p["pts_time"]), 3) for p in packets if "K" in p["flags"]]


def stream(path: Path) -> dict:
    return ffprobe(path, "stream")["streams"][0]


def ffmpeg_runs(caplog) -> list[list[str]]:
    """Every ffmpeg command vodflow.process logged, as argv lists."""
    runs = [shlex.split(r.getMessage().removeprefix("run: ")) for r in caplog.records if r.name == "vodflow.process"]
    return [argv for argv in runs if argv and Path(argv[0]).name.startswith("ffmpeg")]


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir()) if out.exists() else []


# --- specs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "name", "mode", "crf", "bitrate", "maxrate", "bufsize"),
    [
        ("h264:1280x720:3000k", "h264_1280x720_3000k", "bitrate", None, 3000, None, None),
        ("hevc:1920x1080:crf24", "hevc_1920x1080_crf24", "crf", 24, None, None, None),
        ("av1:640x360:crf35@600k", "av1_640x360_crf35max600k", "capped_crf", 35, None, 600, 1200),
        ("H265:1280x720:3.5M@5M", "hevc_1280x720_3500kmax5000k", "bitrate", None, 3500, 5000, 10000),
        ("vp9:426x240:crf33.0", "vp9_426x240_crf33", "crf", 33, None, None, None),
        ("avc:854x480:crf22.5@1050k", "h264_854x480_crf22.5max1050k", "capped_crf", 22.5, None, 1050, 2100),
    ],
)
def test_parse_rung(spec, name, mode, crf, bitrate, maxrate, bufsize):
    r = parse_rung(spec)
    assert r.name == name
    assert (r.rate.mode, r.rate.crf, r.rate.bitrate_kbps, r.rate.maxrate_kbps, r.rate.bufsize_kbits) == (
        mode,
        crf,
        bitrate,
        maxrate,
        bufsize,
    )
    assert (r.preset, r.gop_seconds, r.effective_preset) == (None, 2.0, codecs.DEFAULT_PRESET[r.codec])
    assert Rendition.from_json(r.to_json()) == r


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("h264:1280x720", "expected CODEC:WxH:RATE"),
        ("mpeg2:720x576:3000k", "expected CODEC:WxH:RATE"),
        ("h264:1280*720:3000k", "expected CODEC:WxH:RATE"),
        ("h264:1280x720:fast", "RATE must look like"),
        ("h264:1280x720:crf60", "crf 60 is above 51"),
        ("av1:1280x720:crf30.5", "whole number"),
        ("av1:1280x720:3000k@4000k", "crfN@MAXk"),
        ("vp9:1280x720:3000k@4000k", "crfN@MAXk"),
        ("h264:1280x720:3000k@2000k", "below the target"),
        ("h264:8x720:crf23", "width 8 is outside"),
        ("hevc:1280x90000:crf23", "height 90000 is outside"),
    ],
)
def test_parse_rung_refuses_bad_specs_in_one_line(spec, words):
    with pytest.raises(UsageError) as exc:
        parse_rung(spec)
    msg = str(exc.value)
    assert words in msg and spec in msg and "\n" not in msg


def test_rendition_validates_encoder_settings():
    ok = dict(codec="h264", width=320, height=180, rate=RateControl(mode="crf", crf=23))
    for bad, words in [
        ({"preset": "8"}, "not one of ultrafast"),
        ({"codec": "av1", "preset": "medium"}, "not a number in -2..13"),
        ({"codec": "vp9", "preset": "9"}, "not a number in 0..8"),
        ({"codec": "hevc", "pix_fmt": "yuv420p10le"}, "pix_fmt 'yuv420p10le' is not one of yuv420p"),
        ({"profile": "main444"}, "profile 'main444'"),
        ({"level": "four"}, "level 'four'"),
        ({"gop_seconds": 0}, "gop_seconds 0"),
    ]:
        with pytest.raises(ValidationError, match=words):
            Rendition(**{**ok, **bad})
    for bad_rate in [
        {"mode": "crf"},
        {"mode": "crf", "crf": 23, "maxrate_kbps": 900},
        {"mode": "capped_crf", "crf": 23},
        {"mode": "bitrate"},
        {"mode": "bitrate", "bitrate_kbps": 900, "crf": 23},
        {"mode": "bitrate", "bitrate_kbps": -5},
    ]:
        with pytest.raises(ValidationError):
            RateControl(**bad_rate)
    assert [a.name for a in DEFAULT_AUDIO] == ["aac_128k", "opus_96k"]
    assert AudioRendition(codec="aac", bitrate_kbps=384, channels=6, sample_rate=44100).name == "aac_384k_6ch_44khz"
    with pytest.raises(ValidationError, match="Opus is always 48000"):
        AudioRendition(codec="opus", bitrate_kbps=96, sample_rate=44100)


def _flags(args: list[str]) -> dict[str, str]:
    return {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}


@pytest.mark.parametrize("codec", CODECS)
def test_rate_control_arguments_per_codec(codec):
    crf = _flags(video_args(rung(codec, mode="crf", crf=30), gop_frames=48))
    assert crf["-crf"] == "30" and "-maxrate" not in crf and "-bufsize" not in crf
    assert crf["-g"] == "48"
    capped = _flags(video_args(rung(codec, mode="capped_crf", crf=30, maxrate_kbps=800), gop_frames=48))
    if codec in ("h264", "hevc"):
        assert (capped["-maxrate"], capped["-bufsize"]) == ("800k", "1600k")
    elif codec == "av1":
        assert capped["-maxrate"] == "800k" and "mbr-overshoot-pct=10" in capped["-svtav1-params"]
        assert "-bufsize" not in capped  # SVT-AV1 uses a buffer size only in CBR
    else:
        assert capped["-b:v"] == "800k" and "-maxrate" not in capped  # libvpx constrained quality
    if codec == "vp9":
        assert crf["-b:v"] == "0"  # constant quality, not a 0 kb/s target
    plain = _flags(video_args(rung(codec, mode="bitrate", bitrate_kbps=700), gop_frames=48))
    assert plain["-b:v"] == "700k" and "-crf" not in plain and "-maxrate" not in plain


# --- GOP structure ------------------------------------------------------------------------------------


def test_keyframes_on_the_gop_grid_in_every_rung_and_codec_one_process_per_codec(tiny, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(Progress, "LOG_EVERY", 0.0)  # tiny encodes finish within the usual interval
    rungs = [rung(c, w, h) for c in CODECS for (w, h) in ((320, 180), (160, 90))]
    result = encode(tiny["testsrc2"], rungs, tmp_path / "out", audio=(), show_progress=True)

    assert (result.frame_rate, result.gop_frames) == ("30", 15)
    grid = [0.0, 0.5, 1.0, 1.5]  # 2 s at 30 fps, GOP 0.5 s = 15 frames
    for f in result.video:
        assert keyframes(Path(f.path)) == grid, f.rendition.name
        assert (f.width, f.height, f.frames) == (f.rendition.width, f.rendition.height, 60)
        assert f.duration == pytest.approx(2.0, abs=0.05) and f.peak_bitrate_kbps >= f.bitrate_kbps * 0.99
    assert [stream(Path(f.path))["codec_name"] for f in result.video[::2]] == list(CODECS)
    assert stream(Path(result.video[2].path))["codec_tag_string"] == "hvc1"
    assert sorted(leftovers(tmp_path / "out")) == sorted(f"{r.name}.mp4" for r in rungs)  # no staging left

    # Decode once per codec: four ffmpeg processes, each splitting one decode into its two rungs.
    runs = ffmpeg_runs(caplog)
    assert len(runs) == 4
    for argv, codec in zip(runs, CODECS, strict=True):
        assert argv.count("-i") == 1 and "split=2" in argv[argv.index("-filter_complex") + 1]
        assert argv.count(codecs.ENCODERS[codec]) == 2
    # Progress from -progress reaches the log when stderr is not a terminal.
    assert any(r.name == "vodflow.progress" and "encode av1 x2" in r.getMessage() for r in caplog.records)
    assert EncodeResult.from_json(result.to_json()) == result


def test_per_rung_mode_runs_a_process_per_rung_with_the_same_gops(tiny, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    rungs = [rung("h264", 320, 180), rung("h264", 160, 90)]
    result = encode(tiny["pan"], rungs, tmp_path, audio=(), show_progress=False, decode_once=False)
    runs = ffmpeg_runs(caplog)
    assert len(runs) == 2 and all("split=1" in a[a.index("-filter_complex") + 1] for a in runs)
    assert [keyframes(Path(f.path)) for f in result.video] == [[0.0, 0.5, 1.0, 1.5]] * 2


def test_a_scene_cut_mid_gop_gets_no_extra_keyframe(tmp_path):
    src = media.scene_cut(tmp_path)  # 3 s, hard cut at 1.5 s
    # The cut is strong enough: x264 with its default scene-cut detection puts a keyframe on it.
    control = tmp_path / "control.mp4"
    run_ffmpeg(["-i", src, "-c:v", "libx264", "-preset", "veryfast", "-g", "30", control], show_progress=False)
    assert 1.5 in keyframes(control)

    result = encode(src, [rung(c, 160, 90, gop=1.0) for c in CODECS], tmp_path / "out", audio=(), show_progress=False)
    assert [keyframes(Path(f.path)) for f in result.video] == [[0.0, 1.0, 2.0]] * 4


# --- rate control -------------------------------------------------------------------------------------

CRF = {"h264": 23, "hevc": 20, "av1": 28, "vp9": 30}
# How far above the cap one GOP window may go. x264/x265: a VBV of maxrate with half a second of buffer
# lets a one-second window through at 1.5x. SVT-AV1: its cap plus the 10 % overshoot we allow. libvpx
# only bounds the average in constrained quality, and a 2 s clip gives it little room to converge.
PEAK_SLACK = {"h264": 1.5, "hevc": 1.5, "av1": 1.25, "vp9": 1.5}
AVERAGE_SLACK = {"h264": 1.25, "hevc": 1.25, "av1": 1.25, "vp9": 1.35}


def test_capped_crf_holds_the_cap_that_plain_crf_exceeds(tiny, tmp_path):
    cap = 300
    rungs = []
    for c in CODECS:
        rungs.append(rung(c, gop=1.0, mode="crf", crf=CRF[c]))
        rungs.append(rung(c, gop=1.0, mode="capped_crf", crf=CRF[c], maxrate_kbps=cap, bufsize_kbits=cap // 2))
    rungs += [
        rung("h264", gop=1.0, mode="bitrate", bitrate_kbps=cap),
        rung("hevc", gop=1.0, mode="bitrate", bitrate_kbps=cap),
    ]
    result = encode(tiny["grain"], rungs, tmp_path, audio=(), show_progress=False)
    by_name = {f.rendition.name: f for f in result.video}
    for c in CODECS:
        free, capped = by_name[f"{c}_320x180_crf{CRF[c]}"], by_name[f"{c}_320x180_crf{CRF[c]}max{cap}k"]
        assert free.bitrate_kbps > 2 * cap, c  # the cap binds on this grainy clip
        assert capped.bitrate_kbps < AVERAGE_SLACK[c] * cap, (c, capped.bitrate_kbps)
        assert capped.peak_bitrate_kbps < PEAK_SLACK[c] * cap, (c, capped.peak_bitrate_kbps)
    for c in ("h264", "hevc"):
        assert by_name[f"{c}_320x180_{cap}k"].bitrate_kbps == pytest.approx(cap, rel=0.2)


# --- odd but valid inputs -----------------------------------------------------------------------------


def test_odd_dimensions_are_rounded_down_to_even_sizes(odd, tmp_path):
    result = encode(odd["odd_dimensions"], [rung("h264", 853, 479)], tmp_path, show_progress=False)
    (f,) = result.video
    assert (f.width, f.height, f.rendition.name) == (852, 478, "h264_852x478_crf30")
    s = stream(Path(f.path))
    assert (s["width"], s["height"], s["pix_fmt"]) == (852, 478, "yuv420p")
    assert any("853x479 rounded down to 852x478" in w for w in result.warnings)


def test_vfr_source_is_encoded_at_a_constant_rate(odd, tmp_path):
    result = encode(odd["vfr"], [rung("h264", 160, 90)], tmp_path, show_progress=False)
    s = stream(Path(result.video[0].path))
    assert s["avg_frame_rate"] == s["r_frame_rate"] == "30/1"
    assert result.video[0].frames == 60 and any("variable frame rate" in w for w in result.warnings)


def interlace_counts(path: Path) -> dict[str, int]:
    """ffmpeg's idet verdict over the whole file: frames judged TFF, BFF and progressive."""
    lines: list[str] = []
    run_ffmpeg(["-i", path, "-vf", "idet", "-f", "null", "-"], on_stderr=lines.append, show_progress=False)
    last = [ln for ln in lines if "Multi frame detection" in ln][-1]
    return {k: int(v) for k, v in re.findall(r"(TFF|BFF|Progressive):\s*(\d+)", last)}


def test_interlaced_source_is_deinterlaced_at_its_frame_rate(odd, tmp_path):
    assert interlace_counts(odd["interlaced"])["TFF"] >= 45  # the source is combed in nearly every frame
    result = encode(odd["interlaced"], [rung("h264", 320, 180)], tmp_path, show_progress=False)
    out = Path(result.video[0].path)
    s = stream(out)
    assert s["field_order"] == "progressive" and s["avg_frame_rate"] == "25/1"
    counts = interlace_counts(out)
    assert counts["Progressive"] >= 40 and counts["TFF"] + counts["BFF"] <= 10, counts
    assert result.video[0].frames == 50 and any("deinterlaced" in w for w in result.warnings)


def test_single_frame_source_gives_one_frame_in_every_codec(odd, tmp_path):
    result = encode(odd["single_frame"], [rung(c, 160, 90) for c in CODECS], tmp_path, show_progress=False)
    assert [(f.frames, keyframes(Path(f.path))) for f in result.video] == [(1, [0.0])] * 4


def test_source_without_audio_gives_video_only_and_a_warning(odd, tmp_path):
    result = encode(odd["no_audio"], [rung("h264", 160, 90)], tmp_path, show_progress=False)
    assert result.audio == [] and len(result.video) == 1
    assert any("no audio stream; audio renditions skipped" in w for w in result.warnings)
    assert leftovers(tmp_path) == ["h264_160x90_crf30.mp4"]


# --- bad inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("missing", UsageError, "no such file"),
        ("directory", UsageError, "is a directory"),
        ("empty", ProbeError, "empty file"),
        ("text_as_mp4", ProbeError, "not a media file"),
        ("truncated", ProbeError, "truncated"),
        ("truncated_faststart", ProbeError, "truncated MP4: its index lists"),
        ("audio_only", NoVideoStream, "no video stream"),
        ("huge_frame", UnsupportedMedia, "10000x10000 is too large"),
        ("lying_duration", ProbeError, "claims 60.0 s but its streams hold 2.0 s"),
    ],
)
def test_bad_input_fails_in_one_line_and_leaves_nothing(odd, tmp_path, name, error, words):
    out = tmp_path / "out"
    with pytest.raises(error) as exc:
        encode(odd[name], [rung("h264", 160, 90), rung("vp9", 160, 90)], out, show_progress=False)
    msg = str(exc.value)
    assert words in msg and str(odd[name]) in msg and "\n" not in msg
    assert leftovers(out) == []


@pytest.mark.parametrize(
    ("build", "words"),
    [
        # Header and stream tag both say 60 s: only the decode shows 2 s, after the h264 process
        # has written its output, which must go too.
        (media.lying_everywhere, "claims 60.0 s but only 2.0 s of video decoded"),
        # Well indexed, zeros inside: the decoder's first error stops the run (-xerror).
        (media.corrupted, "decoding failed: Invalid NAL unit size"),
    ],
)
def test_decode_problems_found_during_the_encode_leave_nothing(tmp_path, build, words):
    src = build(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(DecodeError) as exc:
        encode(src, [rung("h264", 160, 90), rung("vp9", 160, 90)], out, show_progress=False)
    msg = str(exc.value)
    assert words in msg and str(src) in msg and "\n" not in msg
    assert leftovers(out) == []


def test_rung_sets_that_cannot_share_a_title_are_refused(tiny, tmp_path):
    with pytest.raises(UsageError, match="same gop_seconds"):
        encode(tiny["pan"], [rung("h264", gop=1.0), rung("vp9", gop=2.0)], tmp_path / "a", show_progress=False)
    with pytest.raises(UsageError, match="same file: h264_320x180_crf30"):
        encode(tiny["pan"], [rung("h264"), rung("h264", 321, 181)], tmp_path / "b", show_progress=False)
    assert leftovers(tmp_path) == []


def test_an_option_the_encoder_ignores_is_an_error(tiny, tmp_path, monkeypatch):
    # HEVC arguments handed to the wrong encoder: libx264 does not know -x265-params, and ffmpeg only
    # warns that the option "has not been used for any stream".
    monkeypatch.setitem(codecs.ENCODERS, "hevc", "libx264")
    out = tmp_path / "out"
    with pytest.raises(EncoderOptionError, match=r"x265-params.*has not been used for any stream"):
        encode(tiny["pan"], [rung("h264", 160, 90), rung("hevc", 160, 90)], out, show_progress=False)
    assert leftovers(out) == []


def test_a_parameter_string_the_encoder_cannot_parse_is_an_error(tiny, tmp_path, monkeypatch):
    # libx264 only warns about a key it does not know in -x264-params and encodes without it.
    real = encode_args.video_args
    monkeypatch.setattr(encode_args, "video_args", lambda r, **kw: [*real(r, **kw), "-x264-params", "no-such-key=1"])
    with pytest.raises(EncoderOptionError, match=r"libx264 @ .*Error parsing option 'no-such-key = 1'"):
        encode(tiny["pan"], [rung("h264", 160, 90)], tmp_path / "out", show_progress=False)
    assert leftovers(tmp_path / "out") == []


# --- audio --------------------------------------------------------------------------------------------


def test_every_source_language_gets_every_audio_rendition(tmp_path):
    src = media.multilang(tmp_path)
    result = encode(src, [rung("h264", 160, 90)], tmp_path / "out", show_progress=False)
    got = [(Path(f.path).name, f.language, f.channels) for f in result.audio]
    assert got == [
        ("aac_128k_eng.mp4", "eng", 2),
        ("opus_96k_eng.mp4", "eng", 2),
        ("aac_128k_fra.mp4", "fra", 2),  # 5.1 source, stereo downmix
        ("opus_96k_fra.mp4", "fra", 2),
    ]
    for f in result.audio:
        s = ffprobe(Path(f.path), "stream=channels:stream_tags=language")["streams"][0]
        assert (s["channels"], s["tags"]["language"]) == (2, f.language)
    assert (result.audio[0].source_stream, result.audio[2].source_stream) == (1, 2)


def test_audio_renditions_from_a_51_source(tmp_path):
    src = media.surround(tmp_path, sample_rate=44100)
    result = encode(src, [rung("h264", 160, 90)], tmp_path / "out", show_progress=False)
    assert [f.rendition for f in result.audio] == list(DEFAULT_AUDIO)
    for f, codec, kbps in zip(result.audio, ("aac", "opus"), (128, 96), strict=True):
        s = stream(Path(f.path))
        assert (s["codec_name"], s["channels"], s["sample_rate"]) == (codec, 2, "48000")
        assert (f.channels, f.sample_rate) == (2, 48000)
        assert f.bitrate_kbps == pytest.approx(kbps, rel=0.15), codec
        assert f.duration == pytest.approx(2.0, abs=0.1)
    assert float(Fraction(stream(Path(result.video[0].path))["avg_frame_rate"])) == 30
