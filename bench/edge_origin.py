"""The bench's own HTTP origin for ``bench.edge`` (``python -m bench.edge_origin``), and the plain aiohttp
reference handler (``--plain``).

Objects are made, not stored: ``/titles/<title>/s<size>/<n>.m4s`` is ``size`` bytes that start with the
path (so a client can check it got the right object) followed by a slice of a seeded random pool chosen
by the path's hash; ``/titles/<title>/manifest.mpd`` is a small manifest with ``max-age=2``. It answers
both URL forms the servers under test ask for: nginx proxies the player URL as it is, our edge (with
``--upstream``) asks ``/titles/<title>/current.json`` for the pointer and ``/titles/<title>/@v1/<path>``
for objects. Segments are ``immutable`` for a day, manifests 2 s, ``If-None-Match`` gets 304.

A second listener takes control requests (never counted, never faulted): ``POST /ctl`` with JSON
``{"delay": s, "mode": "pass"|"503"|"hang"|"down"}`` and ``GET /stats?reset=1`` (object GETs and bytes,
by path). ``down`` closes the data listener (connection refused) and resets requests arriving on open
connections; ``hang`` holds requests until the mode changes, then drops them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
from collections import Counter

from aiohttp import web

from origin.layout import POINTER, Pointer, version_root
from packager import DASH_MANIFEST, HLS_MASTER

__all__ = ["VERSION", "body", "manifest", "pointer_body"]

VERSION = "v1"
_POOL = random.Random(20240607).randbytes(4 << 20)
_SEGMENT = re.compile(r"/titles/([A-Za-z0-9_-]+)/(?:@" + VERSION + r"/)?(s(\d+)/\d+\.m4s)")
_MANIFEST = re.compile(r"/titles/([A-Za-z0-9_-]+)/(?:@" + VERSION + r"/)?(manifest\.mpd)")
_POINTER = re.compile(r"/titles/([A-Za-z0-9_-]+)/" + re.escape(POINTER))
_LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"
_PUBLISHED_AT = "2024-01-01T00:00:00+00:00"


def body(path: str, size: int) -> bytes:
    """The bytes of segment ``path`` (the player URL, ``/titles/...``), ``size`` long."""
    head = path.encode() + b"\n"
    n = max(size - len(head), 0)
    start = int.from_bytes(hashlib.blake2b(head, digest_size=8).digest(), "big") % (len(_POOL) - n)
    return (head + _POOL[start : start + n])[:size]


def pointer_body(title: str) -> bytes:
    """The pointer object of ``title`` as ``origin.publish`` writes it: ``VERSION``, the packager's names."""
    record = Pointer(
        title=title, version=VERSION, root=version_root(title, VERSION), dash=DASH_MANIFEST, hls=HLS_MASTER,
        published_at=_PUBLISHED_AT,
    )  # fmt: skip
    return record.to_json().encode()


def manifest(path: str) -> bytes:
    return (path + "\n").encode() + b'<?xml version="1.0"?><MPD>' + b"<Period/>" * 200 + b"</MPD>\n"


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


class Origin:
    def __init__(self) -> None:
        self.delay = 0.0
        self.mode = "pass"
        self.gets: Counter[str] = Counter()
        self.bytes = 0
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None
        self.port = 0
        self._changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        mode = self.mode
        if mode == "down" and request.transport is not None:
            request.transport.abort()  # an open connection to a dead origin: reset
            raise web.HTTPServiceUnavailable()
        if mode == "503":
            return web.Response(status=503, text="injected outage\n")
        if mode == "hang":
            while self.mode == "hang":
                await self._changed.wait()
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if self.delay:
            await asyncio.sleep(self.delay)  # the origin's latency: part of the scenario
        path = request.path
        if m := _POINTER.fullmatch(path):
            data = pointer_body(m.group(1))
            return web.Response(body=data, content_type="application/json", headers={"Cache-Control": "no-cache"})
        if m := _SEGMENT.fullmatch(path):
            player = f"/titles/{m.group(1)}/{m.group(2)}"
            data, ctype, cc = body(player, int(m.group(3))), "video/iso.segment", "public, max-age=86400, immutable"
        elif m := _MANIFEST.fullmatch(path):
            player = f"/titles/{m.group(1)}/{m.group(2)}"
            data, ctype, cc = manifest(player), "application/dash+xml", "public, max-age=2"
        else:
            return web.Response(status=404, text="no such object\n")
        etag = _etag(data)
        headers = {"Content-Type": ctype, "Cache-Control": cc, "ETag": etag, "Last-Modified": _LAST_MODIFIED}
        self.gets[player] += 1
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        self.bytes += len(data)
        return web.Response(body=data, headers=headers)

    async def ctl(self, request: web.Request) -> web.Response:
        cmd = await request.json()
        if "delay" in cmd:
            self.delay = float(cmd["delay"])
        mode = cmd.get("mode")
        if mode is not None and mode != self.mode:
            was, self.mode = self.mode, mode
            self._changed.set()
            self._changed = asyncio.Event()
            if mode == "down":
                await self.site.stop()  # new connections are refused
            elif was == "down":
                await self._listen()
        return web.json_response({"delay": self.delay, "mode": self.mode})

    async def stats(self, request: web.Request) -> web.Response:
        out = {"gets": sum(self.gets.values()), "bytes": self.bytes, "paths": dict(self.gets)}
        if request.query.get("reset"):
            self.gets.clear()
            self.bytes = 0
        return web.json_response(out)

    async def _listen(self) -> None:
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await self.site.start()
        self.port = self.site._server.sockets[0].getsockname()[1]


class Plain:
    """The reference: a plain aiohttp handler answering from a dict in memory."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    async def handle(self, request: web.Request) -> web.Response:
        data = self.store.get(request.path)
        if data is None:
            m = _SEGMENT.fullmatch(request.path)
            if m is None:
                raise web.HTTPNotFound()
            data = self.store[request.path] = body(request.path, int(m.group(3)))
        return web.Response(body=data, content_type="video/iso.segment")


async def _main(plain: bool) -> None:
    if plain:
        app = web.Application()
        app.router.add_get("/{tail:.*}", Plain().handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready = {"url": f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", "pid": os.getpid()}
    else:
        origin = Origin()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", origin.handle)
        origin.runner = web.AppRunner(app, access_log=None, handle_signals=True, shutdown_timeout=0.5)
        await origin.runner.setup()
        await origin._listen()
        ctl_app = web.Application()
        ctl_app.router.add_post("/ctl", origin.ctl)
        ctl_app.router.add_get("/stats", origin.stats)
        ctl_runner = web.AppRunner(ctl_app, access_log=None, handle_signals=False)
        await ctl_runner.setup()
        ctl_site = web.TCPSite(ctl_runner, "127.0.0.1", 0)
        await ctl_site.start()
        ctl_port = ctl_site._server.sockets[0].getsockname()[1]
        ready = {"url": f"http://127.0.0.1:{origin.port}", "ctl": f"http://127.0.0.1:{ctl_port}", "pid": os.getpid()}
    print(json.dumps(ready), flush=True)
    await asyncio.Event().wait()


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.edge_origin", description=__doc__.splitlines()[0])
    p.add_argument("--plain", action="store_true", help="the plain aiohttp in-memory reference server")
    args = p.parse_args()
    with contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
        asyncio.run(_main(args.plain))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
