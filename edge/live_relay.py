"""The edge in front of live channels: ``GET /live/<channel>/<file>`` fetched from the channel's packager
(its supervisor's HTTP, ``flows.live``), with one upstream request however many players ask at once.

This is the tier players meet when they do not talk to a channel's packager themselves: ``vodflow edge
--live-dir DIR`` finds each channel's packager in ``DIR/<channel>/status.json`` and relays to it.

- Playlists, MPDs and init segments: requests for the same URL (path and query: a blocking reload is named
  by its ``_HLS_msn``/``_HLS_part``) share one upstream request while it is in flight (``Coalescer``), so
  a hundred players held on the next part cost the packager one held request; a 200 answer is kept for
  the ``max-age`` its packager gave (1 s for a playlist, none for ``no-cache``).
- Media segments: the first request for a segment starts one upstream GET of the whole segment and every
  request for it, with or without ``Range``, is served from that one download as its bytes arrive (a
  growing segment streams to each player chunk by chunk, as from the packager). Whole segments stay in a
  byte-bounded LRU: their names are never reused.
- Upstream errors (404, 400, 503) are passed on as they are and never kept. A download cut short cuts off
  every answer streamed from it without its final chunk, so no player takes part of a segment for all.
- Tokens as for VOD (``edge.tokens``): a token scoped ``/live/<channel>/`` covers the channel, in the
  ``token`` query or the edge's cookie.
- Keys (``POST /live/<ch>/license``, ``GET /live/<ch>/key/<kid>``) are this edge's own, from its key
  store (the channel's title's, as ``edge.keys`` serves VOD's), always to a token (an edge without a
  secret serves none), never relayed nor kept. The incoming ``Host`` goes upstream with playlists and
  MPDs, so the licence URL an MPD names is this edge's (answers are kept per host).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from edge.cache import Coalescer
from edge.errors import BadToken
from edge.http import RangeNotSatisfiable, parse_range
from edge.keys import key_response, licence_response, load_keys, parse_kid, read_licence_request
from edge.server import TOKEN_COOKIE
from edge.tokens import TokenSigner
from packager import LIVE_KEYS, LIVE_LICENSE, KeyStore

__all__ = ["LIVE_RELAY_KEY", "LiveRelay", "add_live_relay"]

_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SEGMENT = re.compile(r"seg-[A-Za-z0-9_.-]+\.m4s")
_MAX_AGE = re.compile(r"max-age=(\d+)")
_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})")
_UNKNOWN_END = 2**53 - 1  # RFC 8673: the last byte named for an answer whose end is not known yet
_LOOKUP_S = 0.5  # how long a channel's packager URL (its status file) is trusted
_KEPT = 256  # small answers kept at most (their max-age is a second or two)
_PASSED = ("Content-Type", "Cache-Control", "Access-Control-Allow-Origin")


@dataclass
class _Small:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Download:
    """One upstream GET of a whole segment, shared: ``data`` grows; ``done`` with ``ok`` once complete."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    data: bytearray = field(default_factory=bytearray)
    done: bool = False
    ok: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Future[None] | None = None  # the download itself (held: asyncio keeps only weak refs)

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class LiveRelay:
    """The relay's state: where each channel's packager is, in-flight fetches, kept answers, counters."""

    def __init__(
        self,
        live_dir: Path,
        *,
        signer: TokenSigner | None = None,
        require_tokens: bool = False,
        segment_bytes: int = 64 << 20,
        hold_s: float = 12.0,
        cors: Callable[[web.Request, dict[str, str]], None] | None = None,
        keystore: KeyStore | None = None,
    ) -> None:
        self.live_dir = live_dir
        self.cors = cors
        self.keystore = keystore
        self.signer = signer
        self.require_tokens = require_tokens
        self.segment_bytes = segment_bytes
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=hold_s)
        self.session: aiohttp.ClientSession | None = None
        self.small: Coalescer[_Small] = Coalescer()
        self.kept: OrderedDict[str, tuple[float, _Small]] = OrderedDict()
        self.downloads: OrderedDict[str, _Download] = OrderedDict()
        self.held_bytes = 0
        self.where: dict[str, tuple[float, str | None]] = {}
        self.upstream_requests = 0  # what the packagers were asked
        self.requests = 0  # what players asked

    # --- finding a channel's packager ------------------------------------------------------------------

    def upstream(self, channel: str) -> str | None:
        """The packager URL of ``channel`` (``http://127.0.0.1:P/live/<channel>/``), None when not live."""
        now = time.monotonic()
        hit = self.where.get(channel)
        if hit is not None and hit[0] > now:
            return hit[1]
        url = None
        try:
            st = json.loads((self.live_dir / channel / "status.json").read_text())
            if st.get("state") in ("starting", "live", "stalled"):
                url = st.get("url")
        except (OSError, ValueError):
            url = None
        self.where[channel] = (now + _LOOKUP_S, url)
        return url

    # --- requests ----------------------------------------------------------------------------------------

    def _authorise(self, request: web.Request, *, keys: bool = False) -> None:
        token = request.query.get("token") or request.cookies.get(TOKEN_COOKIE)
        if not (self.require_tokens or keys):  # keys always need a token, as VOD's do (edge.keys)
            return
        if self.signer is None:
            raise web.HTTPForbidden(text="forbidden: this edge has no token secret\n")
        try:
            self.signer.authorise(token, request.path)
        except BadToken as exc:
            raise web.HTTPForbidden(text=f"forbidden: {exc}\n") from None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        channel, file = request.match_info["channel"], request.match_info["file"]
        if not _CHANNEL.fullmatch(channel) or not _FILE.fullmatch(file):
            raise web.HTTPNotFound(text="no such live channel or file\n")
        self._authorise(request)
        self.requests += 1
        base = self.upstream(channel)
        if base is None:
            raise web.HTTPNotFound(text=f"live channel {channel!r} is not on the air\n")
        query = {k: v for k, v in request.query.items() if k != "token"}
        url = base + file + ("?" + "&".join(f"{k}={v}" for k, v in sorted(query.items())) if query else "")
        if _SEGMENT.fullmatch(file):
            return await self._segment(request, url)
        answer = await self._small(url, request.host)
        headers = dict(answer.headers)
        if self.cors is not None:
            self.cors(request, headers)
        response = web.Response(status=answer.status, body=answer.body, headers=headers)
        token = request.query.get("token")
        if token and file.endswith((".m3u8", ".mpd")) and request.cookies.get(TOKEN_COOKIE) != token:
            response.set_cookie(TOKEN_COOKIE, token, path=f"/live/{channel}/", httponly=True, samesite="Lax")
        return response

    async def _small(self, url: str, host: str) -> _Small:
        key = f"{host} {url}"
        kept = self.kept.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        answer, _joined = await self.small.run(key, lambda: self._fetch_small(url, host, key))
        return answer

    async def _fetch_small(self, url: str, host: str, key: str) -> _Small:
        self.upstream_requests += 1
        try:
            async with self._client().get(url, headers={"Host": host}) as r:
                body = await r.read()
                headers = {k: r.headers[k] for k in _PASSED if k in r.headers}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise web.HTTPBadGateway(text=f"the channel's packager did not answer: {exc}\n") from None
        answer = _Small(r.status, headers, body)
        m = _MAX_AGE.search(headers.get("Cache-Control", ""))
        if r.status == 200 and m and int(m.group(1)) > 0:
            self.kept[key] = (time.monotonic() + int(m.group(1)), answer)
            while len(self.kept) > _KEPT:
                self.kept.popitem(last=False)
        return answer

    # --- keys: this edge's own ------------------------------------------------------------------------

    def _key_request(self, request: web.Request) -> tuple[str, dict[str, str]]:
        channel = request.match_info["channel"]
        if not _CHANNEL.fullmatch(channel):
            raise web.HTTPNotFound(text="no such live channel\n")
        self._authorise(request, keys=True)
        headers: dict[str, str] = {}
        if self.cors is not None:
            self.cors(request, headers)
        return channel, headers

    async def licence(self, request: web.Request) -> web.Response:
        """``POST /live/<ch>/license``: a ClearKey licence for the channel's key (``edge.keys``)."""
        channel, headers = self._key_request(request)
        wanted = await read_licence_request(request)
        return licence_response(await load_keys(self.keystore, channel), wanted, headers)

    async def key(self, request: web.Request) -> web.Response:
        """``GET /live/<ch>/key/<kid>``: the key's 16 raw bytes."""
        channel, headers = self._key_request(request)
        kid = parse_kid(request.match_info["kid"])
        return key_response(await load_keys(self.keystore, channel), kid, headers)

    def _client(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=False)
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # --- segments: one download, every request served from it ------------------------------------------

    async def _segment(self, request: web.Request, url: str) -> web.StreamResponse:
        dl = self.downloads.get(url)
        if dl is None or (dl.done and not dl.ok):
            dl = _Download()
            self.downloads[url] = dl
            dl.task = asyncio.ensure_future(self._download(url, dl))
        else:
            self.downloads.move_to_end(url)
        while not dl.status and not dl.done:
            await dl.changed.wait()
        if dl.status != 200:
            return web.Response(status=dl.status or 502, body=bytes(dl.data), headers=dl.headers)
        headers = {k: v for k, v in dl.headers.items() if k != "Cache-Control"}
        if self.cors is not None:
            self.cors(request, headers)
        rng = request.headers.get("Range")
        if dl.done:
            return _whole(request, dl, headers)
        first, last = 0, None
        if rng is not None:
            m = _RANGE.fullmatch(rng.strip().replace(" ", ""))
            if m is None or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                raise web.HTTPRequestRangeNotSatisfiable(text="range not satisfiable on a growing segment\n")
            first, last = int(m.group(1)), (int(m.group(2)) if m.group(2) else None)
        if last is not None:  # a closed range: answered once its bytes are there
            while len(dl.data) <= last and not dl.done:
                await dl.changed.wait()
            if dl.done:
                return _whole(request, dl, headers)
            headers.update({"Cache-Control": "no-store", "Content-Range": f"bytes {first}-{last}/*"})
            return web.Response(status=206, body=bytes(dl.data[first : last + 1]), headers=headers)
        return await _stream(request, dl, first, rng is not None, headers)

    async def _download(self, url: str, dl: _Download) -> None:
        self.upstream_requests += 1
        try:
            async with self._client().get(url) as r:
                dl.status = r.status
                dl.headers = {k: r.headers[k] for k in _PASSED if k in r.headers}
                dl.wake()
                async for chunk in r.content.iter_any():
                    dl.data += chunk
                    dl.wake()
                dl.ok = r.status == 200
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not dl.status:
                dl.status, dl.data = 502, bytearray(f"the channel's packager did not answer: {exc}\n".encode())
        finally:
            dl.done = True
            dl.wake()
            if dl.ok:
                self.held_bytes += len(dl.data)
                self._evict()
            elif self.downloads.get(url) is dl:
                del self.downloads[url]  # errors and cut downloads are never kept

    def _evict(self) -> None:
        for url in list(self.downloads):
            if self.held_bytes <= self.segment_bytes:
                return
            dl = self.downloads[url]
            if dl.done:
                self.held_bytes -= len(dl.data)
                del self.downloads[url]


