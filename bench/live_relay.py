"""The edge in front of a live channel (``python -m bench.live_relay [--quick] [--players N] [--json]``).

One channel from the generated source (the issue's 2-rung ladder, 2 s segments of 0.5 s parts) runs in
this process (``flows.live.ChannelSupervisor``); N followers each hold a blocking playlist reload for the
next part, then fetch that part, for the whole run: first straight from the channel's packager (the
baseline), then through an edge relaying to it (``edge.live_relay``, what ``vodflow edge --live-dir``
mounts), for the same time each.

Figures: packager requests per player request through the edge (1/N is perfect coalescing; 1.0 would
be none), and the held reload's delay from the moment the channel's state saw the part (its listener,
this process's clock) to the follower having the answer, p50/p95, straight and through the edge. With
``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
import m3u8
from aiohttp import web

from edge.app import make_app
from edge.live_relay import LIVE_RELAY_KEY
from edge.server import EdgeConfig
from edge.upstream import HttpUpstream
from flows.live import ChannelConfig, ChannelSupervisor
from pipeline.live_ladder import parse_ladder

LADDER = "640x360@800k,320x180@250k"
RENDITION = "video-0"


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, round(q * (len(values) - 1)))], 1)


async def _follow(s: aiohttp.ClientSession, base: str, until: float, seen: dict, delays: list[float]) -> int:
    """Hold a reload for each next part and fetch it, until ``until``; returns the requests made."""
    requests = 1
    async with s.get(base + f"{RENDITION}.m3u8") as r:
        pl = m3u8.loads(await r.text())
    while time.time() < until:
        hint = pl.preload_hint
        msn = int(hint.uri.rsplit("-", 1)[1].split(".")[0])
        part = sum(1 for seg in pl.segments for p in seg.parts if p.uri == hint.uri)
        async with s.get(base + f"{RENDITION}.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}) as r:
            text = await r.text()
        got = time.time()
        requests += 1
        if r.status != 200:
            continue
        if (msn, part) in seen:
            delays.append((got - seen[(msn, part)]) * 1000)
        pl = m3u8.loads(text)
        listed = [p for seg in pl.segments for p in seg.parts if p.uri == hint.uri]
        if len(listed) > part and listed[part].byterange:
            length, start = (int(x) for x in listed[part].byterange.strip('"').split("@"))
            async with s.get(base + hint.uri, headers={"Range": f"bytes={start}-{start + length - 1}"}) as r:
                await r.read()
            requests += 1
    return requests


async def _phase(base: str, players: int, seconds: float, seen: dict) -> tuple[int, list[float]]:
    delays: list[float] = []
    until = time.time() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15)) as s:
        counts = await asyncio.gather(*(_follow(s, base, until, seen, delays) for _ in range(players)))
    return sum(counts), delays


async def _run(seconds: float, players: int, live: Path) -> dict:
    config = ChannelConfig(name="bench", source="testsrc", ladder=parse_ladder(LADDER), archive=False, publish=False)
    sup = ChannelSupervisor(live / config.name, config)
    (live / config.name).mkdir(parents=True)
    seen: dict[tuple[int, int], float] = {}

    def listened() -> None:
        last = sup.state.last(RENDITION)
        if last is not None and last not in seen:
            seen[last] = time.time()

    sup.state.add_listener(listened)
    task = asyncio.create_task(sup.run(handle_signals=False))
    while sup.url is None or sup.state.last(RENDITION) is None or not (live / "bench" / "status.json").is_file():
        if task.done():
            raise SystemExit(f"the channel did not start: {(live / 'bench' / 'status.json').read_text()}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # the status file says "live" by now
    app = make_app(EdgeConfig(upstream=HttpUpstream("http://127.0.0.1:9"), require_tokens=False, live_dir=live))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    edge = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/live/bench/"  # type: ignore[union-attr]
    try:
        direct_requests, direct = await _phase(sup.url, players, seconds / 2, seen)
        relay = app[LIVE_RELAY_KEY]
        before = relay.upstream_requests
        relayed_requests, relayed = await _phase(edge, players, seconds / 2, seen)
        upstream = relay.upstream_requests - before
    finally:
        await runner.cleanup()
        sup.stopping.set()
        await task
    return {
        "players": players,
        "player_requests": relayed_requests,
        "packager_requests": upstream,
        "packager_per_player_request": round(upstream / relayed_requests, 4) if relayed_requests else None,
        "direct_requests": direct_requests,
        "reload_direct_p50_ms": _pct(direct, 0.5),
        "reload_direct_p95_ms": _pct(direct, 0.95),
        "reload_edge_p50_ms": _pct(relayed, 0.5),
        "reload_edge_p95_ms": _pct(relayed, 0.95),
        "reloads_direct": len(direct),
        "reloads_edge": len(relayed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="40 s instead of 120 s")
    ap.add_argument("--players", type=int, default=20, help="followers (default 20)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = ap.parse_args()
    seconds = 40.0 if args.quick else 120.0
    half = seconds / 2
    print(f"live relay: {args.players} followers, {half:g} s straight from the packager, {half:g} s via the edge")
    with tempfile.TemporaryDirectory(prefix="bench-live-relay-") as tmp:
        f = asyncio.run(_run(seconds, args.players, Path(tmp)))
    print(
        f"  through the edge: {f['packager_requests']} packager requests for {f['player_requests']} player requests"
        f" ({f['packager_per_player_request']}; 1/{args.players} = {1 / args.players:.4f} is one per distinct URL)"
    )
    print(
        f"  held reload (part seen -> answer at the player): straight p50 {f['reload_direct_p50_ms']} ms"
        f" p95 {f['reload_direct_p95_ms']} ms; via the edge p50 {f['reload_edge_p50_ms']} ms"
        f" p95 {f['reload_edge_p95_ms']} ms"
    )
    if args.json:
        print(json.dumps(f))


if __name__ == "__main__":
    main()
