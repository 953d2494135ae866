"""Fixtures of the flow tests: one Prefect server for the session (a real ``prefect server start``), the
environment a ``vodflow`` child process runs flows in, and small titles."""

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
