"""Real servers for edge tests: the edge app on 127.0.0.1, a fault-injecting HTTP proxy in front of the
real upstream (SeaweedFS or another edge), and a small synthetic title published into S3.

The proxy is ours, not a stand-in for anything we ship against: it forwards every request byte for byte
(Host included, so SigV4 signatures still verify) and can count requests, add latency, answer 503, hang
or refuse connections, which is what an origin outage looks like from the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from edge.access import AccessLogger, access_log
from edge.app import make_app
from edge.fast import EdgeRunner
from edge.server import EdgeConfig

__all__ = ["FaultProxy", "put_title", "serve", "synthetic_title"]


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 and yield its base URL; stops it (gracefully) on exit."""
    runner = EdgeRunner(app, access_log=access_log, access_log_class=AccessLogger, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, bound = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def edge(config: EdgeConfig) -> AsyncIterator[str]:
    async with serve(make_app(config)) as url:
        yield url


class FaultProxy:
    """An HTTP reverse proxy to ``target`` with a switchable fault ``mode``: ``pass``, ``503``, ``hang``.
    ``stop()``/``start()`` close and reopen the listener on the same port (connection refused between).
    ``gets`` counts forwarded requests by path; ``delay`` adds latency before forwarding."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.mode = "pass"
        self.delay = 0.0
        self.gets: Counter[str] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def stop(self) -> None:
        self._release.set()  # hung requests end (with a dropped connection) so the listener can close
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._release = asyncio.Event()

    async def close(self) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if self.mode == "503":
            return web.Response(status=503, text="injected outage")
        if self.mode == "hang":
            await self._release.wait()
            return web.Response(status=503, text="released at stop")
        self.gets[path] += 1
        if self.delay:
            await asyncio.sleep(self.delay)  # origin latency, part of the scenario, not a wait
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "connection")}
        async with self._session.request(
            request.method, self.target + request.raw_path, headers=headers, data=await request.read()
        ) as up:
            body = await up.read()
            keep = ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Set-Cookie")
            return web.Response(
                status=up.status, body=body, headers={k: up.headers[k] for k in keep if k in up.headers}
            )

    def count(self, suffix: str) -> int:
        """Forwarded requests whose path ends with ``suffix``."""
        return sum(n for p, n in self.gets.items() if p.endswith(suffix))


def synthetic_title() -> dict[str, bytes]:
    """A package-shaped tree with random segment bytes: what the edge serves does not depend on media."""
    files = {
        "manifest.mpd": b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">'
        + b"<Period>" * 50
        + b"</MPD>\n",
        "master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:6\n"
        + b'#EXT-X-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.64000d"\nvideo/r/media.m3u8\n' * 20,
        "video/r/media.m3u8": b'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n'
        + b"".join(b"#EXTINF:2.000,\n%d.m4s\n" % i for i in range(1, 4)),
        "video/r/init.mp4": os.urandom(900),
        "text/en/1.vtt": b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n",
    }
    for i in range(1, 4):
        files[f"video/r/{i}.m4s"] = os.urandom(50_000 + i)
    return files


_TYPES = {".mpd": "application/dash+xml", ".m3u8": "application/vnd.apple.mpegurl", ".mp4": "video/mp4"}


def put_title(origin, title: str, version: str, files: dict[str, bytes], *, current: bool = True) -> None:
    """Write ``files`` as ``title``'s ``version`` under the origin's ``titles/`` prefix (and point at it)."""
    s3 = origin.client()
    loc = origin.location
    for path, body in files.items():
        ext = path[path.rfind(".") :]
        s3.put_object(
            Bucket=loc.bucket,
            Key=loc.key("titles", title, "v", version, path),
            Body=body,
            ContentType=_TYPES.get(ext, "video/iso.segment" if ext == ".m4s" else "text/vtt"),
        )
    if current:
        s3.put_object(
            Bucket=loc.bucket,
            Key=loc.key("titles", title, "current.json"),
            Body=json.dumps({"version": version}).encode(),
            ContentType="application/json",
        )
