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
    return run([sys.executable, "-m", "cli.main", *map(str, args)], check=False, timeout=300)


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


def test_ladder_then_encode_with_it_records_measured_beside_predicted(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VODFLOW_CACHE", str(tmp_path / "cache"))
    ladder_json, png = tmp_path / "ladder.json", tmp_path / "hull.png"
    res = vodflow("ladder", tiny["testsrc2"], "--out", ladder_json, "--plot", png, "--json")
    assert res.returncode == 0, res.stderr
    ladder = json.loads(res.stdout)
    assert ladder["kind"] == "per-title" and ladder["rungs"]
    assert all(r["codec"] == "h264" and r["rate"]["mode"] == "capped_crf" for r in ladder["rungs"])
    assert ladder_json.exists() and png.stat().st_size > 1000
    assert (tmp_path / "cache").is_dir()  # probes cached by content hash, where VODFLOW_CACHE says

    out = tmp_path / "enc"
    res = vodflow("encode", "--json", tiny["testsrc2"], "--ladder", ladder_json, "--out", out, "--no-audio")
    assert res.returncode == 0, res.stderr
    verified = json.loads(res.stdout)
    assert len(verified["rungs"]) == len(ladder["rungs"])
    for rung in verified["rungs"]:
        assert 0 < rung["measured_vmaf"] <= 100 and rung["measured_kbps"] > 0
        assert rung["predicted_vmaf"] is not None
    assert json.loads((out / "ladder.json").read_text()) == verified


def test_encode_with_the_fixed_ladder(tiny, tmp_path):
    res = vodflow("encode", "--json", tiny["bbb"], "--ladder", "fixed", "--out", tmp_path, "--every", "5")
    assert res.returncode == 0, res.stderr
    ladder = json.loads(res.stdout)
    # Capped at the 320x180 source, every reference rung keeps its bitrate at the source's size.
    assert ladder["kind"] == "fixed" and {r["rate"]["mode"] for r in ladder["rungs"]} == {"bitrate"}
    assert [(r["width"], r["height"], r["bitrate_kbps"]) for r in ladder["rungs"]] == [
        (320, 180, kbps) for kbps in (300, 1050, 3000, 5800)
    ]
    assert all(r["measured_vmaf"] > 0 for r in ladder["rungs"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--codecs", "mpeg2"], "--codecs 'mpeg2': choose from"),
        (["--ladder", "nope.json"], "nope.json: no such ladder file"),
    ],
)
def test_ladder_usage_errors_are_one_line(tiny, tmp_path, args, words):
    cmd = "ladder" if args[0] == "--codecs" else "encode"
    extra = [] if cmd == "ladder" else ["--out", tmp_path]
    res = vodflow(cmd, tiny["pan"], *args, *extra)
    assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr
