"""An edge in front of a channel's packager (edge.live_relay): players' requests for the same blocking
reload or the same growing segment cost the packager one request, growing segments still stream chunk by
chunk, errors pass through and are not kept, and tokens hold.

The packager is the real thing in process (the edge's live routes over a ``ChannelState`` fed chunk by
chunk, as tests/edge/test_live.py does); the relay finds it through the channel's status file, as
``vodflow edge --live-dir`` does."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from edge.app import make_app
from edge.live_relay import LIVE_RELAY_KEY
from edge.tokens import TokenSigner
from packager import ChannelState, KeyStore, LiveProtection, TrackClass
from tests.edge.aio import aio, until
from tests.edge.harness import serve
from tests.edge.test_live import CH, PART_S, SEG_S, VIDEO, Feed, config, get
from tests.edge.test_live import source as source  # the module's fixture, shared

_seen: list[str] = []


@web.middleware
async def _count(request: web.Request, handler):
    _seen.append(request.path_qs)
    return await handler(request)


@pytest.fixture
def channel(source, tmp_path) -> tuple[Feed, ChannelState, Path]:
    """Segments 1-3 whole, segment 4 growing (one chunk), and the live folder the relay reads."""
    feed = Feed(source, tmp_path / "media")
    for n in (1, 2, 3):
        feed.whole(f"seg-0-{n}.m4s", f"seg-1-{n}.m4s")
    feed.grow("seg-0-4.m4s")
    feed.grow("seg-1-4.m4s")
    state = ChannelState(feed.folder, segment_s=SEG_S, part_s=PART_S, window_segments=6)
    state.refresh()
    return feed, state, tmp_path / "live"


def _on_air(live: Path, url: str, state: str = "live") -> None:
    (live / CH).mkdir(parents=True, exist_ok=True)
    (live / CH / "status.json").write_text(json.dumps({"state": state, "url": f"{url}/live/{CH}/"}))


async def _status_expired(relay: web.Application) -> None:
    """Until the relay no longer trusts what it last read of the channel's status file."""
    where = relay[LIVE_RELAY_KEY].where
    await until(lambda: CH not in where or where[CH][0] <= time.monotonic(), what="the status lookup expired")


def _packager(state: ChannelState) -> web.Application:
    app = make_app(config(), live={CH: state})
    app.middlewares.append(_count)
    return app


@aio
async def test_held_reloads_at_the_edge_cost_the_packager_one_request(channel):
    feed, state, live = channel
    _seen.clear()
    relay = make_app(config(live_dir=live))
    async with serve(_packager(state)) as up, serve(relay) as edge:
        _on_air(live, up)
        url = f"{edge}/live/{CH}/{VIDEO}.m3u8?_HLS_msn=4&_HLS_part=1"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            waiting = [asyncio.ensure_future(get(s, url)) for _ in range(40)]
            await until(lambda: len(_seen) == 1, what="the one upstream reload")
            await until(lambda: relay[LIVE_RELAY_KEY].requests == 40, what="every player held at the edge")
            feed.grow("seg-0-4.m4s")
            await asyncio.to_thread(state.refresh)
            answers = await asyncio.gather(*waiting)
            assert {a[0] for a in answers} == {200} and len({a[2] for a in answers}) == 1
            assert b'BYTERANGE="' in answers[0][2]
            # The answer is named by its URL: kept for the packager's max-age, then asked again.
            assert (await get(s, url))[2] == answers[0][2]
            assert _seen == [f"/live/{CH}/{VIDEO}.m3u8?_HLS_msn=4&_HLS_part=1"]
            # The spec's refusals come from the packager, passed on as they are and not kept.
            assert (await get(s, f"{edge}/live/{CH}/{VIDEO}.m3u8?_HLS_part=1"))[0] == 400
            assert (await get(s, f"{edge}/live/{CH}/{VIDEO}.m3u8?_HLS_part=1"))[0] == 400
            assert _seen.count(f"/live/{CH}/{VIDEO}.m3u8?_HLS_part=1") == 2


