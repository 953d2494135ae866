"""Prefect's embedded server must start on a fresh install (FastAPI >= 0.155 breaks it) and run a flow."""

import json
import os
import sys
import textwrap

from vodflow.process import run

FLOW = textwrap.dedent("""
    import json, sys
    from prefect import flow, task
    from pipeline.probe import probe

    @task(retries=1)
    def probe_task(path):
        return probe(path).video.width

    @flow
    def tiny_flow(paths):
        return [probe_task(p) for p in paths]

    print("RESULT " + json.dumps(tiny_flow(sys.argv[1:])))
""")


def test_embedded_prefect_server_starts_and_runs_a_flow(tmp_path, tiny):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL="",
        # Prefect gives its embedded server 20 s to answer; a loaded 2-core CI machine can need more.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    res = run([sys.executable, script, tiny["pan"], tiny["bbb"]], env=env, timeout=400, check=False)
    out = res.stdout + "\n" + res.stderr
    assert res.returncode == 0, "\n".join(out.splitlines()[-40:])
    assert "Starting temporary server" in out or "temporary server" in out
    result = [line for line in res.stdout.splitlines() if line.startswith("RESULT ")]
    assert result and json.loads(result[0][len("RESULT ") :]) == [320, 320]
