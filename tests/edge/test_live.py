"""The edge's live routes (edge.live) over a real ``ChannelState`` of real ffmpeg LL-DASH output.

ffmpeg writes a short channel once per module (faster than real time, into a folder of its own); each test
then replays it into a fresh channel folder chunk by chunk (``Feed``), refreshing the state after each
step, so a segment grows exactly when the test says and no live encoder runs.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import struct
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from edge.app import make_app
from edge.live import LIVE_KEY, add_live
from edge.server import EDGE_KEY, EdgeConfig
from edge.tokens import TokenSigner
from edge.upstream import HttpUpstream
from packager import LIVE_MPDS, ChannelState, ContentKey, KeyStore, TrackClass, live_key
from tests.edge.aio import aio, until
from tests.edge.harness import serve
from vodflow.tools import Tool, find

CH = "news"
SEG_S = 1.0  # short segments: the 503 rule holds a request 3 x the target duration
PART_S = 0.25
FPS = 24
SEGMENTS = 9
GOP = int(FPS * SEG_S)  # closed GOPs of one segment


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A finished LL-DASH channel folder (one video rung and audio) as ffmpeg's dash muxer writes it live."""
    out = tmp_path_factory.mktemp("live-source")
    seconds = SEG_S * SEGMENTS + 0.5
    # fmt: off
    subprocess.run(
        [
            str(find(Tool.FFMPEG)), "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "lavfi", "-i", f"testsrc2=s=160x90:r={FPS}:d={seconds}",
            "-f", "lavfi", "-i", f"sine=d={seconds}:sample_rate=48000",
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP), "-keyint_min", str(GOP),
            "-sc_threshold", "0", "-b:v", "100k", "-c:a", "aac", "-b:a", "48k",
            "-f", "dash", "-ldash", "1", "-streaming", "1", "-frag_type", "duration",
            "-frag_duration", str(PART_S), "-seg_duration", str(SEG_S), "-use_timeline", "0", "-use_template", "1",
            "-init_seg_name", "init-$RepresentationID$.m4s", "-media_seg_name", "seg-$RepresentationID$-$Number$.m4s",
            str(out / "manifest.mpd"),
        ],
        check=True,
        timeout=60,
    )
    # fmt: on
    return out


def chunks(data: bytes) -> list[bytes]:
    """A segment file's chunks: the bytes up to and including each ``mdat`` (the first carries ``styp``)."""
    found, start, off = [], 0, 0
    while off + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, off)
        off += size
        if kind == b"mdat":
            found.append(data[start:off])
            start = off
    assert start == len(data), "a segment ends with a whole chunk"
    return found


class Feed:
    """Replays ``source`` into ``folder`` one chunk at a time."""

    def __init__(self, source: Path, folder: Path) -> None:
        self.source, self.folder = source, folder
        folder.mkdir(parents=True, exist_ok=True)
        for init in source.glob("init-*.m4s"):
            shutil.copy(init, folder / init.name)
        shutil.copy(source / "manifest.mpd", folder / "manifest.mpd")
        self.fed: dict[str, int] = {}

    def chunks(self, name: str) -> list[bytes]:
        return chunks((self.source / name).read_bytes())

    def step(self, name: str, n: int = 1, *, source: str | None = None) -> None:
        """Append the next ``n`` chunks of segment ``source`` (default: ``name``) to the file ``name``."""
        done = self.fed.get(name, 0)
        with open(self.folder / name, "ab") as fh:
            for chunk in self.chunks(source or name)[done : done + n]:
                fh.write(chunk)
                fh.flush()
        self.fed[name] = done + n

    def whole(self, *names: str) -> None:
        for name in names:
            self.step(name, len(self.chunks(name)) - self.fed.get(name, 0))

    def close(self, name: str) -> None:
        """ffmpeg's rename of a finished segment from its ``.tmp`` name."""
        (self.folder / (name + ".tmp")).rename(self.folder / name)

    def grow(self, name: str, n: int | None = 1) -> None:
        """Append the next ``n`` chunks (None: all the rest) of segment ``name``, written under its ``.tmp``
        name as ffmpeg does."""
        left = len(self.chunks(name)) - self.fed.get(name + ".tmp", 0)
        self.step(name + ".tmp", left if n is None else n, source=name)


VIDEO, AUDIO = "video-0", "audio-1"


