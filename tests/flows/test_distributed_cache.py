"""The distributed encode's chunk cache, on a real local Dask cluster (2 worker processes), the real
SeaweedFS origin and a temporary Prefect server: a second call with the same result storage takes every
chunk and the audio from the cache (Prefect's own task-run states say so) and writes the same files; a
call after the work objects were deleted encodes the chunks again instead of joining objects that are
gone. On a cluster started on its own (workers that share nothing with the flow but the network) the
results are kept on the origin, through a Prefect block that holds no credential."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort
from prefect.filesystems import LocalFileSystem
from prefect.testing.utilities import prefect_test_harness

from flows.distributed import encode_distributed
from flows.results import OriginResultStorage
from origin.errors import OriginNotRunning
from pipeline.renditions import RateControl, Rendition
from pipeline.streams import keyframe_times
from tests import media
from tests.wait import wait_for

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


def _task_states(*names: str) -> dict[str, list[str]]:
    """Task-run name -> state names of the newest ``encode-distributed`` flow run, as Prefect recorded them;
    with ``names``, once each of those has runs and every run there has ended. (Workers report their task
    runs as events that the server records on its own time: a cluster that outlives the call may still be
    sending them after it returned.)"""
    if names:
        return wait_for(lambda: _ended(_task_states(), names), f"Prefect's records of {names}", timeout=60)
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


def _ended(states: dict[str, list[str]], names) -> dict[str, list[str]] | None:
    ended = all(n in states for n in names) and all(
        s in ("Completed", "Cached", "Failed") for runs in states.values() for s in runs
    )
    return states if ended else None


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


def test_a_cluster_of_its_own_keeps_the_chunk_results_on_the_origin(prefect_server, origin, dask_cluster, tmp_path):
    src = media.clip(tmp_path, seconds=3, fps=25)
    storage = OriginResultStorage.on(origin, "work")

    def encode(out: str, keep_work: bool):
        return encode_distributed(src, RUNGS, tmp_path / out, dask_address=dask_cluster, origin=origin,
                                  chunk_seconds=CHUNK, keep_work=keep_work, result_storage=storage)  # fmt: skip

    tasks = ["encode-chunk-0", "encode-chunk-1", "encode-chunk-2", "encode-audio"]
    first = encode("first", keep_work=True)
    states = _task_states(*tasks)
    assert all(states[n] == ["Completed"] for n in tasks), states
    # The workers (no origin in their environment, another HOME) wrote one result record per chunk and the
    # audio, as objects beside the work.
    records = [k for k in _work_keys(origin) if k.startswith(origin.location.key("work", "distributed"))]
    names = sorted(k.rsplit("/", 1)[1] for k in records)
    assert [n.split("-")[1] for n in names] == ["audio", "chunk", "chunk", "chunk"], names
    assert [n.split("-")[2] for n in names[1:]] == ["00000", "00001", "00002"], names
    assert all(json.loads(storage.read_path(k.removeprefix(storage.prefix + "/")))["result"] for k in records)

    second = encode("second", keep_work=False)
    states = _task_states(*tasks)
    assert all(states[n] == ["Cached"] for n in tasks), states  # Prefect's verdict: none ran
    assert _hashes(second) == _hashes(first)
    assert [f.frames for f in second.video] == [75, 75]
    assert _work_keys(origin) == []  # the records went with the work objects they name

    # What Prefect's database holds of the block: where, not how to get in.
    with get_client(sync_client=True) as client:
        document = client.read_block_document(storage._block_document_id)
    saved = json.dumps(document.data, default=str)
    assert origin.location.bucket in saved and origin.secret_key not in saved and origin.access_key not in saved


def test_origin_result_storage_reads_what_it_wrote_and_a_loaded_copy_takes_its_keys_from_the_environment(
    prefect_server, origin, monkeypatch, tmp_path
):
    storage = OriginResultStorage.on(origin, "results")
    assert storage.write_path("a/record.json", b"{}") == origin.location.key("results", "a", "record.json")
    assert storage.read_path("a/record.json") == b"{}"
    with pytest.raises(FileNotFoundError, match=r"a/other\.json"):
        storage.read_path("a/other.json")

    loaded = OriginResultStorage.load(storage._block_document_name)
    assert (loaded.bucket, loaded.prefix, loaded.endpoint_url) == (storage.bucket, storage.prefix, storage.endpoint_url)
    assert loaded._origin is None  # what the server gave back holds no keys: they come from the environment
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VODFLOW_ORIGIN", str(tmp_path / "no-origin"))
    with pytest.raises(OriginNotRunning):  # no keys anywhere: it says so, it does not guess
        loaded.read_path("a/record.json")
    monkeypatch.setenv("AWS_ENDPOINT_URL", origin.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", origin.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", origin.secret_key)
    assert loaded.read_path("a/record.json") == b"{}"
