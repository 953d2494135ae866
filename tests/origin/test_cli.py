"""`vodflow origin|publish|rollback|unpublish` as real processes: weed outlives `origin up`, a later
process stops it, and every mistake is one line on stderr with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from origin.seaweed import Seaweed


def vodflow(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.fixture
def cli_env(tmp_path):
    """An environment whose embedded origin lives in tmp_path/state (stopped afterwards, whatever happens)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["VODFLOW_ORIGIN"] = str(tmp_path / "state")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    yield env
    Seaweed(tmp_path / "state").down()


def one_line_error(res: subprocess.CompletedProcess[str], command: str, text: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vodflow {command}: error: ") and text in lines[0], res.stderr


def test_origin_up_status_down(cli_env, tmp_path):
    res = vodflow("origin", "status", env=cli_env, cwd=tmp_path)
    assert res.returncode == 2 and "never started" in res.stdout
    res = vodflow("origin", "up", "--json", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    up = json.loads(res.stdout)
    assert up["running"] and up["endpoint"].startswith("http://127.0.0.1:")
    # The `up` process has exited; weed runs on and another process sees it.
    res = vodflow("origin", "status", "--json", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout)["pid"] == up["pid"]
    assert Seaweed(tmp_path / "state")._alive(up["pid"])
    res = vodflow("origin", "down", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0 and "origin down" in res.stdout
    assert not Seaweed(tmp_path / "state")._alive(up["pid"])
    res = vodflow("origin", "status", env=cli_env, cwd=tmp_path)
    assert res.returncode == 2 and "stopped" in res.stdout
    assert "was not running" in vodflow("origin", "down", env=cli_env, cwd=tmp_path).stdout


def test_publish_rollback_unpublish(cli_env, tmp_path, pub_packages, pub_keys):
    keys = ["--keys", str(pub_keys.root)]
    res = vodflow("publish", pub_packages["none"].root, "--title", "t1", *keys, env=cli_env, cwd=tmp_path)
    one_line_error(res, "publish", "not running; start it with `vodflow origin up`")
    assert vodflow("origin", "up", env=cli_env, cwd=tmp_path).returncode == 0

    res = vodflow("publish", pub_packages["none"].root, "--title", "t1", *keys, "--json", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    a = json.loads(res.stdout)
    record = Path(pub_packages["none"].root).parent / "none.publication.json"
    assert json.loads(record.read_text())["version"] == a["version"]
    res = vodflow("publish", pub_packages["cenc"].root, "--title", "t1", *keys, env=cli_env, cwd=tmp_path)
    assert res.returncode == 0 and "published t1 version" in res.stdout and "hls: http://127.0.0.1:" in res.stdout
    res = vodflow("rollback", "--title", "t1", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0 and f"now version {a['version']}" in res.stdout
    one_line_error(vodflow("rollback", "--title", "t1", env=cli_env, cwd=tmp_path), "rollback", "no version before")
    res = vodflow("unpublish", "--title", "t1", "--json", env=cli_env, cwd=tmp_path)
    assert res.returncode == 0 and json.loads(res.stdout)["removed"] > 2 * len(a["objects"])
    one_line_error(vodflow("unpublish", "--title", "t1", env=cli_env, cwd=tmp_path), "unpublish", "not published")


def test_publish_errors(cli_env, tmp_path, pub_packages, pub_keys):
    assert vodflow("origin", "up", env=cli_env, cwd=tmp_path).returncode == 0
    keys = ["--keys", str(pub_keys.root)]
    (tmp_path / "plain").mkdir()
    cases = [
        (["publish", str(tmp_path / "missing"), "--title", "x", *keys], "missing: no such folder"),
        (["publish", str(tmp_path / "plain"), "--title", "x", *keys], "not a package (no package.json"),
        (["publish", pub_packages["none"].root, "--title", "a/b", *keys], "is not a valid title ID"),
        (["publish", pub_packages["none"].root, "--title", "x", "--origin", "http://b/x"], "expected s3://bucket"),
        (["publish", pub_packages["cenc"].root, "--title", "x", "--keys", str(tmp_path / "k")], "has no keys"),
    ]
    for argv, text in cases:
        one_line_error(vodflow(*argv, env=cli_env, cwd=tmp_path), "publish", text)
    # Any S3 endpoint through the usual AWS environment (here the same SeaweedFS, reached as any S3 is).
    sw = Seaweed(tmp_path / "state")
    creds = sw.credentials()
    env = {
        **cli_env,
        "VODFLOW_ORIGIN": str(tmp_path / "elsewhere"),  # proves the embedded origin's state is not used
        "AWS_ENDPOINT_URL": sw.status().endpoint,
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
    }
    argv = ["publish", pub_packages["none"].root, "--title", "x", *keys, "--origin", "s3://vodflow/elsewhere/p"]
    res = vodflow(*argv, "--json", env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["pointer"] == "elsewhere/p/titles/x/current.json"
    assert sw.origin().client().head_object(Bucket="vodflow", Key="elsewhere/p/titles/x/current.json")
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    res = vodflow(*argv, env=env, cwd=tmp_path)
    one_line_error(res, "publish", f"{sw.status().endpoint}: listing s3://vodflow/elsewhere/p/titles/x/v/")
    assert "SignatureDoesNotMatch" in res.stderr
