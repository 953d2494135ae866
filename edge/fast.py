"""The hit fast path: a cached segment answered from the connection's ``data_received``, before aiohttp
builds a request, routes it or runs a handler.

aiohttp spends most of a hit's CPU on machinery a hit does not need (request and response objects,
routing, middleware, a handler task, header multidicts, the access-log hook). ``EdgeRunner`` makes the
edge's connections ``FastHandler``s: when a connection is idle and one whole request arrives that is a
plain ``GET``/``HEAD`` of ``/titles/<id>/<path>`` for a fresh, cached, non-manifest object, with only
headers known to change nothing (no ``Range``, no conditionals, no ``Origin``, no body), a valid token
where tokens are required and no geo rule for the title, the answer is written at once: a status line
and headers made once per entry, a ``Date`` line made once per second, and the body. Everything else,
and every request that cannot be proven simple, goes to aiohttp exactly as before, so every rule the
application enforces still holds; the fast path only ever answers what the application would answer
with the same bytes (``X-Cache: HIT``).

A connection stops using the fast path for good once it has fed aiohttp anything that may end
mid-message (a partial request, a body), so the fast path never reads bytes aiohttp's parser owns, and
it never answers while aiohttp is busy with an earlier request on the connection (responses stay in
order) or while the transport still holds more than a little unsent output (a client that does not
read gets aiohttp's flow control).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from email.utils import formatdate

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from edge.access import access_log, log_access
from edge.cache import Entry
from edge.errors import BadToken
from edge.http import SEGMENT_PATTERN
from edge.server import EDGE_KEY, Edge
from origin.layout import POINTER
from vodflow.ids import ID_PATTERN

__all__ = ["EdgeRunner", "FastHandler"]

# Headers a segment hit may carry without changing the answer. Anything else (Range, If-*, Origin,
# Content-Length, Transfer-Encoding, Upgrade, Expect, ...) goes to aiohttp.
_SAFE = frozenset(
    (
        b"host",
        b"user-agent",
        b"accept",
        b"accept-encoding",
        b"accept-language",
        b"connection",
        b"cookie",
        b"referer",
        b"cache-control",
        b"pragma",
        b"dnt",
        b"priority",
        b"x-forwarded-for",
        b"sec-fetch-dest",
        b"sec-fetch-mode",
        b"sec-fetch-site",
        b"sec-ch-ua",
        b"sec-ch-ua-mobile",
        b"sec-ch-ua-platform",
    )
)
_BODY = (b"content-length", b"transfer-encoding")
# The same alphabet as edge.http (vodflow.ids' ID, SEGMENT_PATTERN): no dot segments, no escapes, no '@'
# (pinned versions take the slow path), and at most a token in the query.
_SEG = SEGMENT_PATTERN.encode()
_TARGET = re.compile(
    rb"/titles/(" + ID_PATTERN.encode() + rb")/"
    rb"((?:" + _SEG + rb"/)*" + _SEG + rb")"
    rb"(?:\?token=([A-Za-z0-9._-]{1,1024}))?"
)
_TOKEN_COOKIE = b"vodflow_token"
_MAX_PASSES = 4096  # entries of Edge.token_passes before it is emptied (a bound, not an LRU)
_MAX_BUFFERED = 64 << 10  # unsent bytes above which a connection is left to aiohttp's flow control
_JOIN_BELOW = 256 << 10  # bodies this small are sent with their head in one write
_FIRST_CHUNK = 16 << 10  # a released miss's first write: its head and this much body
_MAX_HELD = 1 << 20  # bytes a client may send while its miss waits before the connection is closed


class _Date:
    __slots__ = ("line", "second")

    def __init__(self) -> None:
        self.second = 0
        self.line = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = b"Date: " + formatdate(now, usegmt=True).encode() + b"\r\n\r\n"
        return self.line


_date = _Date()


def head_for(edge: Edge, entry: Entry, how: str = "HIT") -> bytes:
    """The status line and headers of a 200 for ``entry`` without the ``Date`` line (what
    ``Edge.respond`` sends for a plain GET of a non-manifest entry); the HIT head is made once per entry."""
    head = entry.head if how == "HIT" else None
    if head is None:
        lines = [
            "HTTP/1.1 200 OK",
            f"Content-Type: {entry.content_type}",
            f"ETag: {entry.etag}",
            "Accept-Ranges: bytes",
            f"Cache-Control: public, max-age={int(edge.config.ttl_segment)}, immutable",
            f"X-Cache: {how}",
        ]
        if entry.last_modified:
            lines.append(f"Last-Modified: {entry.last_modified}")
        lines.append(f"Content-Length: {len(entry.body)}")
        head = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        if how == "HIT":
            entry.head = head
    return head


def _error_head(exc: web.HTTPException) -> bytes:
    """The head aiohttp sends for one of the application's plain-text refusals, without ``Date``."""
    body = exc.text or ""
    return (
        f"HTTP/1.1 {exc.status} {exc.reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body.encode())}\r\n"
    ).encode("latin-1")


