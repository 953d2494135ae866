"""What ``bench.edge``'s scenarios measure with: server CPU time under ``wrk``, timed fetches, the bench
origin's control and counters, percentiles, and the check that a body is the object asked for.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from dataclasses import dataclass

import aiohttp

from bench.edge_origin import body
from bench.edge_servers import LOAD_CPU, Proc, cpu_seconds

__all__ = [
    "HitRun", "body_ok", "fetch", "origin_ctl", "origin_stats", "pct", "seg", "session", "wrk",
]  # fmt: skip


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


def session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, force_close=False))


def seg(title: str, size: int, n: int) -> str:
    return f"/titles/{title}/s{size}/{n}.m4s"


def body_ok(path: str, status: int, data: bytes) -> bool:
    if status != 200:
        return False
    m = re.search(r"/s(\d+)/\d+\.m4s$", path)
    return data == body(path, int(m.group(1))) if m else data.startswith(path.encode() + b"\n")
