"""The distributed encode's chunk cache, on a real local Dask cluster (2 worker processes), the real
SeaweedFS origin and a temporary Prefect server: a second call with the same result storage takes every
chunk and the audio from the cache (Prefect's own task-run states say so) and writes the same files; a
call after the work objects were deleted encodes the chunks again instead of joining objects that are
gone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort
from prefect.filesystems import LocalFileSystem
from prefect.testing.utilities import prefect_test_harness

from flows.distributed import encode_distributed
from pipeline.encode import RateControl, Rendition
from pipeline.streams import keyframe_times
from tests import media

GOP, CHUNK = 0.4, 1.2  # 3 s at 25 fps = 75 frames in chunks of 30: 3 chunks
RUNGS = [
    Rendition(codec="h264", width=w, height=h, preset="veryfast", gop_seconds=GOP,
              rate=RateControl(mode="capped_crf", crf=28, maxrate_kbps=600))
    for w, h in ((320, 180), (160, 90))
]  # fmt: skip


@pytest.fixture(scope="module")
def prefect_server():
    with prefect_test_harness(server_startup_timeout=180):
        yield


def _task_states() -> dict[str, list[str]]:
    """Task-run name -> state names of the newest ``encode-distributed`` flow run, as Prefect recorded them."""
    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["encode-distributed"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
    states: dict[str, list[str]] = {}
    for t in runs:
        states.setdefault(t.name, []).append(t.state_name)
    return states


def _hashes(result) -> dict[str, str]:
    return {
        Path(f.path).name: hashlib.sha256(Path(f.path).read_bytes()).hexdigest() for f in result.video + result.audio
    }


def _work_keys(origin) -> list[str]:
    s3 = origin.client()
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=origin.location.bucket, Prefix=origin.location.key("work")
    )
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def test_chunks_come_from_the_cache_and_are_encoded_again_when_their_objects_are_gone(prefect_server, origin, tmp_path):
    src = media.clip(tmp_path, seconds=3, fps=25)
    storage = LocalFileSystem(basepath=str(tmp_path / "results"))
    storage.save("chunk-cache")

    def encode(out: str, keep_work: bool):
        return encode_distributed(src, RUNGS, tmp_path / out, workers=2, origin=origin, chunk_seconds=CHUNK,
                                  keep_work=keep_work, result_storage=storage)  # fmt: skip

    first = encode("first", keep_work=True)
    states = _task_states()
    chunks = sorted(n for n in states if n.startswith("encode-chunk-"))
    assert chunks == ["encode-chunk-0", "encode-chunk-1", "encode-chunk-2"], states
    assert all(states[n] == ["Completed"] for n in [*chunks, "encode-audio"]), states
    assert len(list((tmp_path / "results" / "distributed").glob("*/encode-chunk-*"))) == 3

    second = encode("second", keep_work=True)
    states = _task_states()
    # Prefect's verdict: every chunk and the audio came from the persisted results, none ran.
    assert all(states[n] == ["Cached"] for n in [*chunks, "encode-audio"]), states
    assert all(s == ["Completed"] for n, s in states.items() if n.startswith("join-chunks")), states
    assert _hashes(second) == _hashes(first)
    assert [f.frames for f in second.video] == [f.frames for f in first.video] == [75, 75]

    work = _work_keys(origin)
    assert sum("/chunks/" in k for k in work) == 6  # 3 chunks x 2 renditions, kept
    s3 = origin.client()
    s3.delete_objects(Bucket=origin.location.bucket, Delete={"Objects": [{"Key": k} for k in work]})

    third = encode("third", keep_work=False)
    states = _task_states()
    # The cached results name deleted objects: each was looked up, found stale and encoded again.
    assert all(states[n] == ["Cached", "Completed"] for n in [*chunks, "encode-audio"]), states
    assert [f.frames for f in third.video] == [75, 75]
    for f in third.video:
        assert keyframe_times(f.path) == pytest.approx([i * GOP for i in range(8)], abs=1e-6)
    assert sorted(_hashes(third)) == sorted(_hashes(first))
    assert _work_keys(origin) == []  # and without keep_work the work objects are gone again
