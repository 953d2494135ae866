"""Per-title analysis on the tiny samples: real probe encodes, real VMAF, a real cache on disk."""

from __future__ import annotations

import itertools
import logging
import statistics
from pathlib import Path

import pytest

from ladders.analyze import analyze
from ladders.cache import ProbeResult
from ladders.excerpts import excerpts
from ladders.hull import hull
from ladders.model import RDPoints
from ladders.policy import AnalysisPolicy
from pipeline.probe import probe
from tests import media
from vodflow.errors import NoVideoStream, UsageError
from vodflow.state import State, folder

CODECS = ("h264", "hevc", "av1", "vp9")
# Few probes so the file stays quick; 1080 is above the 320x180 source and must be dropped.
POLICY = AnalysisPolicy(
    heights=(1080, 180, 90),
    crfs={"h264": (22, 36), "hevc": (24, 38), "av1": (30, 50), "vp9": (30, 50)},
    presets={"h264": "veryfast", "hevc": "ultrafast", "av1": "12", "vp9": "8"},
    subsample=2,
    extend=0,  # the adaptive ends have their own tests
    extend_down=0,
)
SIZES = [(320, 180), (160, 90)]


def _runs(caplog) -> list[str]:
    """Commands run since the last clear, as logged by vodflow.process."""
    return [r.getMessage() for r in caplog.records if r.name == "vodflow.process" and r.getMessage().startswith("run:")]


def _ffmpeg_runs(caplog) -> list[str]:
    return [cmd for cmd in _runs(caplog) if "ffprobe" not in cmd.split()[1]]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("analysis-cache")


@pytest.fixture(scope="module")
def points(tiny, cache) -> RDPoints:
    return analyze(tiny["testsrc2"], CODECS, POLICY, cache=cache, show_progress=False)


def _by_key(points: RDPoints):
    return {(p.codec, p.width, p.height, p.crf): p for p in points.points}


def test_a_point_for_every_codec_size_and_crf_up_to_the_source(points, tiny):
    expected = {(c, w, h, crf) for c in CODECS for (w, h) in SIZES for crf in POLICY.crfs_for(c)}
    assert set(_by_key(points)) == expected
    assert len(points.points) == len(expected)
    assert points.codecs == list(CODECS)
    assert (points.width, points.height, points.fps) == (320, 180, 30.0)
    assert points.source_hash and len(points.source_hash) == 64
    assert points.excerpts == [(0.0, pytest.approx(2.0, abs=0.05))]  # 2 s: analysed whole
    assert points.seconds > 0
    for p in points.points:
        assert p.preset == POLICY.preset_for(p.codec)
        assert p.encode_seconds > 0


def test_bitrate_falls_as_crf_rises_and_as_resolution_falls(points):
    pts = _by_key(points)
    for c in CODECS:
        lo, hi = POLICY.crfs_for(c)
        for w, h in SIZES:
            assert pts[(c, w, h, lo)].bitrate_kbps > pts[(c, w, h, hi)].bitrate_kbps, (c, w, h)
        for crf in (lo, hi):
            assert pts[(c, 320, 180, crf)].bitrate_kbps > pts[(c, 160, 90, crf)].bitrate_kbps, (c, crf)


def test_quality_falls_as_crf_rises_and_pools_as_defined(points):
    pts = _by_key(points)
    for c in CODECS:
        lo, hi = POLICY.crfs_for(c)
        for w, h in SIZES:
            a, b = pts[(c, w, h, lo)], pts[(c, w, h, hi)]
            assert a.vmaf > b.vmaf and a.ssim > b.ssim, (c, w, h)
    for p in points.points:
        assert 0 <= p.vmaf_p5 <= p.vmaf <= 100
        assert p.vmaf_hm <= p.vmaf
        assert 0 < p.ssim <= 1


def test_a_second_analysis_runs_nothing_and_returns_the_same_points(points, tiny, cache, caplog):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        again = analyze(tiny["testsrc2"], CODECS, POLICY, cache=cache, show_progress=False)
    assert _runs(caplog) == []  # not even ffprobe: the probe is cached under the content hash too
    assert again.points == points.points
    assert again.seconds == 0.0
    assert again.model_copy(update={"seconds": points.seconds}) == points


