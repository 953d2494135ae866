"""The caching edge against nginx, run by hand (``python -m bench.edge``); every figure is a ratio or a
count measured in this run, nothing is remembered.

Servers, each its own process pinned with ``taskset`` to core 0 (with the origin); the load generators
(``wrk`` for the hit path, an aiohttp client in this process for the rest) are pinned to core 1:

- ``edge``: ``python -m edge --open``, and ``edge+token`` (the same without ``--open``: every
  request carries a signed ``?token=``);
- ``nginx``: Debian's nginx with a config the bench writes (one worker, ``proxy_cache`` +
  ``proxy_cache_lock``, cache sized as the scenario needs, keep-alive to the upstream, stale on errors);
- ``plain``: a plain aiohttp handler answering from a dict (the reference line for the hit path).

The upstream: both servers proxy to the same plain-HTTP origin we control (``bench.edge_origin``:
objects generated from their paths, a configurable delay, and faults: 503, hang, down). SeaweedFS
only serves signed S3 requests, which nginx cannot make without a signing module, and a signing proxy in
front of it would put a third process in every miss path; the bench origin also counts requests per
object and injects faults, which the herd and outage goals need. Our edge reads it with ``--upstream``
(the interface a lower-tier edge uses). To show the edge's real S3 path works too, one scenario runs the
edge on the embedded SeaweedFS (``--origin s3://...``): a herd and a short hit run.

Scenarios and goals (issue 5, "Measure"):

- hit path, 50 KB and 2 MB segments (wrk, alternating rounds): requests per server CPU-second, edge /
  nginx >= 0.35 (plain aiohttp is shown for reference);
- herd: 100 concurrent requests for one uncached segment behind a 200 ms origin: exactly one origin
  request, all bodies right, the waiters' first-byte p99 <= the leader's + 20 ms;
- Zipf: 200 titles x 3 renditions x 10 segments, cache at 25 % of the catalog's bytes: request hit
  ratio and byte offload >= nginx's at the same capacity. Capacity on each side: the edge's
  ``--cache-bytes`` (every entry charged its body + 256 bytes, checked on every insert); nginx's
  ``proxy_cache_path max_size`` (file sizes, headers included), which only its cache manager process
  enforces, on its own schedule rather than on insert, so nginx holds more than ``max_size`` until a pass
  trims it (in our runs none did). nginx's cache folder is measured during the run; the edge runs at
  nginx's ``max_size`` with LRU and with TinyLFU admission (before/after), and with nginx's measured peak
  as its bound: the goal is judged there, where neither server ever held more bytes than the other;
- origin down / 503 / hang from 4 s to 8 s of a 12 s run: every warm object served, misses answered
  502/504 within the timeout, misses succeed again within 1 s of the fault's end;
- tokens: hit-path requests per CPU-second with tokens >= 90 % of without.

``--quick`` shortens every scenario (for development; the figures are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.edge_origin import body

SERVER_CPU, LOAD_CPU = "0", "1"
HZ = os.sysconf("SC_CLK_TCK")
GOAL_HIT, GOAL_HERD_MS, GOAL_TOKEN_COST, GOAL_RECOVERY_S = 0.35, 20.0, 0.10, 1.0
TIMEOUT = 2.0  # the edge's --timeout and nginx's proxy_read_timeout (connect: 1 s)
SECRET = "ab" * 32


# --- processes -------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (nginx's master and workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / HZ


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    url: str
    info: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _spawn_json(name: str, argv: list[str], env: dict | None = None, timeout: float = 30) -> Proc:
    """Start ``argv`` on the server core and read its one JSON ready line."""
    # stderr to a file, not a pipe nobody reads: the edge logs a warning per failed fetch, and a full pipe
    # would block its event loop in the middle of the fault scenario.
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives as long as the process)
    argv = ["taskset", "-c", SERVER_CPU, *argv]
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if line.startswith("{"):
            info = json.loads(line)
            return Proc(name, popen, info.get("edge") or info["url"], info)
        if not line and popen.poll() is not None:
            break
    popen.kill()
    err.seek(0)
    raise SystemExit(f"{name} did not start: {err.read()[-2000:]}")


def start_origin() -> Proc:
    return _spawn_json("origin", [sys.executable, "-m", "bench.edge_origin"])


def start_plain() -> Proc:
    return _spawn_json("plain", [sys.executable, "-m", "bench.edge_origin", "--plain"])


def start_edge(name: str, tmp: Path, cache: int, *, upstream: str | None = None, tokens: bool = False,
               env_extra: dict | None = None, origin_url: str | None = None,
               policy: str = "tinylfu") -> Proc:  # fmt: skip
    argv = [sys.executable, "-m", "edge", "--port", "0", "--no-access-log", "--cache-bytes", str(cache)]
    argv += ["--cache-policy", policy]
    argv += ["--timeout", str(TIMEOUT), "--keys", str(tmp / "keys")]
    argv += ["--upstream", upstream] if upstream else ["--origin", origin_url]
    if not tokens:
        argv.append("--open")
    env = {**os.environ, "VODFLOW_EDGE_SECRET": SECRET, **(env_extra or {})}
    return _spawn_json(name, argv, env=env)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """
