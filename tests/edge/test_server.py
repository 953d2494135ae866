"""The edge over real HTTP against a real S3 (SeaweedFS), through a fault-injecting proxy we control."""

from __future__ import annotations

import asyncio
import gzip
import os
import time

import aiohttp
import pytest

from edge.server import TOKEN_COOKIE
from tests.edge.aio import aio
from tests.edge.conftest import TITLE
from tests.edge.harness import FaultProxy, edge, put_title

SEG = "video/r/1.m4s"


def url(base: str, path: str, token: str | None) -> str:
    return f"{base}/titles/{TITLE}/{path}" + (f"?token={token}" if token else "")


@aio
async def test_serves_current_version_then_hits_without_touching_s3(published, make_config, signer, seaweed):
    proxy = await FaultProxy(make_config().upstream._base.rsplit("/", 1)[0]).start()
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    try:
        async with edge(make_config(proxy.url)) as base, aiohttp.ClientSession() as http:
            for path in (SEG, "video/r/init.mp4", "master.m3u8", "manifest.mpd", "text/en/1.vtt"):
                async with http.get(url(base, path, tok), headers={"Accept-Encoding": "identity"}) as r:
                    assert r.status == 200, await r.text()
                    assert await r.read() == published[path]
                    assert r.headers["X-Cache"] == "MISS"
                    assert r.headers["ETag"].startswith('"')
            async with http.get(url(base, SEG, tok)) as r:
                assert r.headers["X-Cache"] == "HIT"
                assert r.headers["Content-Type"] == "video/iso.segment"
                assert "immutable" in r.headers["Cache-Control"]
                assert await r.read() == published[SEG]
            async with http.get(url(base, "master.m3u8", tok)) as r:
                assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
                assert "immutable" not in r.headers["Cache-Control"]
            assert proxy.count("/1.m4s") == 1
            # A pinned version is the same object (same cache entry), and unknown objects are 404.
            async with http.get(url(base, f"@v1/{SEG}", tok)) as r:
                assert r.headers["X-Cache"] == "HIT"
            async with http.get(url(base, "video/r/99.m4s", tok)) as r:
                assert r.status == 404
            async with http.get(f"{base}/titles/nosuch/master.m3u8?token=" + signer.sign("/titles/", ttl=60)) as r:
                assert r.status == 404
    finally:
        await proxy.close()


@aio
async def test_a_herd_of_100_misses_makes_one_upstream_request(published, make_config, signer):
    cfg = make_config()
    proxy = await FaultProxy(cfg.upstream._base.rsplit("/", 1)[0]).start()
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    try:
        async with edge(make_config(proxy.url)) as base, aiohttp.ClientSession() as http:
            async with http.get(url(base, "master.m3u8", tok)) as r:  # resolve the pointer first
                assert r.status == 200
            proxy.delay = 0.2  # a slow origin keeps the fetch in flight while the herd arrives

            async def one() -> tuple[int, bytes, float, str]:
                async with http.get(url(base, SEG, tok)) as r:
                    return r.status, await r.read(), time.perf_counter(), r.headers["X-Cache"]

            t0 = time.perf_counter()
            results = await asyncio.gather(*(one() for _ in range(100)))
            assert proxy.count("/1.m4s") == 1
            assert all(s == 200 and body == published[SEG] for s, body, _, _ in results)
            assert sorted(how for *_, how in results) == ["COALESCED"] * 99 + ["MISS"]
            done = sorted(t - t0 for _, _, t, _ in results)
            assert done[0] >= 0.2
            # Released together (the spread is 100 x 50 kB through one event loop), not one per tick.
            assert done[-1] - done[0] < 1.0, done
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
            assert "edge_coalesced_waiters_total 99" in text
    finally:
        await proxy.close()


