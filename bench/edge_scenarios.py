"""``bench.edge``'s scenarios: the hit path (wrk), the herd, the Zipf catalogue, origin faults and the
edge on the embedded SeaweedFS. Each returns its runs as records; ``bench.edge`` prints them and judges
the goals.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.edge_measure import HitRun, body_ok, fetch, origin_ctl, origin_stats, pct, seg, session, wrk
from bench.edge_origin import VERSION, body, pointer_body
from bench.edge_servers import SECRET, SERVER_CPU, TIMEOUT, Proc, cpu_seconds, running, start_edge
from edge.cache import Entry, MemoryLRU
from edge.tokens import TokenSigner
from origin.config import S3Location
from origin.layout import pointer as pointer_key
from origin.layout import version_root
from origin.seaweed import Seaweed

__all__ = [
    "FaultRun", "Herd", "ZipfRun", "fault_run", "herd", "hit_path", "s3_scenario", "token_for", "warm",
    "zipf_replay", "zipf_run", "zipf_workload",
]  # fmt: skip


def token_for(path_prefix: str) -> str:
    return TokenSigner(bytes.fromhex(SECRET)).sign(path_prefix, ttl=3600)


def hit_path(servers: dict[str, Proc], size: int, rounds: int, seconds: float, conns: int) -> dict[str, list[HitRun]]:
    path = seg("hot", size, 1)
    token = token_for("/titles/hot/")
    urls = {name: p.url + path + (f"?token={token}" if name == "edge+token" else "") for name, p in servers.items()}
    for url in urls.values():  # warm every cache (and the pointer) before measuring
        asyncio.run(warm(url))
    runs: dict[str, list[HitRun]] = {n: [] for n in servers}
    names = list(servers)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # alternate who goes first
        for name in order:
            runs[name].append(wrk(servers[name], urls[name], seconds, conns))
    return runs


async def warm(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(url) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"warming {url}: HTTP {r.status}")


@dataclass
class Herd:
    server: str
    origin_gets: int
    correct: int
    n: int
    leader_ms: float
    waiters_p99_ms: float

    @property
    def lag_ms(self) -> float:
        return self.waiters_p99_ms - self.leader_ms


async def herd(server: Proc, origin: Proc | None, title: str, n: int = 100, size: int = 500_000,
               delay: float = 0.2, count=None) -> Herd:  # fmt: skip
    """``n`` requests at once for one uncached segment; ``count()`` gives origin requests when there is no
    bench origin (the S3 case)."""
    path = seg(title, size, 1)
    host = server.url.removeprefix("http://")
    h, port = host.rsplit(":", 1)

    def req(p: str) -> bytes:
        return f"GET {p} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

    async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes, float]:
        head = await reader.readuntil(b"\r\n\r\n")
        first = time.perf_counter()
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        return int(head.split(b" ", 2)[1]), await reader.readexactly(length), first

    # n raw keep-alive connections, each used once first (which also lets the edge learn the title's
    # pointer), so the herd measures the cache, not handshakes; raw streams read each response head as
    # soon as it arrives, so the first-byte times are not those of a client busy with other bodies.
    conns = [await asyncio.open_connection(h, int(port), limit=1 << 20) for _ in range(n)]
    try:
        warm = seg(title, 1000, 0)
        for _, w in conns:
            w.write(req(warm))
        assert all(s == 200 for s, *_ in await asyncio.gather(*(answer(r) for r, _ in conns)))
        if origin is not None:
            await origin_ctl(origin, delay=delay)
            await origin_stats(origin, reset=True)
        before = await count() if count else 0
        start = time.perf_counter()
        for _, w in conns:
            w.write(req(path))
        out = [(s, d, t - start) for s, d, t in await asyncio.gather(*(answer(r) for r, _ in conns))]
        if origin is not None:
            gets = (await origin_stats(origin))["paths"].get(path, 0)
            await origin_ctl(origin, delay=0)
        else:
            gets = await count() - before
    finally:
        for _, w in conns:
            w.close()
    firsts = sorted(t * 1000 for _, _, t in out)
    good = sum(body_ok(path, s, d) for s, d, _ in out)
    return Herd(server.name, gets, good, n, firsts[0], pct(firsts[1:], 99))


@dataclass
class ZipfRun:
    server: str
    requests: int
    ok: int
    hit_ratio: float
    byte_offload: float
    mb_s: float
    p50_ms: float
    p99_ms: float
    cpu: float
    held_peak: int = 0  # nginx: the most bytes its cache folder held during the run
    held_steady: int = 0  # nginx: mean bytes held once it first reached max_size (its peak if it never did)


def dir_bytes(root: str) -> int:
    """Bytes of the files under ``root`` (nginx's cache folder: each file is a response's headers and body)."""
    total = 0
    for folder, _, files in os.walk(root):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(folder, f)).st_size
    return total


def zipf_workload(titles: int, renditions: tuple[int, ...], segments: int, n: int, seed: int = 7) -> list[str]:
    """``n`` player requests: titles by Zipf (s = 0.9), renditions weighted to the top, segments falling off
    through the title (viewers leave), all from one seed so every server sees the same sequence."""
    rng = random.Random(seed)
    tw = [1 / (i + 1) ** 0.9 for i in range(titles)]
    rw = [1 + i for i in range(len(renditions))]
    sw = [0.9**i for i in range(segments)]
    ts = rng.choices(range(titles), tw, k=n)
    rs = rng.choices(renditions, rw, k=n)
    ss = rng.choices(range(segments), sw, k=n)
    return [seg(f"z{t:03d}", r, s) for t, r, s in zip(ts, rs, ss, strict=True)]


def zipf_replay(paths: list[str], capacity: int, *, admit: bool) -> tuple[float, float]:
    """(hit ratio, byte offload) of ``paths`` played one at a time through the edge's own ``MemoryLRU``
    at ``capacity``: the policy alone, without concurrency, timing or a server (deterministic)."""
    lru, bodies = MemoryLRU(capacity, admit=admit), {}
    hits = hit_bytes = total = 0
    for path in paths:
        size = int(re.search(r"/s(\d+)/", path).group(1))
        total += size
        if lru.get(path) is not None:
            hits, hit_bytes = hits + 1, hit_bytes + size
        else:
            data = bodies.setdefault(size, bytes(size))
            lru.put(path, Entry(data, "video/iso.segment", '"e"', math.inf))
    return hits / len(paths), hit_bytes / total


async def zipf_run(server: Proc, origin: Proc, paths: list[str], conc: int) -> ZipfRun:
    """Play ``paths`` through ``server`` with ``conc`` clients. For nginx, its cache folder is measured
    every 0.25 s: its ``max_size`` is enforced only by the cache manager process on its own schedule, so
    nginx holds more than ``max_size`` between passes (the edge's bound is checked on every insert)."""
    await origin_stats(origin, reset=True)
    lat: list[float] = []
    held: list[int] = []
    ok = nbytes = 0
    it = iter(paths)
    done = asyncio.Event()

    async def sample() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            held.append(await loop.run_in_executor(None, dir_bytes, server.info["cache_dir"]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.25)

    sampler = asyncio.create_task(sample()) if "cache_dir" in server.info else None
    async with session(conc) as http:
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()

        async def worker() -> None:
            nonlocal ok, nbytes
            for path in it:
                status, data, _, total = await fetch(http, server.url + path)
                lat.append(total * 1000)
                nbytes += len(data)
                ok += body_ok(path, status, data)

        await asyncio.gather(*(worker() for _ in range(conc)))
        secs, cpu = time.perf_counter() - t0, cpu_seconds(server.pid) - cpu0
    done.set()
    peak = steady = 0
    if sampler is not None:
        await sampler
        peak = max(held, default=0)
        limit = server.info["max_size"]
        reached = next((i for i, b in enumerate(held) if b >= limit), None)
        steady = peak if reached is None else int(statistics.mean(held[reached:]))
    st = await origin_stats(origin)
    return ZipfRun(
        server.name, len(paths), ok, 1 - st["gets"] / len(paths), 1 - st["bytes"] / max(nbytes, 1),
        nbytes / secs / 2**20, pct(lat, 50), pct(lat, 99), cpu, peak, steady,
    )  # fmt: skip


@dataclass
class FaultRun:
    server: str
    mode: str
    warm_total: int
    warm_ok: int
    misses_in_fault: int
    misses_fail_ok: int  # 502/504 (or a 200) within the timeout
    miss_statuses: dict
    miss_max_s: float
    recovery_s: float


async def fault_run(
    server: Proc, origin: Proc, mode: str, tag: str, total: float, fault: tuple[float, float]
) -> FaultRun:
    titles = [f"f{tag}{i}" for i in range(5)]
    warm = [f"/titles/{t}/manifest.mpd" for t in titles] + [seg(t, 50_000, k) for t in titles for k in range(4)]
    async with session(64) as http:
        for p in warm:
            s, d, *_ = await fetch(http, server.url + p)
            assert body_ok(p, s, d), (server.name, p, s)
        start = time.perf_counter()
        warm_log: list[tuple[float, bool]] = []
        miss_log: list[tuple[float, float, int]] = []  # (sent, done, status)
        rng = random.Random(1)

        async def warm_worker() -> None:
            while (now := time.perf_counter() - start) < total:
                p = rng.choice(warm)
                s, d, *_ = await fetch(http, server.url + p)
                warm_log.append((now, body_ok(p, s, d)))

        async def one_miss(k: int, sent: float) -> None:
            p = seg(titles[k % len(titles)], 20_000, 100 + k)
            s, d, _, t = await fetch(http, server.url + p)
            miss_log.append((sent, sent + t, s if s != 200 or body_ok(p, s, d) else -1))

        async def misses() -> None:
            tasks, k = [], 0
            while (now := time.perf_counter() - start) < total:
                tasks.append(asyncio.create_task(one_miss(k, now)))
                k += 1
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)

        async def director() -> None:
            await asyncio.sleep(fault[0])
            await origin_ctl(origin, mode=mode)
            await asyncio.sleep(fault[1] - fault[0])
            await origin_ctl(origin, mode="pass")

        await asyncio.gather(director(), misses(), *(warm_worker() for _ in range(4)))
    in_fault = [m for m in miss_log if fault[0] <= m[0] < fault[1]]
    statuses: dict[int, int] = {}
    for _, _, s in in_fault:
        statuses[s] = statuses.get(s, 0) + 1
    good = [m for m in in_fault if m[2] in (200, 502, 504) and m[1] - m[0] <= TIMEOUT + 0.5]
    after = sorted(m for m in miss_log if m[0] >= fault[1])
    bad_after = [m for m in after if m[2] != 200]
    last_bad = max((m[0] for m in bad_after), default=None)
    ok_after = [m for m in after if m[2] == 200 and (last_bad is None or m[0] > last_bad)]
    recovery = (min(m[1] for m in ok_after) - fault[1]) if ok_after else math.inf
    return FaultRun(
        server.name, mode, len(warm_log), sum(ok for _, ok in warm_log), len(in_fault), len(good),
        statuses, max((m[1] - m[0] for m in in_fault), default=0.0), max(recovery, 0.0),
    )  # fmt: skip


# --- the S3 case -------------------------------------------------------------------------------------------
def s3_scenario(tmp: Path, seconds: float) -> dict:
    """The edge on the embedded SeaweedFS (signed S3): a herd and a short hit run."""
    out: dict = {}
    with Seaweed(tmp / "seaweed") as sw:
        weed_pid = sw.state().pid
        subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CPU, str(weed_pid)], capture_output=True, check=False)
        origin = sw.origin(S3Location(bucket=sw.bucket, prefix="bench"))
        s3 = origin.client()
        loc = origin.location
        files = {"s1000/0.m4s": 1000, "s500000/1.m4s": 500_000, "s50000/1.m4s": 50_000}
        for title in ("s3herd", "s3hot"):
            for rel, size in files.items():
                key = loc.key(version_root(title, VERSION), rel)
                s3.put_object(Bucket=loc.bucket, Key=key, Body=body(f"/titles/{title}/{rel}", size))
            s3.put_object(Bucket=loc.bucket, Key=loc.key(pointer_key(title)), Body=pointer_body(title))
        env = {"AWS_ENDPOINT_URL": origin.endpoint_url, "AWS_ACCESS_KEY_ID": origin.access_key,
               "AWS_SECRET_ACCESS_KEY": origin.secret_key, "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        edge = start_edge("edge(S3)", tmp, 64 << 20, env_extra=env, origin_url=f"s3://{loc.bucket}/bench")
        with running(edge):

            async def upstream_requests() -> int:
                async with aiohttp.ClientSession() as http, http.get(edge.url + "/metrics") as r:
                    text = await r.text()
                return int(float(re.search(r"^edge_upstream_latency_seconds_count (\S+)", text, re.M).group(1)))

            # SeaweedFS adds no delay of its own: the herd's window is its real latency.
            out["herd"] = asyncio.run(herd(edge, None, "s3herd", delay=0, count=upstream_requests))
            url = edge.url + "/titles/s3hot/s50000/1.m4s"
            asyncio.run(warm(url))
            out["hit"] = wrk(edge, url, seconds, 16)
    return out
