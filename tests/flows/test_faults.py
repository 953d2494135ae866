"""Faults an ingest must survive, each through a real ``vodflow ingest`` process against a real Prefect
server and a real SeaweedFS: a SIGKILL in the middle of encoding, the origin down at publish time, the
origin killed in the middle of publishing, and a corrupt source inside a batch."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import signal
import subprocess
import sys
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path

from origin.config import S3Location
from origin.pointers import current
from packager.model import Package
from packager.validate import validate
from tests import media
from tests.flows.gate import Gate
from tests.wait import wait_for
from vodflow.process import run


def ingest_argv(*args) -> list[str]:
    return [sys.executable, "-m", "cli.main", "ingest", *map(str, args)]


def origin_args(sw, prefix: str) -> list[str]:
    return ["--origin", f"s3://{sw.bucket}/{prefix}", "--origin-state", str(sw.dir)]


def journal(env: dict[str, str]) -> list[dict]:
    """Every stage event of every title in the workspace, oldest first."""
    events = []
    for path in Path(env["VODFLOW_WORK"]).glob("*/events.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(events, key=lambda e: e["t"])


def test_sigkill_during_encoding_then_rerun_resumes_without_repeating_finished_tasks(
    flow_env, title8, seaweed, tmp_path
):
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    argv = ingest_argv(title8, "--codecs", "h264,vp9", "--encrypt", "cenc", "--segment-seconds", 2,
                       *origin_args(seaweed, prefix))  # fmt: skip
    with (tmp_path / "first.log").open("w") as log:
        proc = subprocess.Popen(argv, env=flow_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(
                lambda: any(e["stage"] == "encode vp9" and e["state"] == "Running" for e in journal(flow_env)),
                "the VP9 encode to start",
                proc=proc,
            )
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the flow process and its ffmpeg, as a crash would
            proc.wait()
    first = journal(flow_env)
    done_first = {e["stage"] for e in first if e["state"] == "Completed"}
    # Killed in the middle of encoding: H.264 (and everything before it) finished, VP9 did not.
    assert {"probe", "qa", "ladder", "encode h264"} <= done_first
    assert "encode vp9" not in done_first

    res = run(argv, env=flow_env, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    events = journal(flow_env)
    second_run = events[-1]["run"]
    second = {e["stage"]: e["state"] for e in events if e["run"] == second_run and e["state"] != "Running"}
    # Prefect's own verdict: every task that finished before the kill came from its persisted result.
    for stage in done_first:
        assert second[stage] == "Cached", (stage, second)
    assert second["encode vp9"] == "Completed"
    assert second["publish"] == "Completed"
    ran = Counter(e["stage"] for e in events if e["state"] == "Completed")
    assert all(n == 1 for n in ran.values()), ran  # no finished task ran twice

    work = next(Path(flow_env["VODFLOW_WORK"]).glob("shapes-*"))
    report = validate(work / "package", keys=flow_env["VODFLOW_KEYS"])
    assert report.ok, report.problems
    codecs = {s["codec"] for s in json.loads((work / "package" / "package.json").read_text())["streams"]}
    assert {"h264", "vp9"} <= codecs
    origin = seaweed.origin(S3Location(bucket=seaweed.bucket, prefix=prefix))
    assert current(origin, "shapes") is not None

    # A third run of the finished title does no media work at all.
    res = run(argv, env=flow_env, check=False, timeout=600)
    assert res.returncode == 0, res.stderr
    events = journal(flow_env)
    third = [e for e in events if e["run"] == events[-1]["run"] and e["state"] not in ("Running",)]
    media_states = {e["stage"]: e["state"] for e in third if e["stage"] != "publish"}
    assert set(media_states.values()) == {"Cached"}, media_states


def test_origin_down_at_publish_fails_clearly_and_a_rerun_after_restart_publishes(flow_env, tiny, seaweed_factory):
    sw = seaweed_factory()
    prefix = "vod"
    creds = sw.credentials()
    # The origin as any S3 endpoint (named by the AWS environment): the flow cannot know it went away
    # until a request fails, so publish meets refused connections and retries them before failing.
    env = {**flow_env, "AWS_ENDPOINT_URL": sw.state().endpoint, "AWS_ACCESS_KEY_ID": creds.access_key,
           "AWS_SECRET_ACCESS_KEY": creds.secret_key, "AWS_REGION": "us-east-1"}  # fmt: skip
    argv = ingest_argv(
        tiny["pan"], "--segment-seconds", 2, "--encrypt", "cenc", "--origin", f"s3://{sw.bucket}/{prefix}"
    )
    res = run([*argv, "--no-publish"], env=env, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    sw.down()

    res = run(argv, env=env, check=False, timeout=600)
    assert res.returncode == 1
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("pan "))
    assert "failed" in line and "cannot connect (is the origin running?" in line, res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    events = journal(env)
    last = {e["stage"]: e["state"] for e in events if e["run"] == events[-1]["run"]}
    assert last["publish"] == "Failed"
    assert all(s == "Cached" for st, s in last.items() if st != "publish"), last

    sw.up()
    origin = sw.origin(S3Location(bucket=sw.bucket, prefix=prefix))
    s3 = origin.client()
    keys = [
        o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=sw.bucket) for o in p.get("Contents", [])
    ]
    # Nothing a player could start from: no pointer and no manifest whose objects might be missing.
    assert not [k for k in keys if k.endswith(("current.json", ".mpd", ".m3u8"))], keys
    assert current(origin, "pan") is None

    res = run(argv, env=env, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    pointer = current(origin, "pan")
    assert pointer is not None
    pub = json.loads((next(Path(flow_env["VODFLOW_WORK"]).glob("pan-*")) / "publication.json").read_text())
    for obj in pub["objects"]:  # every object the published manifests can reference is there, as sent
        head = s3.head_object(Bucket=sw.bucket, Key=obj["key"])
        assert head["ContentLength"] == obj["size"]


def _phase(rel: str, pkg: Package) -> int:
    """When publish sends a package file, as ``origin.publish`` promises: 1 media, 2 what references media
    (media playlists, the VMAF sidecar, the sprite index), 3 the master manifests and package.json."""
    if rel in (pkg.dash, pkg.hls, "package.json"):
        return 3
    if rel.endswith(".m3u8") or rel == "quality.json" or (pkg.thumbnails and rel == pkg.thumbnails.index):
        return 2
    return 1


def _keys(s3, bucket: str, prefix: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for p in pages for o in p.get("Contents", [])}


def _playlist_references(s3, bucket: str, key: str) -> set[str]:
    """The object keys an HLS media playlist names (segments, the init segment); absolute URLs left out."""
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    uris = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    uris += re.findall(r'URI="([^"]+)"', text)
    base = posixpath.dirname(key)
    return {posixpath.normpath(f"{base}/{u}") for u in uris if ":" not in u}


def test_origin_killed_in_the_middle_of_publishing_leaves_nothing_playable_that_is_broken_and_a_rerun_publishes(
    flow_env, tiny, seaweed_factory, tmp_path
):
    sw = seaweed_factory()
    creds = sw.credentials()
    direct = sw.state().endpoint
    env = {**flow_env, "AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key,
           "AWS_REGION": "us-east-1"}  # fmt: skip
    argv = ingest_argv(tiny["pan"], "--ladder", "fixed", "--segment-seconds", 2, "--origin", f"s3://{sw.bucket}/vod")
    res = run([*argv, "--no-publish"], env={**env, "AWS_ENDPOINT_URL": direct}, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    package = next(Path(flow_env["VODFLOW_WORK"]).glob("pan-*")) / "package"
    pkg = Package.load(package / "package.json")
    files = sorted({*pkg.files, "package.json"})
    phases = Counter(_phase(f, pkg) for f in files)
    assert phases[2] >= 3, phases  # a playlist per stream (video and audio) and the sidecar
    # The origin takes every media object and all but one of the objects that reference media, then
    # freezes: publish is in its second phase, with masters, record and pointer still to send.
    puts = phases[1] + phases[2] - 1
    s3 = sw.origin(S3Location(bucket=sw.bucket, prefix="vod")).client()

    with Gate(direct, puts) as gate, (tmp_path / "publish.log").open("w+") as log:
        proc = subprocess.Popen(argv, env={**env, "AWS_ENDPOINT_URL": gate.endpoint}, stdout=log, stderr=log,
                                start_new_session=True)  # fmt: skip
        try:
            wait_for(gate.held.is_set, "publish to meet the frozen origin", proc=proc)
            assert gate.problem is None, gate.problem
            sent = {urllib.parse.unquote(p.split("?")[0]).removeprefix(f"/{sw.bucket}/") for p in gate.sent}
            assert len(sent) == puts < len(files), (len(sent), puts, len(files))
            # What the origin received before it froze is stored (weed answers its own endpoint) ...
            wait_for(lambda: _keys(s3, sw.bucket, "vod/") == sent, "the objects sent to be stored")
            os.kill(sw.state().pid, signal.SIGKILL)  # ... then it dies with publish's requests in flight
            gate.close()
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.seek(0)
        output = log.read()
    assert proc.returncode == 1, output
    assert "Traceback" not in output, output
    [line] = [ln for ln in output.splitlines() if ln.startswith("pan ")]
    assert re.search(rf"pan +failed +{re.escape(gate.endpoint)}: \S+ s3://{sw.bucket}/vod/titles/pan/\S* failed: "
                     r"(cannot connect \(is the origin running\?|timed out)", line), line  # fmt: skip
    events = journal(env)
    last = {e["stage"]: e["state"] for e in events if e["run"] == events[-1]["run"] and e["state"] != "Running"}
    assert last.pop("publish") == "Failed", last
    assert set(last.values()) == {"Cached"}, last

    sw.down()  # reaps the killed weed
    sw.up()
    stored = _keys(s3, sw.bucket, "vod/")
    assert stored == sent  # some of the version's objects, exactly those the origin took
    # Nothing a player could start from, and no manifest that names a missing object.
    assert not [k for k in stored if k.endswith((".mpd", "master.m3u8", "current.json", "package.json"))], stored
    assert not [k for k in stored if "/publications/" in k], stored
    playlists = [k for k in stored if k.endswith(".m3u8")]
    assert playlists, stored  # the freeze came after at least one media playlist went up
    for key in playlists:
        assert _playlist_references(s3, sw.bucket, key) <= stored, key
    origin = sw.origin(S3Location(bucket=sw.bucket, prefix="vod"))
    assert current(origin, "pan") is None

    res = run(argv, env={**env, "AWS_ENDPOINT_URL": direct}, check=False, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert current(origin, "pan") is not None
    pub = json.loads((package.parent / "publication.json").read_text())
    assert pub["sent"] == len(files) - puts + 2  # the rest of the files, the record and the pointer
    assert sorted(o["path"] for o in pub["objects"]) == files
    for obj in pub["objects"]:  # every published object is the package's file, byte for byte
        head = s3.head_object(Bucket=sw.bucket, Key=obj["key"])
        assert head["ContentLength"] == obj["size"]
        assert head["Metadata"]["sha256"] == hashlib.sha256((package / obj["path"]).read_bytes()).hexdigest()


def test_corrupt_source_in_a_batch_of_three_fails_with_its_qa_reason_and_the_others_publish(
    flow_env, tiny, seaweed, tmp_path
):
    bad = media.corrupted(tmp_path)
    prefix = f"t/{uuid.uuid4().hex[:12]}"
    argv = ingest_argv(tiny["pan"], bad, tiny["bbb"], "--segment-seconds", 2, "--concurrency", 2, "--json",
                       *origin_args(seaweed, prefix))  # fmt: skip
    res = run(argv, env=flow_env, check=False, timeout=900)
    assert res.returncode == 1, res.stdout + res.stderr
    results = {r["title"]: r for r in json.loads(res.stdout)}
    assert results["corrupted"]["state"] == "failed"
    assert "QA failed" in results["corrupted"]["message"] and "decode error" in results["corrupted"]["message"]
    origin = seaweed.origin(S3Location(bucket=seaweed.bucket, prefix=prefix))
    for title in ("pan", "bbb"):
        assert results[title]["state"] == "completed", results[title]
        assert results[title]["urls"]["hls"].endswith("master.m3u8")
        assert current(origin, title) is not None
    assert current(origin, "corrupted") is None
    # Nothing was encoded for the failed title: its journal stops at QA.
    bad_events = [e for e in journal(flow_env) if e["stage"].startswith("encode") and "corrupted" in str(e)]
    assert not bad_events
    bad_ws = next(Path(flow_env["VODFLOW_WORK"]).glob("corrupted-*"))
    assert not (bad_ws / "renditions").exists()

    status = run([sys.executable, "-m", "cli.main", "status", "--json"], env=flow_env, check=False)
    states = {s["title"]: (s["stage"], s["state"]) for s in json.loads(status.stdout)}
    assert states["corrupted"] == ("qa", "failed")
    assert states["pan"][1] == states["bbb"][1] == "completed"