worker_processes 1;
user root;
daemon off;
master_process on;
error_log {d}/error.log error;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 75s;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    proxy_cache_path {d}/cache levels=1:2 keys_zone=edge:32m max_size={cache} inactive=1d use_temp_path=off;
    upstream origin {{ server {upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location /titles/ {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_key $uri;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
            proxy_connect_timeout 1s;
            proxy_read_timeout {timeout}s;
            proxy_send_timeout {timeout}s;
            proxy_next_upstream off;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, cache: int, upstream: str) -> Proc:
    d = Path(tempfile.mkdtemp(prefix="nginx-", dir=tmp))
    port = _free_port()
    up = upstream.removeprefix("http://")
    conf = NGINX_CONF.format(d=d, cache=cache, upstream=up, port=port, timeout=int(TIMEOUT))
    (d / "nginx.conf").write_text(conf)
    popen = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return Proc("nginx", popen, f"http://127.0.0.1:{port}", {"cache_dir": str(d / "cache"), "max_size": cache})
        if popen.poll() is not None:
            break
        time.sleep(0.05)
    popen.kill()
    raise SystemExit(f"nginx did not start: {popen.stderr.read().decode()[-2000:]}")


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()


# --- measurement helpers -----------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def _unit(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|B|KB|MB|GB)?", text.strip())
    if not m:
        return math.nan
    v, u = float(m.group(1)), m.group(2) or ""
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "B": 1 / 2**20, "KB": 1 / 2**10, "MB": 1.0, "GB": 2**10, "": 1}[u]


@dataclass
class HitRun:
    server: str
    requests: int
    seconds: float
    cpu: float
    mb_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def per_cpu(self) -> float:
        return self.requests / self.cpu if self.cpu > 0 else math.nan


def wrk(proc: Proc, url: str, seconds: float, conns: int) -> HitRun:
    before = cpu_seconds(proc.pid)
    out = subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(proc.pid) - before
    reqs = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    n, secs = int(reqs.group(1)), float(reqs.group(2)) * (1e-3 if reqs.group(3) == "ms" else 1)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors += sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    mb = _unit(re.search(r"Transfer/sec:\s+(\S+)", out).group(1))
    return HitRun(proc.name, n, secs, cpu, mb, _unit(lat.get("50", "nan")), _unit(lat.get("99", "nan")), errors)


async def fetch(http: aiohttp.ClientSession, url: str, *, timeout: float = 15) -> tuple[int, bytes, float, float]:
    """(status, body, seconds to the response head, seconds in all); status 0 for a failed connection."""
    t0 = time.perf_counter()
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            head = time.perf_counter() - t0
            data = await r.read()
            return r.status, data, head, time.perf_counter() - t0
    except (aiohttp.ClientError, TimeoutError):
        t = time.perf_counter() - t0
        return 0, b"", t, t


async def origin_ctl(origin: Proc, **cmd) -> None:
    async with aiohttp.ClientSession() as http, http.post(origin.info["ctl"] + "/ctl", json=cmd) as r:
        r.raise_for_status()


async def origin_stats(origin: Proc, *, reset: bool = False) -> dict:
    url = origin.info["ctl"] + "/stats" + ("?reset=1" if reset else "")
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        return await r.json()


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, force_close=False))