class _Waiter:
    """A fast-path miss waiting for its object's fetch."""

    __slots__ = ("handler", "head_only", "joined", "path", "started")

    def __init__(self, handler: FastHandler, head_only: bool, joined: bool, path: str, started: float) -> None:
        self.handler, self.head_only, self.joined, self.path, self.started = handler, head_only, joined, path, started


def _release(edge: Edge, waiters: list[_Waiter], task: asyncio.Task[Entry]) -> None:
    """Answer every fast-path waiter of a finished fetch in one pass of the event loop: first each one's
    head and first chunk (so no waiter's first byte waits behind another's whole body), then the rest of
    every body. The heads are made once for all of them."""
    alive = []
    for w in waiters:
        transport = w.handler.transport
        if transport is not None and not transport.is_closing():
            alive.append(w)
        else:
            w.handler._resume(None)
    metrics = edge.metrics
    date = _date.get()
    exc = None if task.cancelled() else task.exception()
    if task.cancelled() or exc is not None:
        for w in alive:
            refusal = edge.failure(exc if exc is not None else asyncio.CancelledError())
            body = (refusal.text or "").encode()
            metrics.requests[refusal.status] += 1
            w.handler.transport.write(_error_head(refusal) + date + (b"" if w.head_only else body))
            w.handler._answered(w, refusal.status, 0 if w.head_only else len(body), None)
        return
    entry = task.result()
    body = entry.body
    heads: dict[bool, bytes] = {}
    first = memoryview(body)[:_FIRST_CHUNK]
    rest = memoryview(body)[_FIRST_CHUNK:]
    for w in alive:
        head = heads.get(w.joined)
        if head is None:
            head = heads[w.joined] = head_for(edge, entry, "COALESCED" if w.joined else "MISS") + date
        metrics.cache["miss"] += 1
        metrics.requests[200] += 1
        if w.joined:
            metrics.coalesced_waiters += 1
        w.handler.transport.write(head if w.head_only else head + first)
    for w in alive:
        if not w.head_only:
            if rest:
                w.handler.transport.write(rest)
            metrics.bytes_served += len(body)
        w.handler._answered(w, 200, 0 if w.head_only else len(body), "COALESCED" if w.joined else "MISS")