@aio
async def test_stale_if_error_when_the_origin_fails_and_recovery(published, make_config, signer):
    cfg = make_config()
    proxy = await FaultProxy(cfg.upstream._base.rsplit("/", 1)[0]).start()
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    # TTL 0: every entry (and the pointer) is expired at once, so every request asks the origin again.
    config = make_config(proxy.url, total=1.0, ttl_segment=0, ttl_manifest=0, ttl_pointer=0)
    try:
        async with edge(config) as base, aiohttp.ClientSession() as http:
            for path in (SEG, "master.m3u8"):
                async with http.get(url(base, path, tok)) as r:
                    assert r.status == 200
            for mode in ("503", "hang", "stopped"):
                if mode == "stopped":
                    proxy.mode = "pass"
                    await proxy.stop()
                else:
                    proxy.mode = mode
                for path in (SEG, "master.m3u8"):
                    t0 = time.perf_counter()
                    async with http.get(url(base, path, tok), headers={"Accept-Encoding": "identity"}) as r:
                        assert r.status == 200, (mode, path)
                        assert r.headers["X-Cache"] == "STALE"
                        assert await r.read() == published[path]
                    # Well inside the hang: not a speed check (a loaded CI machine is slow), a "did not
                    # wait for the origin" check.
                    assert time.perf_counter() - t0 < 5.0
                t0 = time.perf_counter()
                async with http.get(url(base, "video/r/2.m4s", tok)) as r:  # never cached: a miss fails
                    assert r.status == (504 if mode == "hang" else 502), mode
                assert time.perf_counter() - t0 < 5.0  # the 1 s fetch timeout fired; the hang is endless
            await proxy.start()  # same port: the origin is back
            async with http.get(url(base, SEG, tok)) as r:
                assert r.status == 200
                assert r.headers["X-Cache"] == "REVALIDATED"  # S3 answered 304 to If-None-Match
            async with http.get(url(base, "video/r/2.m4s", tok)) as r:
                assert r.status == 200 and r.headers["X-Cache"] == "MISS"
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
            assert 'edge_cache_lookups_total{result="stale"} 6' in text
            assert 'edge_errors_total{kind="upstream_timeout"}' in text
    finally:
        await proxy.close()