def _seg(title: str, size: int, n: int) -> str:
    return f"/titles/{title}/s{size}/{n}.m4s"


def _ok(path: str, status: int, data: bytes) -> bool:
    if status != 200:
        return False
    m = re.search(r"/s(\d+)/\d+\.m4s$", path)
    return data == body(path, int(m.group(1))) if m else data.startswith(path.encode() + b"\n")


# --- scenarios ---------------------------------------------------------------------------------------------
def token_for(path_prefix: str) -> str:
    from edge.tokens import TokenSigner

    return TokenSigner(bytes.fromhex(SECRET)).sign(path_prefix, ttl=3600)


def hit_path(servers: dict[str, Proc], size: int, rounds: int, seconds: float, conns: int) -> dict[str, list[HitRun]]:
    path = _seg("hot", size, 1)
    token = token_for("/titles/hot/")
    urls = {name: p.url + path + (f"?token={token}" if name == "edge+token" else "") for name, p in servers.items()}
    for url in urls.values():  # warm every cache (and the pointer) before measuring
        asyncio.run(_warm(url))
    runs: dict[str, list[HitRun]] = {n: [] for n in servers}
    names = list(servers)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # alternate who goes first
        for name in order:
            runs[name].append(wrk(servers[name], urls[name], seconds, conns))
    return runs


async def _warm(url: str) -> None:
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
    path = _seg(title, size, 1)
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
        warm = _seg(title, 1000, 0)
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
    good = sum(_ok(path, s, d) for s, d, _ in out)
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
    return [_seg(f"z{t:03d}", r, s) for t, r, s in zip(ts, rs, ss, strict=True)]


def zipf_replay(paths: list[str], capacity: int, *, admit: bool) -> tuple[float, float]:
    """(hit ratio, byte offload) of ``paths`` played one at a time through the edge's own ``MemoryLRU``
    at ``capacity``: the policy alone, without concurrency, timing or a server (deterministic)."""
    from edge.cache import Entry, MemoryLRU

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
    async with _session(conc) as http:
        cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()

        async def worker() -> None:
            nonlocal ok, nbytes
            for path in it:
                status, data, _, total = await fetch(http, server.url + path)
                lat.append(total * 1000)
                nbytes += len(data)
                ok += _ok(path, status, data)

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
    warm = [f"/titles/{t}/manifest.mpd" for t in titles] + [_seg(t, 50_000, k) for t in titles for k in range(4)]
    async with _session(64) as http:
        for p in warm:
            s, d, *_ = await fetch(http, server.url + p)
            assert _ok(p, s, d), (server.name, p, s)
        start = time.perf_counter()
        warm_log: list[tuple[float, bool]] = []
        miss_log: list[tuple[float, float, int]] = []  # (sent, done, status)
        rng = random.Random(1)

        async def warm_worker() -> None:
            while (now := time.perf_counter() - start) < total:
                p = rng.choice(warm)
                s, d, *_ = await fetch(http, server.url + p)
                warm_log.append((now, _ok(p, s, d)))

        async def one_miss(k: int, sent: float) -> None:
            p = _seg(titles[k % len(titles)], 20_000, 100 + k)
            s, d, _, t = await fetch(http, server.url + p)
            miss_log.append((sent, sent + t, s if s != 200 or _ok(p, s, d) else -1))

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
    from origin.config import S3Location
    from origin.seaweed import Seaweed

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
                key = loc.key("titles", title, "v", "v1", rel)
                s3.put_object(Bucket=loc.bucket, Key=key, Body=body(f"/titles/{title}/{rel}", size))
            s3.put_object(Bucket=loc.bucket, Key=loc.key("titles", title, "current.json"), Body=b'{"version": "v1"}')
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
            asyncio.run(_warm(url))
            out["hit"] = wrk(edge, url, seconds, 16)
    return out


