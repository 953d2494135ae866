"""Live channels at the edge: ``GET /live/<channel>/<file>`` served from each channel's ``ChannelState``.

Routes (``add_live``)::

    GET|HEAD /live/<ch>/master.m3u8          LL-HLS multivariant playlist (master-plain.m3u8: plain HLS)
    GET|HEAD /live/<ch>/<rendition>.m3u8     LL-HLS media playlist; _HLS_msn=M[&_HLS_part=P] blocks
    GET|HEAD /live/<ch>/<rendition>-plain.m3u8   the same without the low-latency tags
    GET|HEAD /live/<ch>/manifest.mpd         the LL-DASH MPD, SegmentTimeline (packager.live_dash: ours,
                                             not ffmpeg's, which restarts with the encoder)
    GET|HEAD /live/<ch>/manifest-number.mpd  the same with SegmentTemplate $Number$ + @duration
    GET|HEAD /live/<ch>/init-<rep>.m4s       initialisation segments (with a pssh when encrypted)
    GET|HEAD /live/<ch>/seg-<rep>-<n>.m4s    media segments, with Range; growing ones streamed
    POST     /live/<ch>/license              an encrypted channel's ClearKey licence (edge.keys)
    GET      /live/<ch>/key/<kid>            its key, 16 raw bytes (HLS KEYFORMAT="identity")

What the edge serves while live comes from the packager's folder directly (the state and the files it
describes), not from S3: a part exists here the moment the state has scanned it, and a round trip to the
origin per part would cost more than the whole latency budget of a part.

Blocking reload (RFC 8216bis 6.2.5.2) is held in ``edge.live_channel`` (one shared wait per part), media
segments, growing or complete, are served by ``edge.live_segments``. Tokens are those of VOD
(``edge.tokens``): a token scoped ``/live/<channel>/`` covers a channel, and rides along as a cookie
(set by a playlist or MPD answer). Keys are served as VOD's are (``edge.keys``): from the key store, the
channel name being its title, never cached, and always to a token when the edge has a token secret
(even when the channel itself is open); an edge without one (a channel's own supervisor) serves them
to anyone who can reach it, as it serves the channel.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

from aiohttp import web

from edge.errors import BadToken, EdgeError
from edge.http import SEGMENT_PATTERN, content_type
from edge.keys import key_response, licence_response, load_keys, parse_kid, read_licence_request
from edge.live_channel import LiveChannel
from edge.live_segments import serve_segment
from edge.server import TOKEN_COOKIE
from edge.tokens import TokenSigner
from packager import LIVE_KEYS, LIVE_LICENSE, LIVE_MPDS, ChannelState, KeyStore, TitleKeys

__all__ = ["LIVE_KEY", "LiveChannel", "add_live", "add_packager_routes", "open_cors"]

PLAYLIST_CACHE = "max-age=1"  # a blocking answer is named by its URL (msn, part), so a cache may keep it
MPD_CACHE = "no-cache"  # the MPD, and init segments, which ffmpeg rewrites after a restart
_CHANNEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_FILE = re.compile(SEGMENT_PATTERN)  # a file name of the channel folder: no dot segments, nothing hidden
# ffmpeg's names, run-tagged after a restart (packager.live_state: seg-<rep>[-r<k>]-<n>.m4s); which segment a
# name is, if any, the channel state says (LiveChannel.locate).
_SEGMENT_FILE = re.compile(r"seg-[A-Za-z0-9_.-]+-\d{1,12}\.m4s")
_INIT_FILE = re.compile(r"init-[A-Za-z0-9_.-]+\.m4s")
_COUNT = re.compile(r"\d{1,12}")

LIVE_KEY = web.AppKey("live", dict)  # channel name -> LiveChannel


def open_cors(request: web.Request, headers: dict[str, str]) -> None:
    """CORS for a channel's own routes (``flows.live``): any page may play it, none with credentials."""
    if "Origin" in request.headers:
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Expose-Headers"] = "Content-Range, Content-Length, Accept-Ranges, Date"


async def _preflight(request: web.Request) -> web.Response:
    headers: dict[str, str] = {}
    open_cors(request, headers)
    if headers:
        headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
        headers["Access-Control-Allow-Headers"] = request.headers.get("Access-Control-Request-Headers", "Range")[:512]
        headers["Access-Control-Max-Age"] = "600"
    return web.Response(status=204, headers=headers)


