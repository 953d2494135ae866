"""The hit fast path (edge/fast.py) over raw keep-alive connections: it answers exactly what the
application answers, never out of order, never from bytes aiohttp's parser owns, and never past a token,
range or conditional rule."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp

from tests.edge.aio import aio
from tests.edge.conftest import TITLE
from tests.edge.harness import FaultProxy, edge

SEG = f"/titles/{TITLE}/video/r/1.m4s"


class Conn:
    """One keep-alive HTTP/1.1 connection written to byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base: str) -> Conn:
        u = urlsplit(base)
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        return cls(reader, writer, u.netloc)

    def request(self, target: str, headers: dict[str, str] | None = None, method: str = "GET") -> bytes:
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\n"
        return (head + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n").encode()

    async def send(self, *chunks: bytes) -> None:
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
            await asyncio.sleep(0.01)  # separate reads on the server side

    async def response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        n = 0 if head_only else int(headers.get("content-length", 0))
        return int(lines[0].split()[1]), headers, await self.reader.readexactly(n)

    def close(self) -> None:
        self.writer.close()


async def fast_hits(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/metrics") as r:
        text = await r.text()
    return int(next(ln.split()[1] for ln in text.splitlines() if ln.startswith("edge_fast_hits_total ")))


@aio
async def test_fast_hits_answer_as_the_application_does(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    async with edge(make_config()) as base, aiohttp.ClientSession() as http:
        c = await Conn.open(base)
        try:
            await c.send(c.request(f"{SEG}?token={tok}"))  # the miss: the application
            status, miss, data = await c.response()
            assert status == 200 and miss["x-cache"] == "MISS" and data == published["video/r/1.m4s"]
            # A header the fast path does not know sends the hit through the application.
            await c.send(c.request(f"{SEG}?token={tok}", {"X-Probe": "1"}))
            _, slow, slow_body = await c.response()
            before = await fast_hits(http, base)
            await c.send(c.request(f"{SEG}?token={tok}"))
            status, fast, fast_body = await c.response()
            assert await fast_hits(http, base) == before + 1
            assert status == 200 and fast_body == slow_body == published["video/r/1.m4s"]
            drop = ("date", "server")
            assert {k: v for k, v in fast.items() if k not in drop} == {k: v for k, v in slow.items() if k not in drop}
            # HEAD: the same head, no body.
            await c.send(c.request(f"{SEG}?token={tok}", method="HEAD"))
            status, head, _ = await c.response(head_only=True)
            assert status == 200 and head["content-length"] == str(len(fast_body))
            # The token in a cookie, as players send it for segments.
            await c.send(c.request(SEG, {"Cookie": f"a=b; vodflow_token={tok}"}))
            status, _, data = await c.response()
            assert status == 200 and data == fast_body
            assert await fast_hits(http, base) == before + 3
        finally:
            c.close()


@aio
async def test_fast_path_refuses_what_the_application_refuses(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    other = signer.sign("/titles/other/", ttl=60)
    expired = signer.sign(f"/titles/{TITLE}/", ttl=1, now=0)
    tampered = tok[:-1] + ("B" if tok.endswith("A") else "A")
    body = published["video/r/1.m4s"]
    async with edge(make_config()) as base:
        c = await Conn.open(base)
        try:
            await c.send(c.request(f"{SEG}?token={tok}"))
            assert (await c.response())[0] == 200  # cached now
            for bad in ("", f"?token={other}", f"?token={expired}", f"?token={tampered}"):
                await c.send(c.request(SEG + bad))
                assert (await c.response())[0] == 403, bad
            await c.send(c.request(f"{SEG}?token={tok}", {"Range": "bytes=10-19"}))
            status, headers, data = await c.response()
            assert status == 206 and data == body[10:20] and headers["content-range"] == f"bytes 10-19/{len(body)}"
            await c.send(c.request(f"{SEG}?token={tok}"))
            etag = (await c.response())[1]["etag"]
            await c.send(c.request(f"{SEG}?token={tok}", {"If-None-Match": etag}))
            assert (await c.response())[0] == 304
            await c.send(c.request(f"/titles/{TITLE}/video/r/../r/1.m4s?token={tok}"))
            assert (await c.response())[0] == 400
        finally:
            c.close()


@aio
async def test_split_pipelined_and_bodied_requests_stay_in_order(published, make_config, signer):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    seg1, seg2 = published["video/r/1.m4s"], published["video/r/2.m4s"]
    async with edge(make_config()) as base:
        c = await Conn.open(base)
        try:
            for path in ("1.m4s", "2.m4s"):
                await c.send(c.request(f"/titles/{TITLE}/video/r/{path}?token={tok}"))
                assert (await c.response())[0] == 200
            # A request in two reads, then two pipelined in one: each answered once, in order.
            req = c.request(f"{SEG}?token={tok}")
            await c.send(req[:20], req[20:])
            assert (await c.response())[2] == seg1
            two = f"/titles/{TITLE}/video/r/2.m4s?token={tok}"
            await c.send(c.request(two) + c.request(f"{SEG}?token={tok}"))
            assert (await c.response())[2] == seg2 and (await c.response())[2] == seg1
            # A hit queued behind a miss on the same connection is answered after it.
            await c.send(c.request(f"/titles/{TITLE}/video/r/3.m4s?token={tok}"), c.request(f"{SEG}?token={tok}"))
            status, headers, data = await c.response()
            assert status == 200 and headers["x-cache"] == "MISS" and data == published["video/r/3.m4s"]
            assert (await c.response())[2] == seg1
            # A GET whose body looks like a request: the body is never answered as one.
            smuggled = c.request(f"{SEG}?token={tok}")
            await c.send(c.request(f"{SEG}?token={tok}", {"Content-Length": str(len(smuggled))}), smuggled)
            assert (await c.response())[2] == seg1
            await c.send(c.request(f"/titles/{TITLE}/video/r/2.m4s?token={tok}"))
            assert (await c.response())[2] == seg2  # the next answer is the next request's
        finally:
            c.close()


@aio
async def test_fast_path_misses_share_one_fetch_answer_in_order_and_fail_as_the_application(
    published, make_config, signer
):
    tok = signer.sign(f"/titles/{TITLE}/", ttl=60)
    proxy = await FaultProxy(make_config().upstream._base.rsplit("/", 1)[0]).start()
    try:
        async with edge(make_config(proxy.url)) as base, aiohttp.ClientSession() as http:
            c1, c2 = await Conn.open(base), await Conn.open(base)
            try:
                await c1.send(c1.request(f"{SEG}?token={tok}"))  # the pointer, and 1.m4s cached
                assert (await c1.response())[0] == 200
                proxy.delay = 0.3
                two = f"/titles/{TITLE}/video/r/2.m4s?token={tok}"
                before = await fast_hits(http, base)
                await c1.send(c1.request(two))
                await c2.send(c2.request(two, method="HEAD"))
                await c1.send(c1.request(f"{SEG}?token={tok}"))  # pipelined behind the waiting miss
                status, miss, data = await c1.response()
                assert status == 200 and miss["x-cache"] == "MISS" and data == published["video/r/2.m4s"]
                status, hit, data = await c1.response()
                assert status == 200 and hit["x-cache"] == "HIT" and data == published["video/r/1.m4s"]
                status, joined, _ = await c2.response(head_only=True)
                assert status == 200 and joined["x-cache"] == "COALESCED"
                assert joined["content-length"] == str(len(published["video/r/2.m4s"]))
                assert proxy.count("/2.m4s") == 1
                assert await fast_hits(http, base) == before + 1  # the pipelined hit; misses are not hits
                # Through the application (an unknown header) and through the fast path: the same answer.
                proxy.delay = 0
                drop = ("date", "server")
                for fault, want in (("pass", 404), ("503", 502)):
                    proxy.mode = fault
                    answers = []
                    for conn, extra in ((c1, {"X-Probe": "1"}), (c2, {})):
                        await conn.send(conn.request(f"/titles/{TITLE}/video/r/9.m4s?token={tok}", extra))
                        status, headers, data = await conn.response()
                        answers.append((status, {k: v for k, v in headers.items() if k not in drop}, data))
                    assert answers[0] == answers[1] and answers[0][0] == want, answers
            finally:
                c1.close()
                c2.close()
    finally:
        await proxy.close()