@aio
async def test_ranges_conditional_gzip_head_and_cors(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    body = published[SEG]
    async with edge(make_config()) as base, aiohttp.ClientSession(auto_decompress=False) as http:
        u = url(base, SEG, tok)
        async with http.get(u, headers={"Range": "bytes=100-199"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
            assert await r.read() == body[100:200]
        async with http.get(u, headers={"Range": "bytes=-10"}) as r:
            assert r.status == 206 and await r.read() == body[-10:]
        for bad in (f"bytes={len(body)}-", "bytes=0-1,4-5", "bytes=x-y", "bytes=0-" + "9" * 200):
            async with http.get(u, headers={"Range": bad}) as r:
                assert r.status == 416, bad
                assert r.headers["Content-Range"] == f"bytes */{len(body)}"
        async with http.get(u, headers={"Range": "bytes=0-9", "If-Range": '"other"'}) as r:
            assert r.status == 200  # If-Range names another version: the whole object
        async with http.get(u) as r:
            etag = r.headers["ETag"]
        async with http.get(u, headers={"If-None-Match": etag}) as r:
            assert r.status == 304 and await r.read() == b""
            assert r.headers["ETag"] == etag
        async with http.head(u) as r:
            assert r.status == 200 and int(r.headers["Content-Length"]) == len(body)
            assert await r.read() == b""
        m = url(base, "manifest.mpd", tok)
        async with http.get(m, headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Vary"] == "Accept-Encoding"
            assert gzip.decompress(await r.read()) == published["manifest.mpd"]
        async with http.get(m, headers={"Accept-Encoding": "identity"}) as r:
            assert "Content-Encoding" not in r.headers and await r.read() == published["manifest.mpd"]
        async with http.get(u, headers={"Accept-Encoding": "gzip"}) as r:
            assert "Content-Encoding" not in r.headers  # segments are never gzipped
        origin_hdr = {"Origin": "https://player.example"}
        async with http.get(u, headers={**origin_hdr, "Range": "bytes=0-0"}) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "Content-Range" in r.headers["Access-Control-Expose-Headers"]
        pre = {**origin_hdr, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"}
        async with http.options(u, headers=pre) as r:
            assert r.status == 204
            assert "GET" in r.headers["Access-Control-Allow-Methods"]
            assert "range" in r.headers["Access-Control-Allow-Headers"].lower()


@aio
async def test_tokens_guard_content_and_are_not_part_of_the_cache_key(published, make_config, signer):
    cfg = make_config()
    proxy = await FaultProxy(cfg.upstream._base.rsplit("/", 1)[0]).start()
    good = signer.sign(f"/titles/{TITLE}/", ttl=60)
    other = signer.sign(f"/titles/{TITLE}/", ttl=120)
    expired = signer.sign(f"/titles/{TITLE}/", ttl=1, now=time.time() - 10)
    wrong_title = signer.sign("/titles/other/", ttl=60)
    exp, scope, mac = good.split(".")
    tampered = f"{int(exp) + 999}.{scope}.{mac}"
    try:
        async with edge(make_config(proxy.url)) as base, aiohttp.ClientSession() as http:
            for tok in (None, expired, wrong_title, tampered, "garbage"):
                async with http.get(url(base, SEG, tok)) as r:
                    assert r.status == 403, tok
                    assert "Traceback" not in await r.text()
            assert proxy.gets == {}  # nothing was fetched for a refused request
            async with http.get(url(base, "master.m3u8", good)) as r:
                assert r.status == 200
                cookies = r.headers.getall("Set-Cookie")
                assert any(f"Path=/keys/{TITLE}/" in c for c in cookies)
            async with http.get(url(base, SEG, good)) as r:
                assert r.headers["X-Cache"] == "MISS"
            async with http.get(url(base, SEG, other)) as r:
                assert r.headers["X-Cache"] == "HIT"  # another token, the same cached object
            for cookie, status in ((good, 200), (wrong_title, 403)):  # the token as a cookie
                async with (
                    aiohttp.ClientSession(cookies={TOKEN_COOKIE: cookie}) as jar,
                    jar.get(url(base, SEG, None)) as r,
                ):
                    assert r.status == status
            assert proxy.count("/1.m4s") == 1
    finally:
        await proxy.close()


@aio
async def test_tiered_edges_fetch_each_object_once_from_s3(published, make_config, signer):
    from edge.server import EdgeConfig
    from edge.upstream import HttpUpstream

    cfg = make_config()
    proxy = await FaultProxy(cfg.upstream._base.rsplit("/", 1)[0]).start()
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    try:
        async with edge(make_config(proxy.url)) as parent:
            parent_proxy = await FaultProxy(parent).start()
            try:
                lower = [
                    EdgeConfig(upstream=HttpUpstream(parent_proxy.url, signer=signer), signer=signer) for _ in (1, 2)
                ]
                async with edge(lower[0]) as a, edge(lower[1]) as b, aiohttp.ClientSession() as http:
                    for base in (a, b, a):
                        for path in (SEG, "master.m3u8"):
                            async with http.get(url(base, path, tok), headers={"Accept-Encoding": "identity"}) as r:
                                assert r.status == 200
                                assert await r.read() == published[path]
                    assert proxy.count("/1.m4s") == 1  # S3 saw one request for the segment
                    assert parent_proxy.count("/1.m4s") == 2  # each lower edge asked the parent once
                    assert parent_proxy.count("/current.json") == 2
                    # The parent failing leaves the lower edges serving what they hold.
                    parent_proxy.mode = "503"
                    async with http.get(url(a, SEG, tok)) as r:
                        assert r.status == 200
            finally:
                await parent_proxy.close()
    finally:
        await proxy.close()


@aio
async def test_a_new_pointer_is_seen_after_its_ttl(published, make_config, signer, origin):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    async with edge(make_config(ttl_pointer=0)) as base, aiohttp.ClientSession() as http:
        async with http.get(url(base, SEG, tok)) as r:
            assert await r.read() == published[SEG]
        v2 = {SEG: b"version two"}
        await asyncio.to_thread(put_title, origin, TITLE, "v2", v2)

        async def body() -> bytes:
            async with http.get(url(base, SEG, tok)) as r:
                return await r.read()

        # The request after the pointer expires still gets v1 while the pointer is refreshed behind it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while (got := await body()) != b"version two":
            assert got == published[SEG] and loop.time() < deadline
        async with http.get(url(base, f"@v1/{SEG}", tok)) as r:
            assert await r.read() == published[SEG]  # the old version is still addressable


@aio
@pytest.mark.parametrize("admission", [True, False])
async def test_a_frequently_read_segment_survives_a_run_of_one_off_segments(origin, make_config, admission):
    """Over HTTP: a cache with room for three segments keeps a segment read three times while eight
    segments read once each pass through (TinyLFU admission); the plain LRU lets them flush it."""
    files = {f"v/{i}.m4s": os.urandom(20_000) for i in range(9)}
    put_title(origin, TITLE, "v1", files)
    room = 3 * (20_000 + 300)
    cfg = make_config(require_tokens=False, cache_bytes=room, max_entry_bytes=room, cache_admission=admission)
    async with edge(cfg) as base, aiohttp.ClientSession() as http:

        async def get(path: str) -> str:
            async with http.get(f"{base}/titles/{TITLE}/{path}") as r:
                assert r.status == 200 and await r.read() == files[path]
                return r.headers["X-Cache"]

        assert [await get("v/0.m4s") for _ in range(3)] == ["MISS", "HIT", "HIT"]
        assert [await get(f"v/{i}.m4s") for i in range(1, 9)] == ["MISS"] * 8
        assert await get("v/0.m4s") == ("HIT" if admission else "MISS")