@aio
async def test_a_growing_segment_is_downloaded_once_and_streamed_to_every_player(channel):
    feed, state, live = channel
    name = "seg-0-4.m4s"
    parts = feed.chunks(name)
    whole = b"".join(parts)
    _seen.clear()
    async with serve(_packager(state)) as up, serve(make_app(config(live_dir=live))) as edge:
        _on_air(live, up)
        seg = f"{edge}/live/{CH}/{name}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
            readers = [await s.get(seg) for _ in range(5)]
            # Every player has the first chunk before the segment is complete.
            for r in readers:
                assert r.status == 200 and r.headers["Transfer-Encoding"] == "chunked"
                assert await r.content.readexactly(len(parts[0])) == parts[0]
            part = asyncio.ensure_future(
                get(s, seg, headers={"Range": f"bytes={len(parts[0])}-{len(parts[0]) + len(parts[1]) - 1}"})
            )
            for _ in parts[1:]:
                feed.grow(name)
                await asyncio.to_thread(state.refresh)
            status, h, body = await part
            assert status == 206 and body == parts[1] and h["Content-Range"].endswith("/*")
            feed.close(name)
            feed.grow("seg-0-5.m4s")
            await asyncio.to_thread(state.refresh)
            for r in readers:
                assert parts[0] + await r.read() == whole
                r.close()
            assert [p for p in _seen if name in p] == [f"/live/{CH}/{name}"]  # one download for all of it
            status, h, body = await get(s, seg, headers={"Range": "bytes=0-9"})  # whole now, from the edge
            assert status == 206 and body == whole[:10] and h["Content-Range"] == f"bytes 0-9/{len(whole)}"
            status, h, body = await get(s, seg)
            assert status == 200 and body == whole and "immutable" in h["Cache-Control"]
            assert [p for p in _seen if name in p] == [f"/live/{CH}/{name}"]
            # A segment that will never exist: the packager's 404 at once, never kept.
            for _ in range(2):
                assert (await get(s, f"{edge}/live/{CH}/seg-0-9.m4s"))[0] == 404
            assert _seen.count(f"/live/{CH}/seg-0-9.m4s") == 2


@aio
async def test_channels_off_the_air_and_tokens(channel):
    _, state, live = channel
    signer = TokenSigner(b"k" * 32)
    relay = make_app(config(live_dir=live, signer=signer, require_tokens=True))
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address
    async with serve(_packager(state)) as up, serve(relay) as edge, aiohttp.ClientSession(cookie_jar=jar) as s:
        playlist = f"{edge}/live/{CH}/master.m3u8"
        token = signer.sign(f"/live/{CH}/", ttl=60)
        assert (await get(s, playlist, params={"token": token}))[0] == 404  # no status file: not on the air
        _on_air(live, up, state="ended")
        await _status_expired(relay)
        assert (await get(s, playlist, params={"token": token}))[0] == 404
        _on_air(live, up)
        await _status_expired(relay)
        assert (await get(s, playlist))[0] == 403
        assert (await get(s, playlist, params={"token": signer.sign("/live/other/", ttl=60)}))[0] == 403
        status, _, body = await get(s, playlist, params={"token": token})
        assert status == 200 and b"#EXTM3U" in body
        # The token rides along as a cookie for the files the playlists name.
        assert (await get(s, f"{edge}/live/{CH}/init-0.m4s"))[0] == 200


@aio
async def test_an_encrypted_channels_keys_come_from_the_edge_to_a_token(source, tmp_path):
    keystore = KeyStore(tmp_path / "keys")
    key = keystore.get_or_create(CH).for_class(TrackClass.SD)
    feed = Feed(source, tmp_path / "media")
    feed.whole("seg-0-1.m4s", "seg-1-1.m4s")
    state = ChannelState(
        feed.folder, segment_s=SEG_S, part_s=PART_S, window_segments=6, protection=LiveProtection("cenc", key.kid)
    )
    state.refresh()
    live = tmp_path / "live"
    signer = TokenSigner(b"k" * 32)
    relay = make_app(config(live_dir=live, signer=signer, keystore=keystore))  # content open, keys never
    async with serve(_packager(state)) as up, serve(relay) as edge, aiohttp.ClientSession() as s:
        _on_air(live, up)
        token = signer.sign(f"/live/{CH}/", ttl=60)
        # The MPD names this edge's licence URL (the Host went upstream with the request).
        status, _, body = await get(s, f"{edge}/live/{CH}/manifest.mpd")
        assert status == 200 and f'<dashif:Laurl Lic_type="EME-1.0">{edge}/live/{CH}/license<'.encode() in body
        assert (await get(s, f"{edge}/live/{CH}/key/{key.kid}"))[0] == 403  # no token
        status, h, body = await get(s, f"{edge}/live/{CH}/key/{key.kid}", params={"token": token})
        assert status == 200 and body == key.key_bytes and h["Cache-Control"] == "no-store"
        kid = base64.urlsafe_b64encode(key.kid_bytes).rstrip(b"=").decode()
        url = f"{edge}/live/{CH}/license?token={token}"
        async with s.post(url, json={"kids": [kid], "type": "temporary"}) as r:
            assert r.status == 200 and (await r.json())["keys"][0]["kid"] == kid
        async with s.post(f"{edge}/live/{CH}/license", json={"kids": [kid], "type": "temporary"}) as r:
            assert r.status == 403
