"""``vodflow ingest --workers 2`` end to end: a real CLI process runs the title's encode on a local Dask
cluster of two worker processes through the real SeaweedFS origin, then packages, validates and
publishes it; the session's Prefect server records the distributed encode's task runs. A run killed
after its chunk was encoded resumes without encoding it again, on a local cluster (the chunk's result
in the workspace root) and on a cluster started on its own (``--dask ADDRESS``: the result on the
origin)."""

from __future__ import annotations

import contextlib
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
from origin.pointers import current
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


def _argv(src, seaweed, prefix: str, *cluster) -> list[str]:
    cluster = cluster or ("--workers", 2)
    return ingest_argv(src, *cluster, "--ladder", "fixed", "--segment-seconds", 2, *origin_args(seaweed, prefix))


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


def _kill_once(argv: list[str], env: dict[str, str], persisted, log: Path) -> None:
    """Start ``argv``, SIGKILL it (and its local workers and ffmpeg) once ``persisted()`` holds."""
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(persisted, "the chunk's result to be persisted", proc=proc)
        finally:
            with contextlib.suppress(ProcessLookupError):  # already gone when it ended before
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    first = journal(env)
    assert not [e for e in first if e["stage"] == "encode h264" and e["state"] == "Completed"], first


def _resumed(argv: list[str], env: dict[str, str], seaweed, prefix: str, *names: str) -> dict[str, str]:
    """Run ``argv`` again to the end; → the distributed encode's task states of that run, once the task
    runs ``names`` are on record (a cluster of its own outlives the run and reports its task runs as
    events, which the server records on its own time)."""
    res = run(argv, env=env, check=False, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    _published(env, seaweed, prefix)
    events = journal(env)
    second_run = events[-1]["run"]
    assert {e["state"] for e in events if e["run"] == second_run and e["stage"] == "encode h264"} == {
        "Running",
        "Completed",
    }

    def recorded() -> dict[str, str] | None:
        tasks = distributed_tasks(env, second_run)
        return tasks if all(tasks.get(n) in ("Completed", "Cached", "Failed") for n in names) else None

    return wait_for(recorded, f"Prefect's records of {names}", timeout=60)


def test_ingest_killed_after_a_chunk_was_encoded_resumes_without_encoding_it_again(flow_env, tiny, seaweed, tmp_path):
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    argv = _argv(tiny["pan"], seaweed, prefix)
    root = Path(flow_env["VODFLOW_WORK"])

    def chunk_persisted() -> bool:
        try:
            return any(json.loads(p.read_text()) for p in root.glob("distributed/*/encode-chunk-00000-*"))
        except ValueError:  # being written
            return False

    _kill_once(argv, flow_env, chunk_persisted, tmp_path / "first.log")
    tasks = _resumed(argv, flow_env, seaweed, prefix)
    # Prefect's verdict: the chunk finished before the kill came from its persisted result, its work
    # objects still being on the origin (the killed run never reached its clean-up).
    assert tasks["encode-chunk-0"] == "Cached", tasks


def test_ingest_on_a_cluster_of_its_own_killed_after_a_chunk_resumes_from_the_result_on_the_origin(
    flow_env, tiny, seaweed, dask_cluster, tmp_path
):
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    argv = _argv(tiny["pan"], seaweed, prefix, "--dask", dask_cluster)
    origin = seaweed.origin(S3Location(bucket=seaweed.bucket, prefix=prefix))
    s3, records = origin.client(), origin.location.key("work", "distributed")

    def chunk_persisted() -> bool:  # one PUT per record: an object there is whole
        listed = s3.list_objects_v2(Bucket=seaweed.bucket, Prefix=records).get("Contents", [])
        return any("/encode-chunk-00000-" in o["Key"] for o in listed)

    _kill_once(argv, flow_env, chunk_persisted, tmp_path / "first.log")
    # Nothing of it on the flow's side: the workers share only the origin with it.
    assert not list(Path(flow_env["VODFLOW_WORK"]).glob("distributed"))
    tasks = _resumed(argv, flow_env, seaweed, prefix, "encode-chunk-0")
    assert tasks["encode-chunk-0"] == "Cached", tasks
    # The finished run deleted the work objects and the records that named them.
    assert s3.list_objects_v2(Bucket=seaweed.bucket, Prefix=origin.location.key("work")).get("KeyCount") == 0