# --- report ------------------------------------------------------------------------------------------------
def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short runs for development (noisy figures)")
    p.add_argument("--only", action="append", choices=["hit", "herd", "zipf", "fault", "s3"], help="scenarios")
    p.add_argument("--rounds", type=int, help="hit-path rounds per server (default 3, quick 1)")
    args = p.parse_args()
    missing = [b for b in ("nginx", "wrk", "taskset") if shutil.which(b) is None]
    if missing:
        print(f"bench.edge: {', '.join(missing)} not found; install with: "
              "apt-get install -y --no-install-recommends nginx wrk", file=sys.stderr)  # fmt: skip
        return 2
    if (os.cpu_count() or 1) < 2:
        print("bench.edge: needs two CPUs (servers on core 0, load on core 1)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    only = set(args.only or ["hit", "herd", "zipf", "fault", "s3"])
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    hit_s = 2 if quick else 5
    goals: list[tuple[str, str, bool]] = []
    tmp = Path(tempfile.mkdtemp(prefix="vodflow-bench-edge-"))
    try:
        origin = start_origin()
        with running(origin):
            if "hit" in only:
                print("== hit path (wrk, 16 connections; requests per server CPU-second) ==", flush=True)
                edge = start_edge("edge", tmp, 256 << 20, upstream=origin.url)
                tok = start_edge("edge+token", tmp, 256 << 20, upstream=origin.url, tokens=True)
                ngx = start_nginx(tmp, 1 << 30, origin.url)
                plain = start_plain()
                with running(edge, tok, ngx, plain):
                    servers = {"edge": edge, "edge+token": tok, "nginx": ngx, "plain": plain}
                    for size in (50_000, 2_000_000):
                        runs = hit_path(servers, size, rounds, hit_s, 16)
                        print(f"-- {size // 1000} KB segment, {rounds} round(s) of {hit_s} s --")
                        print(f"{'server':<11} {'req/s':>8} {'req/CPU-s':>10} {'MB/s':>8} {'p50 ms':>7} "
                              f"{'p99 ms':>7} {'errors':>6}")  # fmt: skip
                        med = {}
                        for name, rs in runs.items():
                            med[name] = _med([r.per_cpu for r in rs])
                            print(f"{name:<11} {_med([r.requests / r.seconds for r in rs]):>8.0f} {med[name]:>10.0f} "
                                  f"{_med([r.mb_s for r in rs]):>8.1f} {_med([r.p50_ms for r in rs]):>7.2f} "
                                  f"{_med([r.p99_ms for r in rs]):>7.2f} {sum(r.errors for r in rs):>6}")  # fmt: skip
                        ratio, ref = med["edge"] / med["nginx"], med["plain"] / med["nginx"]
                        print(f"edge/nginx {ratio:.3f}  plain aiohttp/nginx {ref:.3f}", flush=True)
                        goals.append((f"hit {size // 1000} KB: edge/nginx req per CPU-s >= {GOAL_HIT}",
                                      f"{ratio:.3f} (plain aiohttp {ref:.3f})", ratio >= GOAL_HIT))  # fmt: skip
                        cost = 1 - med["edge+token"] / med["edge"]
                        # Rounds alternate who goes first; each round's pair shows how much of a cost is noise.
                        pairs = zip(runs["edge"], runs["edge+token"], strict=True)
                        print("token cost by round: " + " ".join(f"{1 - t.per_cpu / e.per_cpu:+.1%}" for e, t in pairs))
                        goals.append((f"tokens {size // 1000} KB: cost <= {GOAL_TOKEN_COST:.0%}",
                                      f"{cost:+.1%}", cost <= GOAL_TOKEN_COST))  # fmt: skip
            if "herd" in only:
                print("== herd: 100 concurrent requests, one uncached 500 KB segment, 200 ms origin ==")
                edge = start_edge("edge", tmp, 256 << 20, upstream=origin.url)
                ngx = start_nginx(tmp, 1 << 30, origin.url)
                with running(edge, ngx):
                    print(f"{'server':<8} {'origin GETs':>11} {'bodies ok':>9} {'leader ms':>9} "
                          f"{'waiters p99':>11} {'lag ms':>7}")  # fmt: skip
                    herds: dict[str, list[Herd]] = {"edge": [], "nginx": []}
                    for r in range(1 if quick else 3):
                        for srv in (edge, ngx) if r % 2 == 0 else (ngx, edge):
                            h = asyncio.run(herd(srv, origin, f"herd{r}{srv.name}"))
                            herds[srv.name].append(h)
                            print(f"{h.server:<8} {h.origin_gets:>11} {h.correct:>5}/{h.n:<3} {h.leader_ms:>9.1f} "
                                  f"{h.waiters_p99_ms:>11.1f} {h.lag_ms:>7.1f}", flush=True)  # fmt: skip
                    e = herds["edge"]
                    gets_ok = all(h.origin_gets == 1 and h.correct == h.n for h in e)
                    goals.append(("herd: 1 origin GET, all bodies right", f"GETs {[h.origin_gets for h in e]}, "
                                  f"bodies {min(h.correct for h in e)}/{e[0].n}", gets_ok))  # fmt: skip
                    lag = max(h.lag_ms for h in e)
                    nlag = max(h.lag_ms for h in herds["nginx"])
                    goals.append((f"herd: waiters p99 <= leader + {GOAL_HERD_MS:.0f} ms",
                                  f"+{lag:.1f} ms (nginx +{nlag:.1f} ms)", lag <= GOAL_HERD_MS))  # fmt: skip
            if "zipf" in only:
                renditions, segments, titles = (20_000, 60_000, 150_000), 10, 200
                catalog = titles * segments * sum(renditions)
                cache = catalog // 4
                n = 4000 if quick else 16000
                paths = zipf_workload(titles, renditions, segments, n)
                print(
                    f"== Zipf: {titles} titles x {len(renditions)} renditions x {segments} segments, "
                    f"catalog {catalog / 2**20:.0f} MiB, cache {cache / 2**20:.0f} MiB, {n} requests =="
                )
                print(f"{'server':<22} {'cache MiB':>9} {'ok':>6} {'hit ratio':>9} {'offload':>8} {'MB/s':>7} "
                      f"{'p50 ms':>7} {'p99 ms':>7} {'req/CPU-s':>9}")  # fmt: skip
                zr: dict[str, ZipfRun] = {}

                def zipf_row(label: str, srv: Proc, capacity: int) -> ZipfRun:
                    with running(srv):
                        z = zr[label] = asyncio.run(zipf_run(srv, origin, paths, 16))
                    print(f"{label:<22} {capacity / 2**20:>9.1f} {z.ok:>6} {z.hit_ratio:>9.3f} {z.byte_offload:>8.3f} "
                          f"{z.mb_s:>7.1f} {z.p50_ms:>7.2f} {z.p99_ms:>7.2f} {z.requests / z.cpu:>9.0f}",
                          flush=True)  # fmt: skip
                    return z

                # nginx first: its cache folder is measured, because max_size is not a hard bound (zipf_run).
                g = zipf_row("nginx max_size", start_nginx(tmp, cache, origin.url), cache)
                # The same capacity: the most bytes either server may hold. The edge never holds more than
                # --cache-bytes; nginx held its peak, so the edge is also run with that as its bound.
                same = max(g.held_peak, cache)
                print(f"nginx held: peak {g.held_peak / 2**20:.1f} MiB, mean {g.held_steady / 2**20:.1f} MiB once at "
                      f"max_size ({cache / 2**20:.1f} MiB); the edge is also run with nginx's peak as its bound",
                      flush=True)  # fmt: skip
                for label, capacity, policy in (("edge lru", cache, "lru"), ("edge tinylfu", cache, "tinylfu"),
                                                ("edge tinylfu @nginx peak", same, "tinylfu")):  # fmt: skip
                    zipf_row(label, start_edge("edge", tmp, capacity, upstream=origin.url, policy=policy), capacity)
                e, l_, eq = zr["edge tinylfu"], zr["edge lru"], zr["edge tinylfu @nginx peak"]
                (rl, bl), (rt, bt) = (zipf_replay(paths, cache, admit=a) for a in (False, True))
                print(f"replayed one at a time through MemoryLRU at {cache / 2**20:.1f} MiB: lru {rl:.3f} / {bl:.3f}, "
                      f"tinylfu {rt:.3f} / {bt:.3f} (hit ratio / byte offload)", flush=True)  # fmt: skip
                print(f"tinylfu vs lru at {cache / 2**20:.1f} MiB: hit ratio {l_.hit_ratio:.3f} -> {e.hit_ratio:.3f}, "
                      f"offload {l_.byte_offload:.3f} -> {e.byte_offload:.3f}", flush=True)  # fmt: skip
                goals.append(("zipf: request hit ratio >= nginx at the same peak bytes",
                              f"{eq.hit_ratio:.3f} vs {g.hit_ratio:.3f} (edge at nginx's max_size: {e.hit_ratio:.3f})",
                              eq.hit_ratio >= g.hit_ratio and eq.ok == eq.requests))  # fmt: skip
                goals.append(("zipf: byte offload >= nginx at the same peak bytes",
                              f"{eq.byte_offload:.3f} vs {g.byte_offload:.3f} (edge at nginx's max_size: "
                              f"{e.byte_offload:.3f})", eq.byte_offload >= g.byte_offload))  # fmt: skip
            if "fault" in only:
                total, fault = (6.0, (2.0, 4.0)) if quick else (12.0, (4.0, 8.0))
                print(
                    f"== origin faults: {fault[0]:g}-{fault[1]:g} s of {total:g} s; warm objects 4 loops, "
                    "a new miss every 50 ms =="
                )
                print(f"{'server':<8} {'mode':<5} {'warm ok':>13} {'fault misses':>12} {'fail ok':>7} "
                      f"{'max s':>6} {'recovery s':>10}  statuses")  # fmt: skip
                edge = start_edge("edge", tmp, 256 << 20, upstream=origin.url)
                ngx = start_nginx(tmp, 1 << 30, origin.url)
                with running(edge, ngx):
                    fr: list[FaultRun] = []
                    for mode in ("down", "503", "hang"):
                        for srv in (edge, ngx):
                            f = asyncio.run(fault_run(srv, origin, mode, f"{mode}{srv.name}", total, fault))
                            fr.append(f)
                            print(f"{f.server:<8} {f.mode:<5} {f.warm_ok:>6}/{f.warm_total:<6} {f.misses_in_fault:>12} "
                                  f"{f.misses_fail_ok:>7} {f.miss_max_s:>6.2f} {f.recovery_s:>10.2f}  "
                                  f"{f.miss_statuses}", flush=True)  # fmt: skip
                for f in (f for f in fr if f.server == "edge"):
                    goals.append((f"origin {f.mode}: warm objects served", f"{f.warm_ok}/{f.warm_total}",
                                  f.warm_ok == f.warm_total))  # fmt: skip
                    goals.append((f"origin {f.mode}: misses 502/504 within {TIMEOUT:g} s",
                                  f"{f.misses_fail_ok}/{f.misses_in_fault}, max {f.miss_max_s:.2f} s",
                                  f.misses_fail_ok == f.misses_in_fault))  # fmt: skip
                    goals.append((f"origin {f.mode}: recovery <= {GOAL_RECOVERY_S:g} s", f"{f.recovery_s:.2f} s",
                                  f.recovery_s <= GOAL_RECOVERY_S))  # fmt: skip
        if "s3" in only:
            print("== the edge on the embedded SeaweedFS (signed S3) ==")
            s3 = s3_scenario(tmp, hit_s)
            h, w = s3["herd"], s3["hit"]
            print(
                f"herd: {h.origin_gets} S3 GET(s) for {h.n} requests, bodies {h.correct}/{h.n}, leader "
                f"{h.leader_ms:.1f} ms, waiters p99 {h.waiters_p99_ms:.1f} ms"
            )
            print(
                f"hit 50 KB: {w.requests / w.seconds:.0f} req/s, {w.per_cpu:.0f} req/CPU-s, {w.mb_s:.1f} MB/s, "
                f"p50 {w.p50_ms:.2f} ms, p99 {w.p99_ms:.2f} ms, errors {w.errors}",
                flush=True,
            )
            goals.append(("S3 origin: herd 1 GET, all bodies right", f"{h.origin_gets} GET, {h.correct}/{h.n}",
                          h.origin_gets == 1 and h.correct == h.n))  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("== goals ==")
    for what, figure, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {figure}")
    return 0 if all(ok for *_, ok in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