def test_a_changed_setting_measures_only_what_it_changes(points, tiny, cache, caplog):
    more = POLICY.model_validate({**POLICY.model_dump(), "crfs": {**POLICY.crfs, "h264": (22, 29, 36)}})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        result = analyze(tiny["testsrc2"], CODECS, more, cache=cache, show_progress=False)
    runs = _ffmpeg_runs(caplog)
    encodes = [cmd for cmd in runs if "libvmaf" not in cmd]
    assert len(encodes) == 1  # h264 only, one process for both new probes
    assert encodes[0].count("-crf 29") == len(SIZES) and "-crf 22" not in encodes[0]
    assert len(runs) == 2  # and one VMAF process
    old, new = _by_key(points), _by_key(result)
    assert {k for k in new if k not in old} == {("h264", w, h, 29) for w, h in SIZES}
    assert all(new[k] == old[k] for k in old)
    # Fewer CRFs than cached: a subset, nothing run.
    caplog.clear()
    fewer = POLICY.model_validate({**POLICY.model_dump(), "crfs": {**POLICY.crfs, "h264": (36,)}})
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        subset = analyze(tiny["testsrc2"], ["h264"], fewer, cache=cache, show_progress=False)
    assert _runs(caplog) == []
    assert subset.points == [old[("h264", w, h, 36)] for w, h in SIZES]


def test_an_interrupted_analysis_resumes_with_what_is_cached(tiny, tmp_path, caplog):
    policy = POLICY.model_validate({**POLICY.model_dump(), "presets": {"h264": "veryfast"}})
    first = analyze(tiny["pan"], ["h264"], policy, cache=tmp_path, show_progress=False)
    entries = sorted((tmp_path / "probes").rglob("*.json"))
    assert len(entries) == len(first.points) == 4
    # As if the run had stopped before its last two probes were saved.
    for e in entries[:2]:
        e.unlink()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        resumed = analyze(tiny["pan"], ["h264"], policy, cache=tmp_path, show_progress=False)
    encodes = [cmd for cmd in _ffmpeg_runs(caplog) if "libvmaf" not in cmd]
    assert len(encodes) == 1 and encodes[0].count("-crf ") == 2
    assert [p.model_dump(exclude={"encode_seconds"}) for p in resumed.points] == [
        p.model_dump(exclude={"encode_seconds"}) for p in first.points
    ]


def test_sizes_that_own_the_cheap_end_of_the_hull_get_higher_crfs(tiny, tmp_path, caplog):
    # A floor below every probe: each size whose highest-CRF probe is on the hull gets the next CRF,
    # round after round, up to `extend` more; sizes below the hull get nothing.
    policy = POLICY.model_validate(
        {**POLICY.model_dump(), "crfs": {"h264": (24, 30)}, "extend": 2, "floor_kbps": 1.0, "extend_within": 1e9}
    )
    result = analyze(tiny["grain"], ["h264"], policy, cache=tmp_path, show_progress=False)
    grid = {(p.width, p.height, p.crf): p for p in result.points}
    extra = sorted(k for k in grid if k[2] > 30)
    assert extra, "the grid's cheap end was on the hull, so something must have been added"
    for w, h, crf in extra:
        assert crf in (36, 42)
        below = grid[(w, h, crf - 6)]  # the step is the grid's last one
        pts = [p for p in result.points if p.crf < crf]
        assert below in hull(pts).points, "only a size on the hull at its previous highest CRF grows"
    assert len(extra) <= 2 * len(SIZES)
    # Cached like the grid: a second run starts no process.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vodflow.process"):
        again = analyze(tiny["grain"], ["h264"], policy, cache=tmp_path, show_progress=False)
    assert _runs(caplog) == [] and again.points == result.points
    # Every probe far above the floor (more than extend_within times it): the grid alone, nothing measured.
    far = policy.model_validate({**policy.model_dump(), "extend_within": 1.0})
    assert {p.crf for p in analyze(tiny["grain"], ["h264"], far, cache=tmp_path, show_progress=False).points} == {
        24,
        30,
    }
    # A floor above every probe: the grid alone, and nothing measured.
    high = policy.model_validate({**policy.model_dump(), "floor_kbps": 1e6})
    only_grid = analyze(tiny["grain"], ["h264"], high, cache=tmp_path, show_progress=False)
    assert {p.crf for p in only_grid.points} == {24, 30} and only_grid.seconds == 0.0


