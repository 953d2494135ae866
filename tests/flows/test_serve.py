"""``vodflow serve-flows`` registers the ingest flows as deployments on the Prefect server it is given."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

from tests.wait import wait_for


def deployments(api: str) -> set[str]:
    req = urllib.request.Request(f"{api}/deployments/filter", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        return {d["name"] for d in json.loads(r.read())}


def flow_names(api: str) -> set[str]:
    req = urllib.request.Request(f"{api}/flows/filter", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        return {d["name"] for d in json.loads(r.read())}


def test_serve_flows_registers_both_deployments_and_stops_on_sigint(flow_env):
    api = flow_env["PREFECT_API_URL"]
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve-flows"], env=flow_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for(
            lambda: {"ingest-title", "ingest-batch"} <= flow_names(api) and "vodflow" in deployments(api),
            "both deployments",
            timeout=120,
            proc=proc,
            interval=0.2,
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    assert proc.returncode is not None