class FastHandler(RequestHandler):
    """aiohttp's connection handler with the hit fast path in front of its parser."""

    __slots__ = ("_edge", "_fast", "_held", "_released")

    def __init__(self, manager: Server, *, edge: Edge, **kwargs) -> None:
        super().__init__(manager, **kwargs)
        self._edge = edge
        self._fast = True
        self._held: bytearray | None = None  # bytes that arrived while a fast-path miss waits
        self._released: asyncio.Future[None] | None = None  # shutdown waits on it while a miss waits

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """aiohttp's graceful stop, after a fast-path miss in flight has been answered (aiohttp only waits
        for the requests it knows about)."""
        if self._held is not None:
            self._released = self._loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._released), timeout)
        await super().shutdown(timeout)

    def data_received(self, data: bytes) -> None:
        held = self._held
        if held is not None:  # a miss of this connection is waiting: its answer goes first
            held += data
            if len(held) > _MAX_HELD and self.transport is not None:
                self.transport.close()
            return
        if self._fast:
            waiter = self._waiter
            if (
                waiter is not None  # aiohttp is idle on this connection: nothing in flight or queued
                and not waiter.done()
                and not self._messages
                and self._payload_parser is None
                and not self._upgraded
                and not self._force_close
                and not self._close
                and self._serve(data)
            ):
                return
            if not data.endswith(b"\r\n\r\n"):
                self._fast = False  # aiohttp's parser may now hold part of a message
        super().data_received(data)

    def _serve(self, data: bytes) -> bool:
        """Answer ``data`` if it is one simple hit; False leaves it to aiohttp."""
        started = time.perf_counter()
        end = data.find(b"\r\n\r\n")
        if end != len(data) - 4:
            return False
        lines = data[:end].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1":
            return False
        method = parts[0]
        if method != b"GET" and method != b"HEAD":
            if method != b"OPTIONS":
                self._fast = False  # may carry a body
            return False
        edge = self._edge
        config = edge.config
        target = parts[1]
        if len(target) > config.max_url_chars:
            return False
        m = _TARGET.fullmatch(target)
        if m is None:
            return False
        cookie = forwarded = None
        simple = True
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            name = name.lower()
            if not sep or name not in _SAFE:
                if name.strip() in _BODY:
                    self._fast = False  # a body follows: from now on the bytes are aiohttp's to parse
                    return False
                simple = False
            elif name == b"cookie":
                cookie = value
            elif name == b"connection" and value.strip().lower() != b"keep-alive":
                simple = False
            elif name == b"x-forwarded-for":
                forwarded = value
        if not simple:
            return False
        title = m.group(1).decode()
        path = m.group(2).decode()
        if path == POINTER or path.endswith((".mpd", ".m3u8", ".json", ".vtt")):
            return False  # pointers and manifests: the application's answer (gzip, cookies, TTL)
        if config.require_tokens:
            token = m.group(3)
            if token is None and cookie is not None:
                for pair in cookie.split(b";"):
                    k, _, v = pair.strip().partition(b"=")
                    if k == _TOKEN_COOKIE:
                        token = v
                        break
            if not token or config.signer is None:
                return False
            passes = edge.token_passes
            expiry = passes.get((token, title))
            if expiry is None or expiry <= time.time():
                try:
                    scope = config.signer.authorise(token.decode("ascii"), "/titles/" + title + "/" + path)
                except (BadToken, UnicodeDecodeError):
                    return False  # the application refuses it, with its reason and metrics
                if scope.endswith("/") and f"/titles/{title}/".startswith(scope):  # the whole title
                    if len(passes) >= _MAX_PASSES:
                        passes.clear()
                    passes[(token, title)] = int(token.split(b".", 1)[0])
        if title in config.geo.titles:
            return False
        del forwarded  # only a geo rule reads it
        version = edge.known_version(title)
        if version is None:
            return False
        key = f"{title}/{version}/{path}"
        memory = edge.cache.memory
        entry = memory.peek(key)  # counted below, or by the application when it takes the request
        transport = self.transport
        if transport is None or transport.get_write_buffer_size() > _MAX_BUFFERED:
            return False
        if entry is None and edge.cache.disk is None:
            # A miss no tier can answer: wait for the object's one fetch here, and be answered with every
            # other waiter the moment it lands (_release), not one handler task after another.
            memory.count(key)
            task, joined = edge.start_fill(key, title, version, path)
            waiters = edge.fast_waiters.get(task)
            if waiters is None:
                waiters = edge.fast_waiters[task] = []
                task.add_done_callback(lambda t: _release(edge, edge.fast_waiters.pop(t), t))
            waiters.append(_Waiter(self, method == b"HEAD", joined, "/titles/" + title + "/" + path, started))
            self._held = bytearray()
            if self._keepalive_timeout > 0:  # not closed as idle while it waits
                self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
            return True
        if entry is None or entry.gz is not None or not entry.fresh():
            return False
        memory.get(key)  # the lookup counts for admission, and the entry is now the most recent
        head = (entry.head or head_for(edge, entry)) + _date.get()
        body = entry.body
        metrics = edge.metrics
        metrics.cache["hit"] += 1
        metrics.requests[200] += 1
        metrics.fast_hits += 1
        if method == b"HEAD":
            transport.write(head)
        elif len(body) < _JOIN_BELOW:
            transport.write(head + body)
            metrics.bytes_served += len(body)
        else:
            transport.write(head)
            transport.write(body)
            metrics.bytes_served += len(body)
        if access_log.isEnabledFor(logging.INFO):
            peer = transport.get_extra_info("peername")
            size = 0 if method == b"HEAD" else len(body)
            log_access(peer[0] if peer else None, method.decode(), "/titles/" + title + "/" + path, 200, size,
                       time.perf_counter() - started, "HIT")  # fmt: skip
        if self._keepalive_timeout > 0:
            self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        return True

    def _answered(self, w: _Waiter, status: int, size: int, how: str | None) -> None:
        """Log a released miss and go on with whatever the client sent meanwhile."""
        if access_log.isEnabledFor(logging.INFO):
            peer = self.transport.get_extra_info("peername") if self.transport else None
            log_access(peer[0] if peer else None, "HEAD" if w.head_only else "GET", w.path, status, size,
                       time.perf_counter() - w.started, how)  # fmt: skip
        if self._keepalive_timeout > 0:
            self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        self._resume(self.transport)

    def _resume(self, transport) -> None:
        held, self._held = self._held, None
        if self._released is not None and not self._released.done():
            self._released.set_result(None)
        if held and transport is not None and not transport.is_closing():
            self.data_received(bytes(held))


class _FastServer(Server):
    edge: Edge

    def __call__(self) -> RequestHandler:
        return FastHandler(self, edge=self.edge, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """``web.AppRunner`` for an edge application (``make_app``): its connections use the fast path."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        edge = self._app.get(EDGE_KEY)
        if edge is not None:  # any other application runs as aiohttp runs it
            server.__class__ = _FastServer
            server.edge = edge
        return server
