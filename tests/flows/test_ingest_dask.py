"""``vodflow ingest --workers 2`` end to end: a real CLI process runs the title's encode on a local Dask
cluster of two worker processes through the real SeaweedFS origin, then packages, validates and
publishes it; the session's Prefect server records the distributed encode's task runs. A run killed
after its chunk was encoded resumes without encoding it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentTaskRunId
from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort
from prefect.settings import PREFECT_API_URL, temporary_settings

from origin.config import S3Location
from origin.publish import current
from packager.validate import validate
from tests.flows.test_faults import ingest_argv, journal, origin_args
from tests.wait import wait_for
from vodflow.process import run


def _task_runs(client, flow_run_id) -> list:
    return client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        limit=200,
    )


def distributed_tasks(env: dict[str, str], ingest_run: str) -> dict[str, str]:
    """Task-run name -> state name of the encode-distributed flow run that the ingest run ``ingest_run``
    called (the flow that puts its tasks on DaskTaskRunner), as the Prefect server recorded them."""
    with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}), get_client(sync_client=True) as client:
        # Prefect links a subflow to its parent flow run through a task run of the parent standing for it.
        called = [t for t in _task_runs(client, ingest_run) if t.name.startswith("encode-distributed")]
        assert len(called) == 1, called
        subflows = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_task_run_id=FlowRunFilterParentTaskRunId(any_=[called[0].id])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=10,
        )
        assert len(subflows) == 1, subflows
        return {t.name: t.state_name for t in _task_runs(client, subflows[0].id)}


def _argv(src, seaweed, prefix: str) -> list[str]:
    return ingest_argv(src, "--workers", 2, "--ladder", "fixed", "--segment-seconds", 2, *origin_args(seaweed, prefix))


def _published(env: dict[str, str], seaweed, prefix: str):
    origin = seaweed.origin(S3Location(bucket=seaweed.bucket, prefix=prefix))
    assert current(origin, "pan") is not None
    work = next(Path(env["VODFLOW_WORK"]).glob("pan-*"))
    report = validate(work / "package", keys=env["VODFLOW_KEYS"])
    assert report.ok, report.problems
    return origin


def test_ingest_with_two_local_workers_encodes_on_dask_and_publishes(flow_env, tiny, seaweed):
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    res = run(_argv(tiny["pan"], seaweed, prefix), env=flow_env, check=False, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr, res.stderr  # Dask's shutdown noise stays off the terminal
    origin = _published(flow_env, seaweed, prefix)

    tasks = distributed_tasks(flow_env, journal(flow_env)[-1]["run"])
    assert tasks.pop("encode-chunk-0") == "Completed", tasks  # 2 s: one chunk
    assert tasks.pop("encode-audio") == "Completed", tasks
    assert tasks and all(n.startswith("join-chunks") and s == "Completed" for n, s in tasks.items()), tasks
    # The workers persisted their chunk results in the workspace root; the work objects are gone.
    assert len(list(Path(flow_env["VODFLOW_WORK"]).glob("distributed/*/encode-chunk-00000-*"))) == 1
    s3 = origin.client()
    assert s3.list_objects_v2(Bucket=seaweed.bucket, Prefix=origin.location.key("work")).get("KeyCount") == 0


def test_ingest_killed_after_a_chunk_was_encoded_resumes_without_encoding_it_again(flow_env, tiny, seaweed, tmp_path):
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    argv = _argv(tiny["pan"], seaweed, prefix)
    root = Path(flow_env["VODFLOW_WORK"])

    def chunk_persisted() -> bool:
        try:
            return any(json.loads(p.read_text()) for p in root.glob("distributed/*/encode-chunk-00000-*"))
        except ValueError:  # being written
            return False

    with (tmp_path / "first.log").open("w") as log:
        proc = subprocess.Popen(argv, env=flow_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(chunk_persisted, "the chunk's result to be persisted", proc=proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the flow process, its Dask workers and their ffmpeg
            proc.wait()
    first = journal(flow_env)
    assert not [e for e in first if e["stage"] == "encode h264" and e["state"] == "Completed"], first

    res = run(argv, env=flow_env, check=False, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    _published(flow_env, seaweed, prefix)
    events = journal(flow_env)
    second_run = events[-1]["run"]
    assert {e["state"] for e in events if e["run"] == second_run and e["stage"] == "encode h264"} == {
        "Running",
        "Completed",
    }
    tasks = distributed_tasks(flow_env, second_run)
    # Prefect's verdict: the chunk finished before the kill came from its persisted result, its work
    # objects still being on the origin (the killed run never reached its clean-up).
    assert tasks["encode-chunk-0"] == "Cached", tasks
