"""What the edge refuses, sent as raw HTTP (a client library would normalise the very paths we test),
and the key endpoints: nothing without a token scoped to the title, never from the cache."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import urlsplit

import aiohttp

from edge.geo import Geo, IPTable
from tests.edge.aio import aio
from tests.edge.conftest import TITLE
from tests.edge.harness import FaultProxy, edge


async def raw(base: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written; the status and the body."""
    u = urlsplit(base)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    head = f"GET {target} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(head.encode("latin-1") + b"\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


TRAVERSALS = [
    "/titles/film/../other/master.m3u8",
    "/titles/film/%2e%2e/other/master.m3u8",
    "/titles/film/%2E%2E%2Fother%2Fmaster.m3u8",
    "/titles/film/video/../../../../etc/passwd",
    "/titles/film//etc/passwd",
    "/titles/film/%2fetc%2fpasswd",
    "/titles/film/video%00/1.m4s",
    "/titles/film/video\\..\\..\\keys",
    "/titles/film/video%5c..%5c..%5ckeys",
    "/titles/..%2fkeys/x",
    "/keys/film/..%2f..%2fetc%2fpasswd",
    "/titles/film/.keys/x",
]


@aio
async def test_traversal_odd_paths_and_long_urls_are_refused_and_nothing_is_fetched(published, make_config, signer):
    proxy = await FaultProxy(make_config().upstream._base.rsplit("/", 1)[0]).start()
    tok = signer.sign("/titles/", ttl=60)  # even a token for every title does not open these
    try:
        async with edge(make_config(proxy.url)) as base:
            for target in TRAVERSALS:
                status, body = await raw(base, f"{target}?token={tok}")
                assert status in (400, 403, 404), target
                assert b"Traceback" not in body and b"root:" not in body
            status, _ = await raw(base, f"/titles/{TITLE}/{'a' * 5000}.m4s?token={tok}")
            assert status == 414
            status, body = await raw(base, f"/titles/{TITLE}/{'a' * 20000}.m4s")
            assert status in (400, 414) and b"Traceback" not in body
            status, _ = await raw(base, f"/titles/{TITLE}/master.m3u8?token={tok}&x={'b' * 3000}")
            assert status == 414
            assert proxy.gets == {}
            status, _ = await raw(base, f"/titles/{TITLE}/master.m3u8?token={tok}")
            assert status == 200  # the same edge still serves a proper request
    finally:
        await proxy.close()


@aio
async def test_malformed_and_oversized_range_headers_are_clean_416s(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    async with edge(make_config()) as base:
        for rng in ("bytes=0-1,2-3," * 30, "bytes=" + "9" * 5000 + "-", "bytes=--1", "bytes=1-2;", "pages=1-2"):
            status, body = await raw(base, f"/titles/{TITLE}/video/r/1.m4s?token={tok}", {"Range": rng})
            assert status == 416, rng
            assert body == b""
        # A control character never reaches us: aiohttp's parser refuses the request.
        status, body = await raw(base, f"/titles/{TITLE}/video/r/1.m4s?token={tok}", {"Range": "bytes=\x01-2"})
        assert status == 400 and b"Traceback" not in body


def _b64(raw_: bytes) -> str:
    return base64.urlsafe_b64encode(raw_).rstrip(b"=").decode()


@aio
async def test_clearkey_licence_and_aes_key_need_a_token_for_that_title(make_config, signer, keystore):
    keys = keystore.load(TITLE)
    hd = keys.for_class("hd")
    good = signer.sign(f"/titles/{TITLE}/", ttl=60)
    bad_tokens = [None, signer.sign("/titles/other/", ttl=60), signer.sign(f"/titles/{TITLE}/video/", ttl=60)]
    bad_tokens.append(good[:-3] + ("BBB" if good.endswith("AAA") else "AAA"))
    licence = {"kids": [_b64(hd.kid_bytes), _b64(keys.for_class("audio").kid_bytes)], "type": "temporary"}
    async with edge(make_config()) as base, aiohttp.ClientSession() as http:
        # AES-128 key endpoint.
        async with http.get(f"{base}/keys/{TITLE}/{hd.kid}?token={good}") as r:
            assert r.status == 200
            assert await r.read() == hd.key_bytes
            assert r.headers["Cache-Control"] == "no-store"
        for tok in bad_tokens:
            q = f"?token={tok}" if tok else ""
            async with http.get(f"{base}/keys/{TITLE}/{hd.kid}{q}") as r:
                assert r.status == 403, tok
            async with http.post(f"{base}/license/{TITLE}{q}", json=licence) as r:
                assert r.status == 403, tok
        async with http.get(f"{base}/keys/{TITLE}/{'0' * 32}?token={good}") as r:
            assert r.status == 404
        async with http.get(f"{base}/keys/{TITLE}/nothex?token={good}") as r:
            assert r.status == 400
        # ClearKey licence (W3C EME format).
        async with http.post(f"{base}/license/{TITLE}?token={good}", json=licence) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] == "no-store"
            answer = await r.json()
        assert answer["type"] == "temporary"
        got = {k["kid"]: k["k"] for k in answer["keys"]}
        assert all(k["kty"] == "oct" for k in answer["keys"])
        assert got == {
            _b64(hd.kid_bytes): _b64(hd.key_bytes),
            licence["kids"][1]: _b64(keys.for_class("audio").key_bytes),
        }
        for bad in (b"not json", b"{}", b'{"kids": "x"}', b'{"kids": ["AAAA"]}', b'{"kids": [], "type": "temporary"}'):
            async with http.post(f"{base}/license/{TITLE}?token={good}", data=bad) as r:
                assert r.status == 400, bad
        async with http.post(f"{base}/license/{TITLE}?token={good}", data=b"x" * 100_000) as r:
            assert r.status == 413
        # The cookie a manifest request sets also opens the key paths of that title, and only those.
        cookie = aiohttp.ClientSession(cookies={"vodflow_token": good})
        async with cookie, cookie.get(f"{base}/keys/{TITLE}/{hd.kid}") as r:
            assert r.status == 200
        # Key paths never reach the shared cache.
        async with http.get(f"{base}/metrics") as r:
            text = await r.text()
        assert "edge_cache_entries 0" in text