@pytest.fixture
def channel(source, tmp_path) -> tuple[Feed, ChannelState]:
    """Segments 1-3 of both renditions whole, segment 4 growing (one chunk in), the state refreshed."""
    feed = Feed(source, tmp_path / CH)
    for n in (1, 2, 3):
        feed.whole(f"seg-0-{n}.m4s", f"seg-1-{n}.m4s")
    feed.grow("seg-0-4.m4s")
    feed.grow("seg-1-4.m4s")
    state = ChannelState(feed.folder, segment_s=SEG_S, part_s=PART_S, window_segments=6)
    state.refresh()
    assert state.last(VIDEO) == (4, 0)
    return feed, state


def config(**overrides) -> EdgeConfig:
    # No VOD here: the upstream is never asked (a closed port, were it ever).
    return EdgeConfig(upstream=HttpUpstream("http://127.0.0.1:9"), **{"require_tokens": False, **overrides})


async def get(session: aiohttp.ClientSession, url: str | URL, **kw) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, **kw) as r:
        return r.status, dict(r.headers), await r.read()


@aio
async def test_files_playlists_and_cache_headers(channel, source):
    _, state = channel
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        base = f"{url}/live/{CH}/"
        status, h, body = await get(s, base + "master.m3u8")
        assert status == 200 and h["Cache-Control"] == "max-age=1" and f"{VIDEO}.m3u8" in body.decode()
        status, h, body = await get(s, base + f"{VIDEO}.m3u8")
        assert status == 200 and h["Cache-Control"] == "max-age=1"
        assert "#EXT-X-PART:" in body.decode() and "#EXT-X-PRELOAD-HINT" in body.decode()
        status, h, body = await get(s, base + f"{VIDEO}-plain.m3u8")
        assert status == 200 and "#EXT-X-PART" not in body.decode() and "seg-0-3.m4s" in body.decode()
        for mpd in ("manifest.mpd", "manifest-number.mpd"):  # ours (packager.live_dash), not ffmpeg's
            status, h, body = await get(s, base + mpd)
            assert status == 200 and h["Cache-Control"] == "no-cache" and h["Content-Type"] == "application/dash+xml"
            assert body.decode() == state.mpd(LIVE_MPDS[mpd]) and body != (source / "manifest.mpd").read_bytes()
        status, h, body = await get(s, base + "init-0.m4s")
        assert status == 200 and body == (source / "init-0.m4s").read_bytes()
        whole = (source / "seg-0-2.m4s").read_bytes()
        for _ in range(3):  # repeated: the hit fast path (edge.fast) must leave /live/ to these routes
            status, h, body = await get(s, base + "seg-0-2.m4s")
            assert status == 200 and body == whole and h["Cache-Control"] == "public, max-age=86400, immutable"
        assert app[EDGE_KEY].metrics.fast_hits == 0
        status, h, body = await get(s, base + "seg-0-2.m4s", headers={"Range": "bytes=10-19"})
        assert status == 206 and body == whole[10:20] and h["Content-Range"] == f"bytes 10-19/{len(whole)}"
        started = time.monotonic()
        for name in ("seg-0-9.m4s", "seg-7-1.m4s", "status.json", "x.m3u8", ".seg-0-1.m4s"):
            assert (await get(s, base + name))[0] == 404, name
        assert (await get(s, f"{url}/live/other/master.m3u8"))[0] == 404
        assert time.monotonic() - started < 1.0  # never held
        assert (await get(s, URL(base + "%2e%2e/x", encoded=True)))[0] == 400  # the edge's path guard holds here too


@aio
async def test_blocking_reload_refusals(channel):
    _, state = channel
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        pl = f"{url}/live/{CH}/{VIDEO}.m3u8"
        for query in ("_HLS_msn=x", "_HLS_msn=-1", "_HLS_msn=4&_HLS_part=1.5", "_HLS_part=0", "_HLS_msn=7"):
            status, _, body = await get(s, f"{pl}?{query}")
            assert status == 400 and body.decode().count("\n") == 1, query
        status, _, body = await get(s, f"{pl}?_HLS_msn=2&_HLS_part=1")  # long there: at once
        assert status == 200 and "#EXT-X-MEDIA-SEQUENCE" in body.decode()
        started = time.monotonic()
        status, _, body = await get(s, f"{pl}?_HLS_msn=4&_HLS_part=1")  # never comes
        held = time.monotonic() - started
        assert status == 503 and body.decode().count("\n") == 1
        assert 3 * state.target_duration - 0.1 <= held < 3 * state.target_duration + 1.5
        # A channel that ends answers every held reload at once, with its final playlist.
        waiting = asyncio.ensure_future(get(s, f"{pl}?_HLS_msn=4&_HLS_part=1"))
        await until(lambda: len(app[LIVE_KEY][CH].reloads) == 1, what="the reload held")
        await asyncio.to_thread(state.end)
        status, _, body = await waiting
        assert status == 200 and "#EXT-X-ENDLIST" in body.decode()


