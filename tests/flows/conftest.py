"""Fixtures of the flow tests: one Prefect server for the session (a real ``prefect server start``), the
environment a ``vodflow`` child process runs flows in, a Dask cluster started on its own, and small
titles."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.synth import synthesize
from tests.wait import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """terminate, wait, kill, wait: the whole process group (the server runs uvicorn as a child)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A Prefect server on a free port for the session; yields the PREFECT_* environment that points at it.

    One server for every test: a flow process then pays no embedded-server start of its own."""
    home = tmp_path_factory.mktemp("prefect")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    prefect_env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [Path(sys.executable).parent / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, **prefect_env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        try:
            wait_for(healthy, "the Prefect server", timeout=180, proc=proc, interval=0.2)
        except AssertionError as exc:
            log_tail = (home / "server.log").read_text()[-2000:]
            raise RuntimeError(f"prefect server did not start ({exc}): {log_tail}") from None
        yield {**prefect_env, "PREFECT_API_URL": url}
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def flow_env(prefect_api, tmp_path) -> dict[str, str]:
    """The environment of a ``vodflow`` child: the session's Prefect server, and a workspace, key store
    and analysis cache of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return {
        **env,
        **prefect_api,
        "VODFLOW_WORK": str(tmp_path / "work"),
        "VODFLOW_KEYS": str(tmp_path / "keys"),
        "VODFLOW_CACHE": str(tmp_path / "cache"),
    }


@pytest.fixture(scope="session")
def title8(tmp_path_factory) -> Path:
    """An 8 s 320x180 title (moving shapes, with audio): long enough that a VP9 encode can be interrupted."""
    d = tmp_path_factory.mktemp("title8")
    return synthesize(d / "shapes.mp4", "testsrc2", width=320, height=180, seconds=8, show_progress=False)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Iterator[str]:
    """A Dask scheduler and two single-threaded workers started as processes of their own, as on other
    machines; yields the scheduler's address (``--dask ADDRESS``). One per test module: a worker process
    keeps reporting task runs to the first Prefect server it reported to, and modules use different ones.

    The workers run in a folder of their own with an environment that names no Prefect server, no
    origin and no workspace (no ``PREFECT_*``, ``AWS_*`` or ``VODFLOW_*``) and another ``HOME``: whatever a
    task needs must come with it, as it would to a machine that shares nothing with the flow's but the
    network."""
    from distributed import Client

    base = tmp_path_factory.mktemp("dask")
    (base / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_", "VODFLOW_"))}
    env.update(HOME=str(base / "home"), DASK_LOGGING__DISTRIBUTED="warning")
    address = f"tcp://127.0.0.1:{_free_port()}"
    procs = []

    def start(name: str, *argv: str) -> None:
        log = (base / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", f"distributed.cli.dask_{name}", *argv],
                cwd=base / "home",
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")
        start("worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
              "--local-directory", str(base / "home"))  # fmt: skip
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