@aio
async def test_without_a_secret_or_key_store_nothing_reads_keys(make_config, signer, keystore):
    kid = keystore.load(TITLE).for_class("hd").kid
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    async with edge(make_config(signer=None, require_tokens=False)) as base:
        assert (await raw(base, f"/keys/{TITLE}/{kid}?token={tok}"))[0] == 403
    async with edge(make_config(keystore=None)) as base:
        assert (await raw(base, f"/keys/{TITLE}/{kid}?token={tok}"))[0] == 404


@aio
async def test_geo_restriction_uses_the_ip_table_and_trusts_only_configured_proxies(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    table = IPTable({"10.1.0.0/16": "DE", "10.2.0.0/16": "FR", "127.0.0.0/8": "ZZ"})
    cases = [
        (Geo.build(table=table, titles={TITLE: ["DE"]}), {"X-Forwarded-For": "10.1.0.1"}, 403),  # untrusted hop
        (
            Geo.build(table=table, titles={TITLE: ["DE"]}, trusted_proxies=["127.0.0.1/32"]),
            {"X-Forwarded-For": "10.1.0.1"},
            200,
        ),
        (
            Geo.build(table=table, titles={TITLE: ["DE"]}, trusted_proxies=["127.0.0.1/32"]),
            {"X-Forwarded-For": "10.2.0.1"},
            403,
        ),
        (Geo.build(table=table, titles={TITLE: ["ZZ"]}), {}, 200),  # the peer itself
        (Geo.build(table=table, titles={"other": ["DE"]}), {}, 200),  # unrestricted title
    ]
    for geo, headers, status in cases:
        async with edge(make_config(geo=geo)) as base:
            got, _ = await raw(base, f"/titles/{TITLE}/master.m3u8?token={tok}", headers)
            assert got == status, (geo, headers)


@aio
async def test_healthz_metrics_and_json_access_log(published, make_config, signer, caplog):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    caplog.set_level("INFO", logger="vodflow.edge.access")
    async with edge(make_config()) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"
        for _ in range(2):
            async with http.get(f"{base}/titles/{TITLE}/video/r/1.m4s?token={tok}") as r:
                await r.read()
        async with http.get(f"{base}/titles/{TITLE}/video/r/1.m4s") as r:
            assert r.status == 403
        async with http.get(f"{base}/metrics") as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            text = await r.text()
    for line in (
        'edge_requests_total{status="200"}',
        'edge_requests_total{status="403"} 1',
        "edge_cache_hits_total 1",
        "edge_cache_misses_total 1",
        'edge_errors_total{kind="token"} 1',
        'edge_upstream_latency_seconds_bucket{le="+Inf"} 2',
        "edge_bytes_served_total",
        "edge_coalesced_waiters_total 0",
    ):
        assert line in text, line
    logs = [json.loads(r.getMessage()) for r in caplog.records if r.name == "vodflow.edge.access"]
    seg = [x for x in logs if x["path"].endswith("1.m4s")]
    assert [x["status"] for x in seg] == [200, 200, 403]
    assert seg[1]["cache"] == "HIT" and seg[0]["bytes"] > 50_000
    assert all(tok not in json.dumps(x) for x in logs)  # tokens are never logged