@aio
async def test_held_reloads_share_one_wait_and_answer_within_100ms(channel):
    feed, state = channel
    app = make_app(config(), live={CH: state})
    holds = app[LIVE_KEY][CH].reloads
    arrived: list[float] = []

    async def reload(s: aiohttp.ClientSession) -> str:
        async with s.get(f"{url}/live/{CH}/{VIDEO}.m3u8", params={"_HLS_msn": "4", "_HLS_part": "1"}) as r:
            body = await r.text()
            arrived.append(time.perf_counter())
            assert r.status == 200
            return body

    async with serve(app) as url, aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        waiting = [asyncio.ensure_future(reload(s)) for _ in range(50)]
        await until(lambda: sum(h.waiters for h in holds.values()) == 50, what="50 held reloads")
        assert list(holds) == [(VIDEO, 4, 1)]  # one wait for all of them
        feed.grow("seg-0-4.m4s")  # part 1 of segment 4 is on disk ...
        published = time.perf_counter()
        await asyncio.to_thread(state.refresh)  # ... and published, from another thread as a supervisor may
        bodies = await asyncio.gather(*waiting)
    assert all('BYTERANGE="' in b and b == bodies[0] for b in bodies)
    assert bodies[0].count("seg-0-4.m4s") >= 3  # its two parts and the preload hint
    assert min(arrived) - published < 0.1, f"first held reload answered {min(arrived) - published:.3f} s after"
    assert max(arrived) - published < 1.0
    assert not holds


@aio
async def test_one_held_reload_answers_within_100ms(channel):
    feed, state = channel
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        for n in (1, 2):
            waiting = asyncio.ensure_future(get(s, f"{url}/live/{CH}/{VIDEO}.m3u8?_HLS_msn=4&_HLS_part={n}"))
            await until(lambda: app[LIVE_KEY][CH].reloads, what="the reload held")
            feed.grow("seg-0-4.m4s")
            published = time.perf_counter()
            await asyncio.to_thread(state.refresh)
            status, _, _ = await waiting
            took = time.perf_counter() - published
            assert status == 200 and took < 0.1, f"answered {took:.3f} s after the part was published"


@aio
async def test_growing_segment_streams_with_chunked_transfer(channel, source):
    feed, state = channel
    name = "seg-0-4.m4s"
    parts = feed.chunks(name)
    whole = b"".join(parts)
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        seg = f"{url}/live/{CH}/{name}"
        # bytes not there yet: answered once they are
        closed = asyncio.ensure_future(get(s, seg, headers={"Range": f"bytes={len(parts[0])}-{len(parts[0]) + 99}"}))
        # the rest, from where the segment ends now: headers and bytes come once it grows
        rest = asyncio.ensure_future(get(s, seg, headers={"Range": f"bytes={len(parts[0])}-"}))
        async with s.head(seg) as head:
            assert head.status == 200 and head.headers["Cache-Control"] == "no-store"
        async with s.get(seg) as full:
            assert full.status == 200 and full.headers["Transfer-Encoding"] == "chunked"
            assert full.headers["Cache-Control"] == "no-store"
            assert await full.content.readexactly(len(parts[0])) == parts[0]
            assert not state.segment(VIDEO, 4).complete  # the client has the first chunk before the end
            for _ in parts[1:]:
                feed.grow(name)
                await asyncio.to_thread(state.refresh)
            status, h, body = await closed
            assert status == 206 and body == whole[len(parts[0]) : len(parts[0]) + 100]
            assert h["Content-Range"] == f"bytes {len(parts[0])}-{len(parts[0]) + 99}/*"
            feed.close(name)  # ffmpeg starts segment 5: segment 4 is complete
            feed.grow("seg-0-5.m4s")
            await asyncio.to_thread(state.refresh)
            assert parts[0] + await full.read() == whole
            status, h, body = await rest
            assert status == 206 and h["Content-Range"].endswith("/*") and body == whole[len(parts[0]) :]
        status, h, body = await get(s, seg)  # complete now
        assert status == 200 and body == whole and h["Cache-Control"] == "public, max-age=86400, immutable"
        async with s.head(seg) as head:
            assert head.status == 200 and head.headers["Content-Length"] == str(len(whole))