async def _utc_time(request: web.Request) -> web.Response:
    # The UTCTiming source the MPD names (http-xsdate): players align their clock with the packager's.
    now = time.time()
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return web.Response(text=text, headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"})


def add_packager_routes(app: web.Application) -> None:
    """What a channel's packager serves beside ``add_live``'s routes: ``GET /live/time`` (the http-xsdate
    clock its MPDs name) and CORS preflights for ``/live/``."""
    app.router.add_get("/live/time", _utc_time)
    app.router.add_route("OPTIONS", "/live/{tail:.*}", _preflight)


def add_live(
    app: web.Application,
    channels: Mapping[str, ChannelState],
    *,
    signer: TokenSigner | None = None,
    require_tokens: bool = False,
    cors: Callable[[web.Request, dict[str, str]], None] | None = None,
    keystore: KeyStore | None = None,
) -> None:
    """Mount ``GET|HEAD /live/<channel>/<file>`` on ``app`` for ``channels`` (name -> state), and the key
    routes of encrypted channels (keys from ``keystore``). With ``require_tokens`` every request needs a
    token of ``signer`` covering its path (scope ``/live/<channel>/`` covers a channel), key requests
    whenever there is a ``signer``; ``cors`` adds CORS headers (``Edge.cors``). Raises ``EdgeError`` for a
    channel name outside ``[A-Za-z0-9_-]``."""
    live: dict[str, LiveChannel] = {}
    for name, state in channels.items():
        if not _CHANNEL.fullmatch(name):
            raise EdgeError(f"bad live channel name {name!r}: letters, digits, '_' and '-' only")
        live[name] = LiveChannel(name, state)
    app[LIVE_KEY] = live
    server = _LiveServer(live, signer=signer, require_tokens=require_tokens, cors=cors, keystore=keystore)
    app.router.add_get("/live/{channel}/{file}", server.handle)
    app.router.add_post(f"/live/{{channel}}/{LIVE_LICENSE}", server.licence)
    app.router.add_get(f"/live/{{channel}}/{LIVE_KEYS}/{{kid}}", server.key, allow_head=False)

    async def start(_app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        for channel in live.values():
            channel.start(loop)

    async def stop(_app: web.Application) -> None:
        for channel in live.values():
            channel.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


def _reload_query(query: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``(_HLS_msn, _HLS_part)`` of a playlist request; 400 for values that are not non-negative integers or
    for a part without a segment (RFC 8216bis 6.2.5.2)."""
    msn, part = query.get("_HLS_msn"), query.get("_HLS_part")
    for name, value in (("_HLS_msn", msn), ("_HLS_part", part)):
        if value is not None and not _COUNT.fullmatch(value):
            raise web.HTTPBadRequest(text=f"bad request: {name} must be a non-negative integer\n")
    if part is not None and msn is None:
        raise web.HTTPBadRequest(text="bad request: _HLS_part without _HLS_msn\n")
    return (None if msn is None else int(msn)), (None if part is None else int(part))


class _LiveServer:
    """The handler of ``/live/<channel>/<file>``."""

    def __init__(
        self,
        live: dict[str, LiveChannel],
        *,
        signer: TokenSigner | None,
        require_tokens: bool,
        cors: Callable[[web.Request, dict[str, str]], None] | None,
        keystore: KeyStore | None,
    ) -> None:
        self.live = live
        self.signer = signer
        self.require_tokens = require_tokens
        self.cors = cors
        self.keystore = keystore

    def _authorise(self, request: web.Request, *, keys: bool = False) -> None:
        if not (self.require_tokens or (keys and self.signer is not None)):
            return
        if self.signer is None:
            raise web.HTTPForbidden(text="forbidden: this edge has no token secret\n")
        token = request.query.get("token") or request.cookies.get(TOKEN_COOKIE)
        try:
            self.signer.authorise(token, request.path)
        except BadToken as exc:
            raise web.HTTPForbidden(text=f"forbidden: {exc}\n") from None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        channel = self.live.get(request.match_info["channel"])
        file = request.match_info["file"]
        if channel is None or not _FILE.fullmatch(file):
            raise web.HTTPNotFound(text="no such live channel or file\n")
        self._authorise(request)
        headers = {"Content-Type": content_type(file)}
        if self.cors is not None:
            self.cors(request, headers)
        if file.endswith(".m3u8") or file in LIVE_MPDS:
            if file in LIVE_MPDS:
                response = self._mpd(request, channel, file, headers)
            else:
                response = await self._playlist(request, channel, file[: -len(".m3u8")], headers)
            token = request.query.get("token")
            if self.require_tokens and token and request.cookies.get(TOKEN_COOKIE) != token:
                # Players resolve part and segment URIs without the playlist's query: the token rides along
                # as a cookie scoped to the channel (as VOD manifests do, edge.server).
                response.set_cookie(TOKEN_COOKIE, token, path=f"/live/{channel.name}/", httponly=True, samesite="Lax")
            return response
        if _INIT_FILE.fullmatch(file):
            # ffmpeg rewrites init segments in place after a restart: revalidate.
            body = channel.state.init_segment(file)
            if body is None:
                raise web.HTTPNotFound(text="not written yet\n")
            headers["Cache-Control"] = MPD_CACHE
            return web.Response(body=body, headers=headers)
        if _SEGMENT_FILE.fullmatch(file):
            return await serve_segment(request, channel, file, headers)
        raise web.HTTPNotFound(text="no such live file\n")

    def _mpd(self, request: web.Request, channel: LiveChannel, file: str, headers: dict[str, str]) -> web.Response:
        # The licence URL an encrypted channel's MPD names is absolute (players do not resolve it against the
        # MPD's URL): the one this request reached us by.
        licence = str(request.url.with_path(f"/live/{channel.name}/{LIVE_LICENSE}").with_query(None))
        body = channel.mpd(file, licence if channel.state.protection else None)
        if body is None:
            raise web.HTTPNotFound(text="not written yet\n")
        headers["Cache-Control"] = MPD_CACHE
        return web.Response(body=body.encode(), headers=headers)

    def _channel_keys(self, request: web.Request) -> tuple[LiveChannel, dict[str, str]]:
        channel = self.live.get(request.match_info["channel"])
        if channel is None or channel.state.protection is None:
            raise web.HTTPNotFound(text="no such encrypted live channel\n")
        self._authorise(request, keys=True)
        headers: dict[str, str] = {}
        if self.cors is not None:
            self.cors(request, headers)
        return channel, headers

    async def licence(self, request: web.Request) -> web.Response:
        """``POST /live/<ch>/license``: the ClearKey licence for the channel's key (``edge.keys``)."""
        channel, headers = self._channel_keys(request)
        wanted = await read_licence_request(request)
        return licence_response(await self._keys(channel), wanted, headers)

    async def key(self, request: web.Request) -> web.Response:
        """``GET /live/<ch>/key/<kid>``: the channel's key, 16 raw bytes; 400 for a bad kid, 404."""
        channel, headers = self._channel_keys(request)
        kid = parse_kid(request.match_info["kid"])
        return key_response(await self._keys(channel), kid, headers)

    async def _keys(self, channel: LiveChannel) -> TitleKeys:
        keys = await load_keys(self.keystore, channel.name)
        # Only the channel's key: another class's key of the same title encrypts nothing here.
        return keys.model_copy(
            update={"keys": {c: k for c, k in keys.keys.items() if k.kid == channel.state.protection.kid}}
        )

    async def _playlist(
        self, request: web.Request, channel: LiveChannel, stem: str, headers: dict[str, str]
    ) -> web.Response:
        low_latency = not stem.endswith("-plain")
        name = stem if low_latency else stem[: -len("-plain")]
        rendition = None if name == "master" else name
        if rendition is not None and rendition not in {r.name for r in channel.state.renditions}:
            raise web.HTTPNotFound(text="no such rendition\n")
        if rendition is not None and low_latency:
            msn, part = _reload_query(request.query)
            if msn is not None:
                if msn > channel.last(rendition)[0] + 2:
                    raise web.HTTPBadRequest(text="bad request: _HLS_msn is beyond the last segment + 2\n")
                if not await channel.hold(rendition, msn, part):
                    raise web.HTTPServiceUnavailable(
                        text=f"blocking reload: segment {msn} part {part} not there after {channel.hold_s:g} s\n"
                    )
        headers["Cache-Control"] = PLAYLIST_CACHE
        return web.Response(body=channel.playlist(rendition, low_latency).encode(), headers=headers)
