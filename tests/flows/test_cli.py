"""The CLI as a user meets it: a real `vodflow` process, its exit code and what it prints."""

import json
import sys

import pytest

from vodflow.process import run

BAD_FOR_BOTH = {
    # name in the `odd` fixture: (exit code, words the one-line error must contain)
    "missing": (2, "no such file"),
    "directory": (2, "is a directory"),
    "empty": (1, "empty file"),
    "text_as_mp4": (1, "not a media file"),
    "truncated": (1, "truncated"),
    "truncated_faststart": (1, ""),
    "huge_frame": (1, "10000x10000"),
    "lying_duration": (1, ""),
}
GOOD_BUT_ODD = ["odd_dimensions", "vfr", "interlaced", "single_frame", "no_audio"]


def vodflow(*args):
    return run([sys.executable, "-m", "flows.cli", *map(str, args)], check=False, timeout=300)


def assert_one_line_error(res, path, code, words):
    assert res.returncode == code, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert str(path) in lines[0] and words in lines[0]


def test_help_lists_every_command():
    res = vodflow("--help")
    assert res.returncode == 0
    for command in ("probe", "qa", "encode", "quality", "samples", "tools", "demo"):
        assert command in res.stdout


def test_usage_errors_exit_2():
    assert vodflow().returncode == 2
    assert vodflow("encode", "x.mp4").returncode == 2  # --out is required


@pytest.mark.parametrize("name", sorted(BAD_FOR_BOTH))
def test_qa_rejects_bad_input_with_one_line(odd, name):
    code, words = BAD_FOR_BOTH[name]
    assert_one_line_error(vodflow("qa", odd[name]), odd[name], code, words)


def test_qa_rejects_audio_only(odd):
    assert_one_line_error(vodflow("qa", odd["audio_only"]), odd["audio_only"], 1, "video")


@pytest.mark.parametrize("name", [*sorted(BAD_FOR_BOTH), "audio_only"])
def test_encode_rejects_bad_input_and_leaves_nothing(odd, tmp_path, name):
    code, words = BAD_FOR_BOTH.get(name, (1, "no video stream"))
    out = tmp_path / "out"
    res = vodflow("encode", odd[name], "--rung", "h264:160x90:200k", "--out", out)
    assert_one_line_error(res, odd[name], code, words)
    assert not out.exists() or not any(out.rglob("*"))


@pytest.mark.parametrize("name", GOOD_BUT_ODD)
def test_qa_passes_odd_but_valid_input(odd, name):
    res = vodflow("qa", "--json", odd[name])
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["passed"] is True


@pytest.mark.parametrize("name", GOOD_BUT_ODD)
def test_encode_handles_odd_but_valid_input(odd, tmp_path, name):
    res = vodflow("encode", "--json", odd[name], "--rung", "h264:320x180:crf28@400k", "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    (video,) = result["video"]
    assert video["width"] % 2 == 0 and video["height"] % 2 == 0
    assert video["frames"] >= 1
    assert (tmp_path / video["path"].rsplit("/", 1)[-1]).exists()


def test_probe_json_round_trips(tiny):
    res = vodflow("probe", "--json", tiny["bbb"])
    assert res.returncode == 0
    assert json.loads(res.stdout)["video"]["fps"] == 25


def test_tools_json_names_every_binary():
    found = json.loads(vodflow("tools", "--json").stdout)
    assert set(found) == {"ffmpeg", "ffprobe", "packager", "ffmpeg-vmaf", "weed"}