@aio
async def test_next_segment_waits_for_its_first_chunk_and_others_404(channel):
    feed, state = channel
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        base = f"{url}/live/{CH}/"
        started = time.monotonic()
        assert (await get(s, base + "seg-0-6.m4s"))[0] == 404  # neither there nor next
        assert time.monotonic() - started < 0.5
        first = feed.chunks("seg-0-5.m4s")[0]
        got_first = asyncio.Event()

        async def next_segment() -> tuple[int, bytes]:
            async with s.get(base + "seg-0-5.m4s") as r:  # next: held until it starts
                head = await r.content.readexactly(len(first))
                got_first.set()
                return r.status, head + await r.read()

        nxt = asyncio.ensure_future(next_segment())
        feed.grow("seg-0-4.m4s", None)
        await asyncio.to_thread(state.refresh)
        feed.close("seg-0-4.m4s")
        feed.grow("seg-0-5.m4s")
        await asyncio.to_thread(state.refresh)
        await asyncio.wait_for(got_first.wait(), 5)
        await asyncio.to_thread(state.end)  # closes segment 5 with the one chunk it has
        assert await nxt == (200, first)
        # A segment that left the window (deleted) is 404, and so is any range of it.
        (feed.folder / "seg-0-1.m4s").unlink()
        await asyncio.to_thread(state.refresh)
        assert (await get(s, base + "seg-0-1.m4s", headers={"Range": "bytes=0-99"}))[0] == 404
        assert (await get(s, base + "seg-0-7.m4s"))[0] == 404  # ended: no next segment


@aio
async def test_tokens_cover_a_channel(channel):
    _, state = channel
    signer = TokenSigner(b"k" * 32)
    app = make_app(config(signer=signer, require_tokens=True), live={CH: state, "other": state})
    async with serve(app) as url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        pl = f"{url}/live/{CH}/{VIDEO}.m3u8"
        assert (await get(s, pl))[0] == 403
        assert (await get(s, pl, params={"token": signer.sign("/live/other/", ttl=60)}))[0] == 403
        status, h, _ = await get(s, pl, params={"token": signer.sign(f"/live/{CH}/", ttl=60)})
        assert status == 200 and f"Path=/live/{CH}/" in h["Set-Cookie"]
        assert (await get(s, f"{url}/live/{CH}/seg-0-1.m4s"))[0] == 200  # the cookie rides along
        assert (await get(s, f"{url}/live/other/seg-0-1.m4s"))[0] == 403


@aio
async def test_a_restarted_encoders_files_are_served(channel, source):
    feed, state = channel
    for rep in ("0", "1"):  # encoder run 1 writes run-tagged names (packager.live_state)
        shutil.copy(source / f"init-{rep}.m4s", feed.folder / f"init-{rep}-r1.m4s")
        feed.step(f"seg-{rep}-r1-1.m4s.tmp", source=f"seg-{rep}-1.m4s")
    await asyncio.to_thread(state.refresh)
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        base = f"{url}/live/{CH}/"
        status, h, body = await get(s, base + "seg-0-4.m4s")  # the killed run's last segment, closed as it was
        assert status == 200 and body == feed.chunks("seg-0-4.m4s")[0] and "immutable" in h["Cache-Control"]
        assert (await get(s, base + "init-0-r1.m4s"))[2] == (source / "init-0.m4s").read_bytes()
        status, h, body = await get(s, base + "seg-0-r1-1.m4s", headers={"Range": "bytes=0-99"})
        assert status == 206 and body == feed.chunks("seg-0-1.m4s")[0][:100] and h["Cache-Control"] == "no-store"
        playlist = (await get(s, base + f"{VIDEO}.m3u8"))[2].decode()
        assert "#EXT-X-DISCONTINUITY" in playlist and "seg-0-r1-1.m4s" in playlist


# --- encrypted channels --------------------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def encrypted(channel, tmp_path) -> tuple[ChannelState, KeyStore, ContentKey]:
    """The channel's files as an encrypted channel's state (the routes do not look inside the samples)."""
    feed, _ = channel
    keystore = KeyStore(tmp_path / "keys")
    protection, key = live_key(keystore, CH, "cenc", 90)
    state = ChannelState(feed.folder, segment_s=SEG_S, part_s=PART_S, protection=protection)
    state.refresh()
    return state, keystore, key