def test_sizes_that_own_the_top_of_the_hull_short_of_the_target_get_lower_crfs(tiny, tmp_path):
    # A top above every probe: each size whose lowest-CRF probe is on the hull gets the next CRF down
    # (the grid's first step), round after round, up to `extend_down` more; the others get nothing.
    policy = POLICY.model_validate(
        {**POLICY.model_dump(), "crfs": {"h264": (30, 36)}, "extend_down": 2, "top_vmaf": 100.0}
    )
    result = analyze(tiny["grain"], ["h264"], policy, cache=tmp_path, show_progress=False)
    grid = {(p.width, p.height, p.crf): p for p in result.points}
    extra = sorted(k for k in grid if k[2] < 30)
    # The best point (the source size at its lowest CRF) always ends the hull, so it grows twice.
    assert (320, 180, 24) in grid and (320, 180, 18) in grid
    for w, h, crf in extra:
        assert crf in (24, 18)
        above = grid[(w, h, crf + 6)]
        assert above in hull(p for p in result.points if p.crf > crf).points, "only a size on the hull grows"
    assert grid[(320, 180, 18)].vmaf > grid[(320, 180, 24)].vmaf > grid[(320, 180, 30)].vmaf
    # A top every probe already reaches: the grid alone, and nothing measured.
    reached = policy.model_validate({**policy.model_dump(), "top_vmaf": 1.0})
    only_grid = analyze(tiny["grain"], ["h264"], reached, cache=tmp_path, show_progress=False)
    assert {p.crf for p in only_grid.points} == {30, 36} and only_grid.seconds == 0.0


def test_the_adaptive_top_aims_one_point_above_the_ladder_target():
    assert AnalysisPolicy().aiming(95.0).top_vmaf == 96.0
    assert AnalysisPolicy().aiming(97.95).top_vmaf == pytest.approx(98.95)
    assert AnalysisPolicy().aiming(99.5).top_vmaf == 100.0


# Three 1 s excerpts of a 12 s title, one probe each, every frame scored.
EXCERPTS = AnalysisPolicy(
    heights=(180,),
    crfs={"h264": (20,)},
    presets={"h264": "veryfast"},
    whole_below=6,
    excerpts=3,
    excerpt_seconds=1,
    subsample=1,
    extend=0,
    extend_down=0,
)


def test_excerpts_are_spread_over_a_longer_title(tmp_path):
    title = media.clip(tmp_path, "long.mp4", seconds=12, audio=False)
    info = probe(title)
    policy = EXCERPTS.model_copy(update={"warm_up": False})  # free placement; the GOP grid has its own test
    cuts = excerpts(info.duration, 30.0, policy)
    assert cuts == [(pytest.approx(1.5), pytest.approx(1.0)), (5.5, 1.0), (9.5, 1.0)]
    result = analyze(title, ["h264"], policy, cache=tmp_path / "cache", show_progress=False)
    assert result.excerpts == cuts and result.duration == pytest.approx(12.0, abs=0.05)
    # One cache entry per excerpt...
    entries = [ProbeResult.load(p) for p in (tmp_path / "cache" / "probes").rglob("*.json")]
    assert len(entries) == 3
    for e in entries:
        assert e.duration == pytest.approx(1.0, abs=0.04)
        assert len(e.vmaf) == 30
    # ... each a different stretch of the moving pattern, each probe scored against its own excerpt
    # frame for frame (a one-frame slip between the two would cost tens of VMAF points here).
    assert len({tuple(e.vmaf) for e in entries}) == 3
    (point,) = result.points
    assert point.vmaf > 92 and min(min(e.vmaf) for e in entries) > 88
    # Subsampled, each excerpt's first frame (its keyframe) is scored but left out of the pooled figures.
    sparse = policy.model_validate({**policy.model_dump(), "subsample": 3})
    (point,) = analyze(title, ["h264"], sparse, cache=tmp_path / "cache", show_progress=False).points
    entries = [
        e for p in (tmp_path / "cache" / "probes").rglob("*.json") if (e := ProbeResult.load(p)).key["subsample"] == 3
    ]
    assert len(entries) == 3 and all(len(e.vmaf) == 10 for e in entries)
    assert point.vmaf == pytest.approx(statistics.fmean(x for e in entries for x in e.vmaf[1:]))
    # A title no longer than whole_below is analysed whole.
    whole = policy.model_validate({**policy.model_dump(), "whole_below": 12.5})
    assert excerpts(info.duration, 30.0, whole) == [(0.0, info.duration)]


