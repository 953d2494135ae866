"""Source QA against real media made by ffmpeg: the tiny corpus, the odd inputs and clips with known defects."""

import json
import logging
import math
from pathlib import Path

import pytest

from pipeline.qa import qa
from pipeline.qa_records import QAPolicy, QAReport
from tests import media
from vodflow import tools
from vodflow.errors import ProbeError, QAFailed, UsageError

TINY = ["pan", "testsrc2", "grain", "bbb"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("qa")
    return {
        # 12 s: black 2..5 s, one frame held 5..11 s, digital silence 3..9 s.
        "stretches": media.stretches(d),
        # 95 % black over a dead (silent) track: not a title.
        "all_black": media.stretches(
            d, "all_black.mp4", black=(0.0, 3.8), frozen=(3.8, 0.0), silence=(0.0, 4.0), seconds=4.0
        ),
    }


def run(path: Path, policy: QAPolicy | None = None) -> QAReport:
    return qa(path, policy, show_progress=False)


def by_name(report: QAReport) -> dict:
    return {c.name: c for c in report.checks}


@pytest.mark.parametrize("name", TINY)
def test_tiny_samples_pass(tiny, name):
    r = run(tiny[name])
    checks = by_name(r)
    assert r.passed, r.failures()
    assert r.decoded_seconds == pytest.approx(2.0, abs=0.05)
    assert checks["decode"].value == 0 and checks["decode"].severity == "info"
    assert checks["interlacing"].value == "progressive"
    assert checks["av_gap"].severity == "info"
    # Everything is measured; the only thing a 2 s excerpt may be is quiet (bbb opens with birdsong).
    assert {"black", "frozen", "silence", "loudness", "true_peak", "vfr", "container_duration"} <= checks.keys()
    assert [c.name for c in r.warnings() if c.name != "loudness"] == []


def test_one_ffmpeg_pass(tiny, caplog):
    ffmpeg = str(tools.find(tools.Tool.FFMPEG))
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        run(tiny["testsrc2"])
    runs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run: ")]
    assert len([m for m in runs if m.startswith(f"run: {ffmpeg} ")]) == 1, runs


def test_black_frozen_and_silent_stretches_are_found(clips):
    r = run(clips["stretches"])
    c = by_name(r)
    assert r.passed
    assert c["black"].severity == "warn"
    assert c["black"].at == pytest.approx(2.0, abs=0.1) and c["black"].value == pytest.approx(3.0, abs=0.1)
    # The black stretch is frozen too; it is reported once, as black.
    assert c["frozen"].severity == "warn"
    assert c["frozen"].at == pytest.approx(5.0, abs=0.1) and c["frozen"].value == pytest.approx(6.0, abs=0.1)
    assert c["silence"].severity == "warn"
    assert c["silence"].at == pytest.approx(3.0, abs=0.1) and c["silence"].value == pytest.approx(6.0, abs=0.1)
    assert c["black"].reason == "3.0 s of black from 2.0 s (longest stretch)"
    assert r.decoded_seconds == pytest.approx(12.0, abs=0.05)


def test_policy_thresholds_decide_the_severity(clips):
    lenient = QAPolicy(black_warn_seconds=4, frozen_warn_seconds=7, silence_warn_seconds=7)
    c = by_name(run(clips["stretches"], lenient))
    assert [c[n].severity for n in ("black", "frozen", "silence")] == ["info", "info", "info"]
    assert c["black"].value == pytest.approx(3.0, abs=0.1)  # still measured and reported
    assert QAPolicy.from_json(lenient.to_json()) == lenient


def test_a_black_title_with_a_dead_track_fails(clips):
    r = run(clips["all_black"])
    c = by_name(r)
    assert not r.passed
    assert c["black"].severity == "fail" and c["black"].reason.startswith("95% black (3.8 of 4.0 s)")
    assert c["silence"].severity == "fail" and c["silence"].reason.startswith("100% silent")
    assert c["frozen"].severity == "info"  # the black is not counted again as frozen


@pytest.mark.parametrize("amplitude", [0.1, 0.95, 0.005])
def test_loudness_and_true_peak_of_a_known_tone(tmp_path, amplitude):
    # BS.1770 calibrates K-weighting so that a 997 Hz full-scale sine in one channel reads -3.01 LKFS; the
    # same sine in both stereo channels doubles the power (+3.01 dB): 20*log10(amplitude) LUFS. Its true
    # peak is its amplitude.
    expected = 20 * math.log10(amplitude)
    c = by_name(run(media.tone(tmp_path, "tone.mp4", amplitude=amplitude)))
    assert c["loudness"].value == pytest.approx(expected, abs=1.0)
    assert c["true_peak"].value == pytest.approx(expected, abs=1.0)
    lo, hi = QAPolicy().loudness_range
    assert c["loudness"].severity == ("info" if lo <= expected <= hi else "warn")
    assert c["true_peak"].severity == ("warn" if expected > -1 else "info")


def test_interlaced_source_passes_with_a_deinterlace_warning(odd):
    r = run(odd["interlaced"])
    il = by_name(r)["interlacing"]
    assert r.passed
    assert il.severity == "warn" and il.value == "tt"
    assert il.reason.startswith("interlaced (tt): will be deinterlaced")
    assert "idet: 100%" in il.reason  # measured, not only read from the stream flags


def test_vfr_source_passes_with_a_constant_rate_warning(odd):
    r = run(odd["vfr"])
    vfr = by_name(r)["vfr"]
    assert r.passed
    assert vfr.severity == "warn" and vfr.value > 0.3
    assert vfr.reason.endswith("will be encoded at a constant 30 fps")


def test_odd_frame_size_passes_with_a_warning(odd):
    r = run(odd["odd_dimensions"])
    res = by_name(r)["resolution"]
    assert r.passed
    assert res.severity == "warn" and res.value == "853x479"


def test_single_frame_passes_but_is_short(odd):
    r = run(odd["single_frame"])
    c = by_name(r)
    assert r.passed
    assert c["duration"].severity == "warn" and c["duration"].value == pytest.approx(1 / 30, abs=0.01)
    assert c["decode"].reason.startswith("1 video frames decoded")


def test_no_audio_passes_with_a_warning(odd):
    r = run(odd["no_audio"])
    c = by_name(r)
    assert r.passed
    assert c["audio"].severity == "warn" and "no audio" in c["audio"].reason
    assert not {"silence", "loudness", "true_peak", "av_gap"} & c.keys()


def test_lying_duration_fails(odd):
    r = run(odd["lying_duration"])
    cd = by_name(r)["container_duration"]
    assert not r.passed
    assert r.decoded_seconds == pytest.approx(2.0, abs=0.05)
    assert cd.severity == "fail" and cd.value == pytest.approx(58.0, abs=0.1)
    assert "60.00 s" in cd.reason and "2.00 s" in cd.reason


def test_truncated_faststart_fails_with_decode_errors_and_a_short_decode(odd):
    r = run(odd["truncated_faststart"])
    failed = {c.name: c for c in r.failures()}
    assert {"decode", "container_duration"} <= failed.keys()
    assert failed["decode"].value > 0 and "decode error" in failed["decode"].reason
    assert all("\n" not in c.reason for c in r.checks)


def test_huge_frame_is_refused_without_decoding(odd):
    r = run(odd["huge_frame"])
    assert not r.passed
    assert r.decoded_seconds is None
    assert [(c.name, c.severity) for c in r.checks] == [("resolution", "fail")]
    assert "10000x10000" in r.checks[0].reason


def test_audio_only_is_not_a_title(odd):
    r = run(odd["audio_only"])
    assert not r.passed and r.decoded_seconds is None
    assert [(c.name, c.severity) for c in r.checks] == [("video", "fail")]
    assert "no video stream" in r.checks[0].reason


def test_raise_for_failure_names_the_file_in_one_line(odd, tiny):
    r = run(odd["lying_duration"])
    with pytest.raises(QAFailed) as err:
        r.raise_for_failure()
    text = str(err.value)
    assert text.startswith(f"{odd['lying_duration']}: QA failed: container_duration: the container says 60.00 s")
    assert "\n" not in text and err.value.report is r and err.value.exit_code == 1
    run(tiny["pan"]).raise_for_failure()  # a passing report does not raise


@pytest.mark.parametrize("source", ["stretches", "lying_duration"])
def test_report_json_round_trip(clips, odd, source):
    r = run(clips.get(source) or odd[source])
    text = r.to_json()
    assert json.loads(text)["passed"] is r.passed
    assert QAReport.from_json(text) == r


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("missing", UsageError),
        ("directory", UsageError),
        ("empty", ProbeError),
        ("text_as_mp4", ProbeError),
        ("truncated", ProbeError),
    ],
)
def test_unreadable_inputs_raise(odd, name, error):
    with pytest.raises(error):
        run(odd[name])