@aio
async def test_an_encrypted_channel_names_its_keys_and_serves_them_to_a_token(encrypted, channel):
    state, keystore, key = encrypted
    _, clear = channel
    signer = TokenSigner(b"k" * 32)
    app = make_app(config(signer=signer, keystore=keystore), live={CH: state, "open": clear})
    token = {"token": signer.sign(f"/live/{CH}/", ttl=60)}
    async with serve(app) as url, aiohttp.ClientSession() as s:
        base = f"{url}/live/{CH}/"
        for mpd in ("manifest.mpd", "manifest-number.mpd"):
            status, _, body = await get(s, base + mpd)
            assert status == 200 and 'cenc:default_KID="' in body.decode()
            # The licence URL is absolute, the one the MPD was asked by.
            assert f'<dashif:Laurl Lic_type="EME-1.0">{base}license</dashif:Laurl>' in body.decode()
            assert body.decode() == state.mpd(LIVE_MPDS[mpd], licence_url=f"{base}license")
        media = (await get(s, base + f"{VIDEO}.m3u8"))[2].decode()
        assert f'#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="key/{key.kid}",KEYFORMAT="identity"' in media
        assert f'URI="license",KEYID=0x{key.kid},KEYFORMAT="org.w3.clearkey"' in media
        assert "#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES-CTR" in (await get(s, base + "master.m3u8"))[2].decode()
        assert b"pssh" in (await get(s, base + "init-0.m4s"))[2]
        # The licence: always to a token on an edge with a secret, even when the channel is open.
        request = {"kids": [_b64url(key.kid_bytes)], "type": "temporary"}
        async with s.post(base + "license", json=request) as r:
            assert r.status == 403
        async with s.post(base + "license", json=request, params=token) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert await r.json() == {
                "keys": [{"kty": "oct", "kid": _b64url(key.kid_bytes), "k": _b64url(key.key_bytes)}],
                "type": "temporary",
            }
        async with s.post(base + "license", data=b"{}", params=token) as r:
            assert r.status == 400
        other = keystore.load(CH).for_class(TrackClass.HD)  # the title's, but not the channel's key
        async with s.post(base + "license", json={"kids": [_b64url(other.kid_bytes)]}, params=token) as r:
            assert r.status == 404
        # The raw key (HLS identity key format).
        assert (await get(s, base + f"key/{key.kid}"))[0] == 403
        status, h, body = await get(s, base + f"key/{key.kid}", params=token)
        assert status == 200 and body == key.key_bytes and h["Cache-Control"] == "no-store"
        assert (await get(s, base + "key/xyz", params=token))[0] == 400
        assert (await get(s, base + f"key/{other.kid}", params=token))[0] == 404
        assert (await get(s, f"{url}/live/open/key/{key.kid}", params=token))[0] == 404  # a clear channel
        assert "ContentProtection" not in (await get(s, f"{url}/live/open/manifest.mpd"))[2].decode()


@aio
async def test_a_supervisors_bare_routes_serve_keys_like_the_channel(encrypted):
    state, keystore, key = encrypted
    app = web.Application()
    add_live(app, {CH: state}, keystore=keystore)  # no token secret: what a channel's supervisor mounts
    async with serve(app) as url, aiohttp.ClientSession() as s:
        status, _, body = await get(s, f"{url}/live/{CH}/key/{key.kid}")
        assert status == 200 and body == key.key_bytes
        async with s.post(f"{url}/live/{CH}/license", json={"kids": [_b64url(key.kid_bytes)]}) as r:
            assert r.status == 200 and (await r.json())["keys"][0]["k"] == _b64url(key.key_bytes)


@aio
async def test_the_next_segment_of_an_encoder_that_died_is_404_not_the_restarted_ones(channel, source):
    feed, state = channel
    app = make_app(config(), live={CH: state})
    async with serve(app) as url, aiohttp.ClientSession() as s:
        held = asyncio.ensure_future(get(s, f"{url}/live/{CH}/seg-0-5.m4s"))  # run 0's next: held
        await asyncio.sleep(0.2)
        assert not held.done()
        # The encoder died in segment 4; the restarted one writes run 1's names, its segment 1 taking msn 5.
        for rep in ("0", "1"):
            shutil.copy(source / f"init-{rep}.m4s", feed.folder / f"init-{rep}-r1.m4s")
            feed.step(f"seg-{rep}-r1-1.m4s.tmp", source=f"seg-{rep}-1.m4s")
        await asyncio.to_thread(state.refresh)
        assert state.segment(VIDEO, 5).uri == "seg-0-r1-1.m4s"
        status, _, body = await asyncio.wait_for(held, 5)
        assert status == 404 and body != feed.chunks("seg-0-1.m4s")[0]
        assert (await get(s, f"{url}/live/{CH}/seg-0-5.m4s"))[0] == 404  # and at once from now on
