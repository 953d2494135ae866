"""Live channel benchmark (``python -m bench.live [--quick] [--json]``).

One channel from the generated source (the issue's 2-rung ladder: 640x360 800 kb/s, 320x180 250 kb/s,
2 s segments of 0.5 s parts) runs in this process through ``flows.live.ChannelSupervisor`` (the same
supervisor ``vodflow live start`` runs in its own process) for 60 s (``--quick``) or 300 s, while two
HTTP clients follow it on the same clock:

- an LL-HLS follower: one blocking playlist reload per part (``_HLS_msn``/``_HLS_part`` of the part the
  preload hint names), then the part's bytes; it plays what it fetched in real time from the moment the
  first part arrived and counts a stall when its buffer runs dry;
- a plain-HLS follower on the same channel's plain playlist (no parts), polling every half target
  duration and fetching each new whole segment (the baseline).

Figures: ``encode_speed`` (media seconds per wall second over the run) and ``dropped_frames`` from the
encoder; ``blocking_reload_p50_ms``/``_p95_ms``: from the moment the supervisor's state saw a part (its
listener, this process's clock) to the held reload's answer reaching the follower; ``ll_hls_delivery_*``
and ``plain_hls_delivery_*``: from a part's (segment's) last media instant on the program date time clock
to its last byte at the follower, the least latency any player could have; ``stalls`` of the LL-HLS
follower. The browser latencies the issue names (hls.js, dash.js, Shaka Player in Chromium) are not
measured yet: their keys are printed as null. With ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import m3u8

from flows.live import ChannelConfig, ChannelSupervisor
from pipeline.live_ladder import parse_ladder

LADDER = "640x360@800k,320x180@250k"
RENDITION = "video-0"


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _parts(pl: m3u8.M3U8, uri: str) -> list:
    return [p for seg in pl.segments for p in seg.parts if p.uri == uri]


def _end_of_part(pl: m3u8.M3U8, uri: str, index: int) -> float | None:
    """The program-date-time instant (epoch s) at which part ``index`` of segment ``uri`` ends."""
    for seg in pl.segments:
        parts = [p for p in seg.parts if p.uri == uri]
        if parts and seg.program_date_time is not None and index < len(parts):
            return seg.program_date_time.timestamp() + sum(p.duration for p in parts[: index + 1])
    return None


class _Published:
    """When the supervisor's state first listed each (msn, part) of one rendition (this process's clock)."""

    def __init__(self, sup: ChannelSupervisor) -> None:
        self.sup = sup
        self.seen: dict[tuple[int, int], float] = {}

    def __call__(self) -> None:
        last = self.sup.state.last(RENDITION)
        if last is not None and last not in self.seen:
            self.seen[last] = time.time()


async def _ll_follower(
    session: aiohttp.ClientSession, url: str, until: float, published: _Published, out: dict
) -> None:
    reloads, delivery = out["reload_ms"], out["ll_delivery_s"]
    play_start: float | None = None  # wall time playback began (moved on by a stall)
    held = buffered = 0.0  # media seconds fetched before, and since, playback began
    stalls = 0
    async with session.get(url + f"{RENDITION}.m3u8") as r:
        pl = m3u8.loads(await r.text())
    hold_back = float(pl.server_control.part_hold_back or 3 * pl.part_inf.part_target)
    while time.time() < until:
        hint = pl.preload_hint
        if hint is None:
            async with session.get(url + f"{RENDITION}.m3u8") as r:
                pl = m3u8.loads(await r.text())
            continue
        msn = int(hint.uri.rsplit("-", 1)[1].split(".")[0])
        part = len(_parts(pl, hint.uri))
        async with session.get(url + f"{RENDITION}.m3u8", params={"_HLS_msn": msn, "_HLS_part": part}) as r:
            text = await r.text()
            answered = time.time()
            if r.status != 200:
                out["errors"] += 1
                continue
        pl = m3u8.loads(text)
        if (msn, part) in published.seen:
            reloads.append((answered - published.seen[(msn, part)]) * 1000)
        listed = _parts(pl, hint.uri)
        if len(listed) <= part:
            continue
        p = listed[part]
        start, length = (int(x) for x in reversed(p.byterange.strip('"').split("@"))) if p.byterange else (0, None)
        headers = {"Range": f"bytes={start}-{start + length - 1}"} if length else {}
        async with session.get(url + p.uri, headers=headers) as r:
            await r.read()
        got = time.time()
        end = _end_of_part(pl, hint.uri, part)
        if end is not None:
            delivery.append(got - end)
        # A player starts PART-HOLD-BACK behind the live edge (it waits for that much media), then plays in
        # real time; a part that lands after the playhead reached it is a stall (and playback resumes there).
        if play_start is None:
            held += p.duration
            if held >= hold_back:
                play_start, buffered = got, held
            continue
        if got - play_start > buffered:
            stalls += 1
            play_start = got - buffered
        buffered += p.duration
    out["stalls"] = stalls


async def _plain_follower(session: aiohttp.ClientSession, url: str, until: float, out: dict) -> None:
    seen: set[str] = set()
    first = True
    while time.time() < until:
        async with session.get(url + f"{RENDITION}-plain.m3u8") as r:
            pl = m3u8.loads(await r.text())
        for seg in pl.segments:
            if seg.uri in seen or seg.uri is None:
                continue
            seen.add(seg.uri)
            if first:
                continue  # what was there before we came is not a measure of delivery
            async with session.get(url + seg.uri) as r:
                await r.read()
            if seg.program_date_time is not None:
                out["plain_delivery_s"].append(time.time() - seg.program_date_time.timestamp() - seg.duration)
        first = False
        await asyncio.sleep(pl.target_duration / 2 if pl.target_duration else 1.0)


async def _run(seconds: float, out_dir: Path) -> dict:
    config = ChannelConfig(name="bench", source="testsrc", ladder=parse_ladder(LADDER))
    sup = ChannelSupervisor(out_dir, config)
    published = _Published(sup)
    sup.state.add_listener(published)
    task = asyncio.create_task(sup.run(handle_signals=False))
    while sup.url is None or sup.state.last(RENDITION) is None:
        if task.done():
            raise SystemExit(f"the channel did not start: {(out_dir / 'status.json').read_text()}")
        await asyncio.sleep(0.05)
    figures: dict = {"reload_ms": [], "ll_delivery_s": [], "plain_delivery_s": [], "errors": 0, "stalls": 0}
    started = time.time()
    until = started + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        await asyncio.gather(
            _ll_follower(session, sup.url, until, published, figures),
            _plain_follower(session, sup.url, until, figures),
        )
    stats = sup.encoder.stats() if sup.encoder else None
    sup.stopping.set()
    await task
    figures["stats"] = stats
    figures["runs"] = sup.runs
    figures["wall_s"] = time.time() - started
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 s instead of 300 s")
    ap.add_argument("--seconds", type=float, help="run this long instead")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = ap.parse_args()
    seconds = args.seconds or (60.0 if args.quick else 300.0)
    print(f"live channel {LADDER}, 2 s segments of 0.5 s parts, testsrc, {seconds:g} s ({datetime.now():%H:%M:%S})")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        f = asyncio.run(_run(seconds, Path(tmp)))
    st = f["stats"]
    result = {
        "encode_speed": round(st.speed_measured, 3) if st else None,
        "dropped_frames": st.dropped if st else None,
        "duplicated_frames": st.duplicated if st else None,
        "encoder_runs": f["runs"],
        "stalls": f["stalls"],
        "errors": f["errors"],
        "blocking_reload_p50_ms": _round(_pct(f["reload_ms"], 0.5), 1),
        "blocking_reload_p95_ms": _round(_pct(f["reload_ms"], 0.95), 1),
        "blocking_reloads": len(f["reload_ms"]),
        "ll_hls_delivery_p50_s": _round(_pct(f["ll_delivery_s"], 0.5), 3),
        "ll_hls_delivery_p95_s": _round(_pct(f["ll_delivery_s"], 0.95), 3),
        "plain_hls_delivery_p50_s": _round(_pct(f["plain_delivery_s"], 0.5), 3),
        # Player latencies in real browsers (hls.js lowLatencyMode, dash.js low latency, Shaka): not yet.
        "ll_hls_latency_p50_s": None,
        "ll_hls_latency_p95_s": None,
        "ll_dash_latency_p50_s": None,
        "ll_dash_latency_p95_s": None,
        "plain_hls_latency_p50_s": None,
    }
    print(f"  encoder: speed {result['encode_speed']}x, dropped {result['dropped_frames']}, runs {f['runs']}")
    print(
        f"  blocking reload (part seen -> held reload answered): p50 {result['blocking_reload_p50_ms']} ms,"
        f" p95 {result['blocking_reload_p95_ms']} ms over {len(f['reload_ms'])} reloads"
    )
    print(
        f"  delivery (media instant -> bytes at the client): LL-HLS part p50 {result['ll_hls_delivery_p50_s']} s"
        f" p95 {result['ll_hls_delivery_p95_s']} s; plain HLS segment p50 {result['plain_hls_delivery_p50_s']} s"
    )
    print(f"  LL-HLS follower stalls {f['stalls']}, HTTP errors {f['errors']}")
    if f["reload_ms"]:
        print(f"  (reload ms mean {statistics.mean(f['reload_ms']):.1f}, max {max(f['reload_ms']):.1f})")
    print("  browser latencies (hls.js, dash.js, Shaka Player): not measured yet (null in the JSON)")
    if args.json:
        print(json.dumps(result))


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None else round(v, digits)


if __name__ == "__main__":
    main()
