"""The edge as its own process (what a benchmark runs): `python -m edge`, tokens from
`vodflow sign` with the same secret file, and a graceful stop that lets a request in flight finish."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from edge.process import EdgeProcess
from tests.edge.aio import aio, until
from tests.edge.conftest import TITLE
from tests.edge.harness import FaultProxy

VODFLOW = str(Path(sys.executable).with_name("vodflow"))


@aio
async def test_edge_process_serves_signed_requests_and_stops_gracefully(published, origin, keystore, tmp_path):
    proxy = await FaultProxy(origin.endpoint_url).start()
    secret = tmp_path / "secret"
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_ACCESS_KEY_ID": origin.access_key,
        "AWS_SECRET_ACCESS_KEY": origin.secret_key,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    args = ["--port", "0", "--origin", str(origin.location)]
    args += ["--secret-file", str(secret), "--keys", str(keystore.root), "--cache-bytes", "16M"]
    # In a thread: the fault proxy answers in this loop, which must keep running while the edge starts.
    edge = await asyncio.to_thread(EdgeProcess, args, env=env, log=tmp_path / "edge.log", read_stdout=True)
    try:
        base = edge.url
        sign = await asyncio.create_subprocess_exec(
            VODFLOW, "sign", f"/titles/{TITLE}/", "--ttl", "60", "--secret-file", str(secret),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        token = (await sign.stdout.read()).decode().strip()
        assert await sign.wait() == 0
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/titles/{TITLE}/master.m3u8?token={token}") as r:
                assert r.status == 200 and await r.read() == published["master.m3u8"]
            # A character in the middle: the last one's low bits may be padding.
            mid = len(token) // 2
            tampered = token[:mid] + ("B" if token[mid] == "A" else "A") + token[mid + 1 :]
            async with http.get(f"{base}/titles/{TITLE}/master.m3u8?token={tampered}") as r:
                assert r.status == 403
            access = json.loads(await asyncio.wait_for(asyncio.to_thread(edge.proc.stdout.readline), 10))
            assert access["path"] == f"/titles/{TITLE}/master.m3u8" and access["status"] == 200
            # A slow miss is in flight when SIGTERM arrives: it must still complete.
            proxy.delay = 1.0
            slow = asyncio.create_task(http.get(f"{base}/titles/{TITLE}/video/r/2.m4s?token={token}"))
            await until(lambda: proxy.count("/2.m4s") == 1, what="the miss to reach the origin")
            edge.proc.send_signal(signal.SIGTERM)
            r = await slow
            assert r.status == 200 and await r.read() == published["video/r/2.m4s"]
            r.release()
        code = await asyncio.to_thread(edge.proc.wait, 15)
        assert code == 0, edge.log.read_text()[-2000:]
    finally:
        edge.stop()
        await proxy.close()