def _whole(request: web.Request, dl: _Download, headers: dict[str, str]) -> web.Response:
    """A downloaded segment: 200, or 206/416 for one range."""
    if not dl.ok:
        raise web.HTTPServiceUnavailable(text="the segment's download from the packager was cut short\n")
    headers.update({"Cache-Control": "public, max-age=86400, immutable", "Accept-Ranges": "bytes"})
    body, rng = bytes(dl.data), request.headers.get("Range")
    if rng is None:
        return web.Response(body=body, headers=headers)
    try:
        first, last = parse_range(rng, len(body))
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{len(body)}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
    return web.Response(status=206, body=body[first : last + 1], headers=headers)


async def _stream(
    request: web.Request, dl: _Download, first: int, ranged: bool, headers: dict[str, str]
) -> web.StreamResponse:
    """Send the download's bytes from ``first`` as they arrive, until it is complete."""
    headers["Cache-Control"] = "no-store"
    if ranged:
        headers["Content-Range"] = f"bytes {first}-{_UNKNOWN_END}/*"
    response = web.StreamResponse(status=206 if ranged else 200, headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    sent = first
    try:
        while True:
            changed = dl.changed
            if sent < len(dl.data):
                upto = len(dl.data)
                await response.write(bytes(dl.data[sent:upto]))
                sent = upto
                continue
            if dl.done:
                if dl.ok:
                    await response.write_eof()
                    return response
                break
            await changed.wait()
    except ConnectionResetError:
        return response  # the player hung up (it switched, or seeked): the download goes on for the others
    if request.transport is not None:  # cut short upstream: no final chunk, so no truncated "whole" segment
        request.transport.abort()
    return response


LIVE_RELAY_KEY = web.AppKey("live_relay", LiveRelay)


def add_live_relay(
    app: web.Application,
    live_dir: Path,
    *,
    signer: TokenSigner | None = None,
    require_tokens: bool = False,
    cors: Callable[[web.Request, dict[str, str]], None] | None = None,
    keystore: KeyStore | None = None,
) -> LiveRelay:
    """Mount ``GET|HEAD /live/<channel>/<file>`` on ``app``, relayed to the channels of ``live_dir``, and
    the channels' keys from ``keystore``."""
    relay = LiveRelay(live_dir, signer=signer, require_tokens=require_tokens, cors=cors, keystore=keystore)
    app[LIVE_RELAY_KEY] = relay
    app.router.add_get("/live/{channel}/{file}", relay.handle)
    app.router.add_post(f"/live/{{channel}}/{LIVE_LICENSE}", relay.licence)
    app.router.add_get(f"/live/{{channel}}/{LIVE_KEYS}/{{kid}}", relay.key, allow_head=False)

    async def close(_app: web.Application) -> None:
        await relay.close()

    app.on_cleanup.append(close)
    return relay