def test_warm_excerpts_sit_on_the_gop_grid_and_drop_their_lead(tmp_path):
    title = media.clip(tmp_path, "long.mp4", seconds=12, audio=False)
    policy = EXCERPTS.model_copy(update={"gop_seconds": 1.0})
    # Centred starts 1.5, 5.5 and 9.5 s move to the nearest keyframe of the final encode (every 1 s).
    assert excerpts(12.0, 30.0, policy) == [(2.0, 1.0), (6.0, 1.0), (10.0, 1.0)]
    result = analyze(title, ["h264"], policy, cache=tmp_path / "cache", show_progress=False)
    entries = [ProbeResult.load(p) for p in (tmp_path / "cache" / "probes").rglob("*.json")]
    assert sorted(e.key["excerpt"] for e in entries) == ["10.000s+30f-30f", "2.000s+30f-30f", "6.000s+30f-30f"]
    # Each probe was encoded over 60 frames, but only the excerpt's 30 are measured and scored.
    for e in entries:
        assert e.duration == pytest.approx(1.0, abs=1e-6) and len(e.vmaf) == 30
    assert result.excerpts == [(2.0, 1.0), (6.0, 1.0), (10.0, 1.0)]
    (point,) = result.points
    assert point.bitrate_kbps == pytest.approx(sum(e.bits for e in entries) / 3.0 / 1000)


def test_excerpts_sit_on_frames_and_inside_the_title():
    policy = AnalysisPolicy(whole_below=10, excerpts=4, excerpt_seconds=2)
    for duration, fps in itertools.product((20.0, 61.3, 7200.0), (24.0, 29.97, 30.0)):
        cuts = excerpts(duration, fps, policy)
        assert len(cuts) == 4
        for start, length in cuts:
            assert start >= 0 and start + length <= duration
            assert start * fps == pytest.approx(round(start * fps), abs=1e-6)
        assert all(b[0] - a[0] > length for a, b in itertools.pairwise(cuts))


def test_bad_requests_are_refused_before_any_encode(tiny, tmp_path, caplog):
    with pytest.raises(UsageError, match="unknown codec 'mpeg2'"):
        analyze(tiny["pan"], ["h264", "mpeg2"], POLICY, cache=tmp_path, show_progress=False)
    with pytest.raises(UsageError, match="at least one codec"):
        analyze(tiny["pan"], [], POLICY, cache=tmp_path, show_progress=False)
    with pytest.raises(UsageError, match="no such file"):
        analyze(tmp_path / "missing.mp4", ["h264"], POLICY, cache=tmp_path, show_progress=False)
    with pytest.raises(NoVideoStream):
        analyze(media.audio_only(tmp_path), ["h264"], POLICY, cache=tmp_path, show_progress=False)
    with pytest.raises(UsageError, match="whole number"):
        odd = AnalysisPolicy(heights=(90,), crfs={"av1": (30.5,)})
        analyze(tiny["pan"], ["av1"], odd, cache=tmp_path, show_progress=False)
    with pytest.raises(ValueError, match="unknown codec"):
        AnalysisPolicy(crfs={"mpeg2": (3,)})
    assert not list(tmp_path.rglob("probes"))


def test_the_cache_folder_comes_from_the_argument_the_environment_or_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VODFLOW_CACHE", raising=False)
    assert folder(State.CACHE) == Path(".vodflow/cache")
    monkeypatch.setenv("VODFLOW_CACHE", str(tmp_path / "env"))
    assert folder(State.CACHE) == tmp_path / "env"
    assert folder(State.CACHE, tmp_path / "arg") == tmp_path / "arg"


def test_vmaf_batches_shrink_with_the_reference_area():
    policy = AnalysisPolicy()
    assert policy.batch_for(1920, 1080) == policy.batch_for(320, 180) == policy.vmaf_batch == 12
    assert policy.batch_for(3840, 2160) == 3
    assert AnalysisPolicy(vmaf_batch=2).batch_for(7680, 4320) == 1


def test_probe_sizes_follow_the_display_aspect_and_include_the_source_height():
    from ladders.probes import sizes
    from pipeline.probe import MediaInfo, VideoStream

    def info(w, h, sar="1:1"):
        v = VideoStream(index=0, codec="h264", width=w, height=h, sar=sar)
        return MediaInfo(path="x.mp4", container="mp4", size_bytes=1, duration=10.0, video=v)

    assert sizes(info(1920, 1080), (2160, 1080, 720, 144)) == [(1920, 1080), (1280, 720), (256, 144)]
    # A scope film between standard heights is probed at its own size as well.
    assert sizes(info(1920, 800), (1080, 720, 360)) == [(1920, 800), (1728, 720), (864, 360)]
    # Anamorphic PAL 720x576 with 64:45 pixels displays at 16:9 (1024x576).
    assert sizes(info(720, 576, "64:45"), (576, 288)) == [(1024, 576), (512, 288)]
    # A source below every policy height is probed at its own size rather than not at all.
    assert sizes(info(320, 180), (720, 1080)) == [(320, 180)]
