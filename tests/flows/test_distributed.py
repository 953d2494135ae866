"""Distributed encoding on a real local Dask cluster (2 worker processes) through the real SeaweedFS
origin, under a temporary Prefect server: the joined renditions match a single-process encode (frames,
keyframe times, VMAF within 0.5), package and validate, and nothing is left in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.distributed import encode_distributed
from origin.config import S3Location
from packager import package, validate
from packager.keys import KeyStore
from pipeline.encode import encode
from pipeline.quality import vmaf
from pipeline.renditions import RateControl, Rendition
from pipeline.streams import keyframe_times
from tests import media

GOP, SEGMENT = 0.4, 0.8
RUNGS = [
    Rendition(
        codec="h264",
        width=320,
        height=180,
        preset="veryfast",
        gop_seconds=GOP,
        rate=RateControl(mode="capped_crf", crf=28, maxrate_kbps=600),
    ),
    Rendition(codec="vp9", width=160, height=90, preset="8", gop_seconds=GOP, rate=RateControl(mode="crf", crf=36)),
]


@pytest.fixture(scope="module")
def prefect_server():
    # Prefect gives its embedded server 20 s by default; a loaded 2-core machine can need more.
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def title(tmp_path_factory) -> Path:
    # English stereo + French 5.1 audio, 8 s at 25 fps: 200 frames, chunks of 2 s = 4 chunks.
    return media.multilang(tmp_path_factory.mktemp("dist-src"), seconds=8)


@pytest.fixture(scope="module")
def both(title, tmp_path_factory, seaweed, prefect_server):
    origin = seaweed.origin(S3Location(bucket=seaweed.bucket, prefix="t/distributed"))
    root = tmp_path_factory.mktemp("dist")
    whole = encode(title, RUNGS, root / "whole", show_progress=False)
    chunked = encode_distributed(title, RUNGS, root / "chunked", workers=2, origin=origin, chunk_seconds=2.0)
    return whole, chunked, origin


def test_distributed_renditions_match_a_single_process_encode(both):
    whole, chunked, _ = both
    assert (chunked.frame_rate, chunked.gop_frames) == (whole.frame_rate, whole.gop_frames)
    assert [f.rendition for f in chunked.video] == [f.rendition for f in whole.video]
    for a, b in zip(whole.video, chunked.video, strict=True):
        assert Path(b.path).is_file() and Path(b.path).parent.name == "chunked"
        assert b.frames == a.frames == 200
        assert b.duration == pytest.approx(a.duration, abs=1e-3)
        keys = keyframe_times(b.path)
        assert keys == pytest.approx(keyframe_times(a.path), abs=1e-6)
        assert keys == pytest.approx([i * GOP for i in range(20)], abs=1e-6)
        va = vmaf(whole.source, a.path, show_progress=False).mean
        vb = vmaf(whole.source, b.path, show_progress=False).mean
        assert abs(va - vb) <= 0.5, (a.rendition.name, va, vb)
    assert sorted(Path(f.path).name for f in chunked.audio) == sorted(Path(f.path).name for f in whole.audio)
    for a, b in zip(whole.audio, chunked.audio, strict=True):
        assert (b.language, b.channels) == (a.language, a.channels)
        assert b.duration == pytest.approx(a.duration, abs=0.03)


def test_distributed_output_packages_and_validates(both, tmp_path):
    _, chunked, _ = both
    keys = KeyStore(tmp_path / "keys")
    # The clip's subtitle file covers its first 2.4 s only: a short text track is not what this tests.
    pkg = package(
        chunked,
        tmp_path / "pkg",
        encrypt="cenc",
        segment_seconds=SEGMENT,
        keystore=keys,
        subtitles_from_source=False,
    )
    report = validate(tmp_path / "pkg", keys=keys)
    assert report.ok, report.problems
    assert {s.id for s in pkg.streams if s.kind == "video"} >= {r.name for r in RUNGS}


def test_work_objects_are_deleted_and_out_holds_only_renditions(both):
    _, chunked, origin = both
    listed = origin.client().list_objects_v2(Bucket=origin.location.bucket, Prefix=origin.location.key("work"))
    assert listed.get("KeyCount", 0) == 0
    out = Path(chunked.video[0].path).parent
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(f.path).name for f in [*chunked.video, *chunked.audio])
