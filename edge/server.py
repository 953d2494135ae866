"""The edge itself: its configuration and the ``Edge`` that answers content from its cache or upstream.

``Edge`` holds one process's state (config, cache tiers, in-flight fetches, pointers, metrics) and serves
``GET|HEAD /titles/<id>/...``; the routes, the guard middleware and ``make_app`` are in ``edge.app``, the
key and licence endpoints in ``edge.keys``, the access log in ``edge.access``. Content routes::

    GET|HEAD /titles/<id>/<path>             the current version's object (token, geo)
    GET|HEAD /titles/<id>/@<version>/<path>  a pinned version's object (what a lower-tier edge asks for)
    GET      /titles/<id>/current.json       the pointer as this edge sees it (for lower tiers)
    GET      /healthz, /metrics              liveness; Prometheus text
    OPTIONS  anything                        CORS preflight

Hits are served from memory with no await before the response; a miss joins or starts the one upstream
fetch for its object (``Coalescer``). When the upstream fails, an expired entry is served rather than an
error (stale-if-error); without one the answer is 502, or 504 for a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from edge.cache import Cache, Coalescer, DiskTier, Entry
from edge.errors import BadToken, UpstreamError, UpstreamNotFound, UpstreamTimeout
from edge.geo import Geo
from edge.http import (
    BadPath,
    RangeNotSatisfiable,
    accepts_gzip,
    content_type,
    etag_matches,
    parse_range,
    split_content_path,
)
from edge.pages import PagesConfig
from edge.tokens import TokenSigner
from edge.upstream import Upstream
from origin.layout import POINTER
from packager import KeyStore

__all__ = ["EDGE_KEY", "NO_STORE", "TOKEN_COOKIE", "Edge", "EdgeConfig"]

log = logging.getLogger("vodflow.edge")

TOKEN_COOKIE = "vodflow_token"
NO_STORE = "no-store"  # Cache-Control of answers no cache may keep (keys, licences, metrics)
_MANIFEST_SUFFIXES = (".mpd", ".m3u8", ".json", ".vtt")
_CORS_EXPOSE = "Content-Range, Content-Length, Accept-Ranges, ETag, Date, X-Cache"
_CORS_ALLOW_HEADERS = "Range, If-None-Match, If-Range, Content-Type, Origin"


@dataclass(kw_only=True)
class EdgeConfig:
    """Everything an edge needs. ``signer=None`` refuses every key and licence request; with
    ``require_tokens=False`` content is open (keys still need a token)."""

    upstream: Upstream
    signer: TokenSigner | None = None
    require_tokens: bool = True
    keystore: KeyStore | None = None  # the keys and licences edge.keys serves
    geo: Geo = field(default_factory=Geo)
    cache_bytes: int = 256 << 20
    cache_admission: bool = True  # TinyLFU admission in front of the memory LRU (edge.cache)
    max_entry_bytes: int | None = None  # default: a quarter of the memory cache
    disk_dir: Path | None = None
    disk_bytes: int = 0
    ttl_segment: float = 86400.0
    ttl_manifest: float = 2.0
    ttl_pointer: float = 1.0
    cors_origins: tuple[str, ...] = ("*",)
    max_url_chars: int = 2048
    pages: PagesConfig = field(default_factory=PagesConfig)  # the browser pages (edge/pages.py)
    live_dir: Path | None = None  # relay /live/<channel>/ to the packagers of this live state folder


def _is_manifest(path: str) -> bool:
    return path.endswith(_MANIFEST_SUFFIXES)


@dataclass
class _Pointer:
    version: str | None  # None: the title is not published (negative entry)
    expires: float


class Edge:
    """The state of one edge process: config, cache, in-flight fetches, pointers and metrics."""

    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.upstream = config.upstream
        self.metrics = config.upstream.metrics
        disk = DiskTier(config.disk_dir, config.disk_bytes) if config.disk_dir and config.disk_bytes > 0 else None
        self.cache = Cache(
            config.cache_bytes, disk=disk, max_entry=config.max_entry_bytes, admit=config.cache_admission
        )
        self.fetches: Coalescer[Entry] = Coalescer()
        self.pointer_fetches: Coalescer[str] = Coalescer()
        self.pointers: dict[str, _Pointer] = {}
        self.fast_waiters: dict[asyncio.Task[Entry], list] = {}  # the fast path's misses by fetch (fast.py)
        # (token bytes, title) -> expiry of tokens the fast path has verified whose scope is the whole title:
        # a hit then costs one lookup and a clock read, not a decode, a verification and a scope test.
        self.token_passes: dict[tuple[bytes, str], int] = {}
        self.started = time.time()

    # --- authorisation ----------------------------------------------------------------------------
    def _token(self, request: web.Request) -> str | None:
        return request.query.get("token") or request.cookies.get(TOKEN_COOKIE)

    def authorise(self, request: web.Request, title: str, path: str, *, keys: bool = False) -> None:
        """Raise 403 unless the request's token covers ``path`` and the client may watch ``title``."""
        if keys or self.config.require_tokens:
            if self.config.signer is None:
                self.metrics.errors["no_signer"] += 1
                raise web.HTTPForbidden(text="forbidden: this edge has no token secret\n")
            try:
                self.config.signer.authorise(self._token(request), path)
            except BadToken as exc:
                self.metrics.errors["token"] += 1
                raise web.HTTPForbidden(text=f"forbidden: {exc}\n") from None
        if not self.config.geo.allowed(title, request.remote, request.headers.get("X-Forwarded-For")):
            self.metrics.errors["geo"] += 1
            raise web.HTTPForbidden(text="forbidden: not available in your country\n")

    # --- pointer ----------------------------------------------------------------------------------
    async def current_version(self, title: str) -> str:
        """The title's current version. A fresh pointer is used as it is; an expired one is used too while
        a refresh runs in the background (stale-while-revalidate: a request never waits on the pointer of a
        title it has seen, so an origin outage costs no pointer timeout); a title never seen waits for the
        (coalesced) fetch. Raises 404 for an unpublished title, 502/504 when the upstream fails."""
        version = self.known_version(title)
        if version is not None:
            return version
        p = self.pointers.get(title)
        if p is not None and time.monotonic() < p.expires:
            raise web.HTTPNotFound(text="no such title\n")
        task, _ = self.pointer_fetches.start(title, lambda: self._fetch_pointer(title))
        try:
            return await asyncio.shield(task)
        except UpstreamNotFound:
            raise web.HTTPNotFound(text="no such title\n") from None
        except UpstreamError as exc:
            raise self._upstream_failure(exc) from None

    def known_version(self, title: str) -> str | None:
        """The version of a title this edge has seen published, without waiting: the pointer as it is,
        with a refresh started behind it once it has expired. None when the title was never seen (or is
        known to be unpublished): then the caller must wait for the pointer."""
        p = self.pointers.get(title)
        if p is None or p.version is None:
            return None
        if time.monotonic() >= p.expires:
            self.pointer_fetches.start(title, lambda: self._fetch_pointer(title))
        return p.version

    async def _fetch_pointer(self, title: str) -> str:
        ttl = self.config.ttl_pointer
        try:
            version = await self.upstream.version(title)
        except UpstreamNotFound:
            self.pointers[title] = _Pointer(None, time.monotonic() + ttl)
            raise
        except UpstreamError as exc:
            self.metrics.errors[f"pointer_{exc.kind}"] += 1
            log.warning("pointer of %s: %s", title, exc)
            raise
        self.pointers[title] = _Pointer(version, time.monotonic() + ttl)
        return version

    def _upstream_failure(self, exc: UpstreamError) -> web.HTTPException:
        self.metrics.errors[f"upstream_{exc.kind}"] += 1
        log.warning("upstream failed: %s", exc)
        if isinstance(exc, UpstreamTimeout):
            return web.HTTPGatewayTimeout(text="upstream timed out\n")
        return web.HTTPBadGateway(text="upstream failed\n")

    # --- objects ----------------------------------------------------------------------------------
    async def entry(self, title: str, version: str, path: str) -> tuple[Entry, str]:
        """The cache entry for one object and how it was found (HIT, MISS, COALESCED, REVALIDATED, STALE)."""
        key = f"{title}/{version}/{path}"
        stale = self.cache.peek(key)
        if stale is None and self.cache.disk is not None:
            stale = await self.cache.from_disk(key)
        if stale is not None and stale.fresh():
            self.metrics.cache["hit"] += 1
            return stale, "HIT"
        try:
            got, joined = await self.fetches.run(key, lambda: self._fill(key, title, version, path, stale))
        except UpstreamNotFound:
            self.metrics.cache["miss"] += 1
            raise web.HTTPNotFound(text="not found\n") from None
        except UpstreamError as exc:
            if stale is not None:
                self.metrics.cache["stale"] += 1
                log.warning("serving stale %s: %s", key, exc)
                self.metrics.errors[f"upstream_{exc.kind}"] += 1
                return stale, "STALE"
            self.metrics.cache["miss"] += 1
            raise self._upstream_failure(exc) from None
        if joined:
            self.metrics.coalesced_waiters += 1
        if stale is not None:
            self.metrics.cache["revalidated"] += 1
            return got, "REVALIDATED"
        self.metrics.cache["miss"] += 1
        return got, "COALESCED" if joined else "MISS"

    def start_fill(self, key: str, title: str, version: str, path: str) -> tuple[asyncio.Task[Entry], bool]:
        """The fetch of an object no cache tier holds (started now unless one is in flight, which may have
        been started by ``entry``) and whether it was in flight: the fast path's misses (edge.fast)."""
        return self.fetches.start(key, lambda: self._fill(key, title, version, path, None))

    async def _fill(self, key: str, title: str, version: str, path: str, stale: Entry | None) -> Entry:
        """Fetch one object (revalidating ``stale`` when there is one) and cache it."""
        manifest = _is_manifest(path)
        ttl = self.config.ttl_manifest if manifest else self.config.ttl_segment
        fetched = await self.upstream.object(title, version, path, etag=stale.etag if stale else None)
        if fetched.not_modified and stale is not None:
            self.cache.refresh(key, stale, ttl)
            return stale
        etag = fetched.etag or '"' + hashlib.sha1(fetched.body).hexdigest() + '"'
        made = Entry.make(
            fetched.body,
            content_type=content_type(path, fetched.content_type),
            etag=etag,
            ttl=ttl,
            last_modified=fetched.last_modified,
            compress=manifest,
        )
        await self.cache.put(key, made)
        return made

    def failure(self, exc: BaseException) -> web.HTTPException:
        """The answer to a miss whose fetch failed and that has no stale entry (counted in the metrics)."""
        self.metrics.cache["miss"] += 1
        if isinstance(exc, UpstreamNotFound):
            return web.HTTPNotFound(text="not found\n")
        if isinstance(exc, UpstreamError):
            return self._upstream_failure(exc)
        return web.HTTPBadGateway(text="upstream failed\n")

    # --- handlers ---------------------------------------------------------------------------------
    def cors(self, request: web.Request, headers: dict[str, str]) -> None:
        """Add the CORS headers ``request``'s ``Origin`` earns to ``headers`` (none without one)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return
        allowed = self.config.cors_origins
        if "*" in allowed and request.cookies.get(TOKEN_COOKIE) is None:
            headers["Access-Control-Allow-Origin"] = "*"
        elif "*" in allowed or origin in allowed:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            headers["Vary"] = "Origin" + (", " + headers["Vary"] if "Vary" in headers else "")
        else:
            return
        headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE

    async def content(self, request: web.Request) -> web.StreamResponse:
        try:
            title, version, path = split_content_path(request.match_info["title"], request.match_info["rest"])
        except BadPath as exc:
            self.metrics.errors["bad_path"] += 1
            raise web.HTTPBadRequest(text=f"bad request: {exc}\n") from None
        self.authorise(request, title, request.path)
        if version is None and path == POINTER:
            version = await self.current_version(title)
            headers = {"Content-Type": "application/json", "Cache-Control": "no-cache"}
            self.cors(request, headers)
            return web.Response(body=json.dumps({"version": version}).encode(), headers=headers)
        if version is None:
            version = await self.current_version(title)
        entry, how = await self.entry(title, version, path)
        response = self.respond(request, entry, how, path)
        token = request.query.get("token")
        verified = self.config.require_tokens  # authorise() checked it, so it is safe to echo
        if verified and token and request.cookies.get(TOKEN_COOKIE) != token and _is_manifest(path):
            # Players resolve segment and key URIs against the manifest URL without its query string,
            # so the token rides along as cookies scoped to this title's paths.
            for prefix in (f"/titles/{title}/", f"/keys/{title}/", f"/license/{title}"):
                # One header each: aiohttp's set_cookie keeps one cookie per name.
                response.headers.add("Set-Cookie", f"{TOKEN_COOKIE}={token}; Path={prefix}; HttpOnly; SameSite=Lax")
        return response

    def respond(self, request: web.Request, entry: Entry, how: str, path: str) -> web.Response:
        manifest = entry.gz is not None or _is_manifest(path)
        headers = {
            "Content-Type": entry.content_type,
            "ETag": entry.etag,
            "Accept-Ranges": "bytes",
            "Cache-Control": (
                f"public, max-age={int(self.config.ttl_manifest)}"
                if manifest
                else f"public, max-age={int(self.config.ttl_segment)}, immutable"
            ),
            "X-Cache": how,
        }
        if entry.last_modified:
            headers["Last-Modified"] = entry.last_modified
        if entry.gz is not None:
            headers["Vary"] = "Accept-Encoding"
        self.cors(request, headers)
        inm = request.headers.get("If-None-Match")
        if inm is not None and etag_matches(inm, entry.etag):
            return web.Response(status=304, headers=headers)
        body = entry.body
        rng = request.headers.get("Range")
        if rng is not None:
            if_range = request.headers.get("If-Range")
            if if_range is None or if_range.strip() == entry.etag:
                try:
                    first, last = parse_range(rng, len(body))
                except RangeNotSatisfiable:
                    self.metrics.errors["range"] += 1
                    headers["Content-Range"] = f"bytes */{len(body)}"
                    return web.Response(status=416, headers=headers)
                headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
                return web.Response(status=206, body=memoryview(body)[first : last + 1], headers=headers)
        if entry.gz is not None and accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            body = entry.gz
        return web.Response(body=body, headers=headers)

    async def preflight(self, request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        self.cors(request, headers)
        if headers:
            headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
            headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", _CORS_ALLOW_HEADERS
            )[:512]
            headers["Access-Control-Max-Age"] = "600"
        return web.Response(status=204, headers=headers)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "uptime": round(time.time() - self.started, 3)})

    async def metrics_page(self, request: web.Request) -> web.Response:
        text = self.metrics.render(
            cache_bytes=self.cache.bytes, cache_entries=len(self.cache.memory), inflight=len(self.fetches)
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"Cache-Control": NO_STORE})


EDGE_KEY = web.AppKey("edge", Edge)  # the application's Edge (edge.app, the access log, the fast path)
