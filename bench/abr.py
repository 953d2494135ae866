"""ABR benchmark (``python -m bench.abr``; ``--parity`` runs ``bench.abr_parity`` instead).

The BBB sample is encoded with a per-title ladder (``vodflow ladder``) and with the fixed reference
ladder, each packaged (2 s segments) with its per-segment VMAF sidecar, published to an embedded
SeaweedFS of its own and served by the edge (in this process, tokens off). Every algorithm then plays
10-minute sessions (the 5 s title loops) from the edge, every byte fetched, over the traces of each
training set in ``../shared/traces``. Prints per set, ladder and algorithm: mean QoE_lin, rebuffer
ratio, share of sessions with a stall, time-average bitrate and VMAF, median startup, bytes; then
the goals with their figures and PASS/FAIL:

- per set: quality-aware QoE_lin >= 1.1 x robust MPC's and >= BOLA-E's, with a rebuffer ratio no
  higher than the best of the two (per-title ladder);
- median startup <= 2 s on every set whose mean throughput is >= 1 Mb/s (every algorithm);
- per set and algorithm: per-title ladder VMAF >= fixed ladder's with >= 30 % fewer bytes;
- simulation speed >= 200 x real time for a 10-minute session with the segments in the edge's cache.

Trace subset: ``--traces N`` (default 6) takes N traces per set, evenly spaced through the set sorted
by name (deterministic); ``--traces 0`` takes every trace. Encodes and packages are kept in ``--work``
(default ``out/bench-abr``) and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from flows.cli import main as vodflow
from origin.config import S3Location
from origin.edge.server import EdgeConfig, make_app
from origin.edge.upstream import S3Upstream
from origin.player.client import EdgeClient
from origin.player.manifest import open_title
from origin.player.play import load_traces, play_edge
from origin.player.qoe import QoE, qoe, summarise
from origin.player.trace import Trace
from origin.publish import publish
from origin.seaweed import Seaweed
from packager.sidecar import write_sidecar
from samples import DEFAULT_DIR, make_samples

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"
SETS = ("fcc16_pensieve", "fcc18", "lumos4g", "norway3g_hsdpa", "oboe")
ALGORITHMS = ("throughput", "bba", "bola", "bolae", "dynamic", "mpc", "quality")
LADDERS = ("per_title", "fixed")
SESSION_S = 600.0


def build(work: Path, ladder: str) -> Path:
    """The packaged BBB title for ``ladder`` (per_title or fixed), with its sidecar; reused when present."""
    src = DEFAULT_DIR / "bbb.mp4"
    if not src.exists():
        make_samples(DEFAULT_DIR, show_progress=False)
    pkg = work / ladder / "package"
    if (pkg / "quality.json").exists():
        return pkg
    enc = work / ladder / "renditions"
    spec = "fixed"
    if ladder == "per_title":
        spec = str(work / ladder / "ladder.json")
        if not Path(spec).exists():
            _run(["ladder", str(src), "--out", spec])
    if not (enc / "encode.json").exists():
        _run(["encode", str(src), "--ladder", spec, "--out", str(enc), "--no-audio", "--no-verify"])
    _run(["package", str(enc), "--out", str(pkg), "--segment-seconds", "2", "--title", "bbb"])
    write_sidecar(pkg, src, subsample=1)
    return pkg


def _run(argv: list[str]) -> None:
    rc = vodflow(argv)
    if rc:
        raise SystemExit(f"vodflow {' '.join(argv)} failed ({rc})")


@contextmanager
def served(packages: dict[str, Path], state: Path) -> Iterator[str]:
    """Publish each package as its own title on a private SeaweedFS and serve them with an open edge."""
    sw = Seaweed(state)
    sw.up()
    try:
        origin = sw.origin(S3Location(bucket=sw.bucket, prefix=f"bench/{uuid.uuid4().hex[:8]}"))
        for name, pkg in packages.items():
            publish(pkg, name, origin)
        config = EdgeConfig(upstream=S3Upstream.from_origin(origin), require_tokens=False)
        loop = asyncio.new_event_loop()
        box: dict[str, str] = {}
        started, stop = threading.Event(), asyncio.Event()

        async def main() -> None:
            runner = web.AppRunner(make_app(config))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            box["url"] = f"http://{host}:{port}"
            started.set()
            await stop.wait()
            await runner.cleanup()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        if not started.wait(30):
            raise SystemExit("the edge did not start")
        try:
            yield box["url"]
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
    finally:
        sw.down()


def subset(traces: list[Trace], n: int) -> list[Trace]:
    """``n`` traces evenly spaced through ``traces`` (all when ``n`` is 0 or more than there are)."""
    if n <= 0 or n >= len(traces):
        return traces
    return [traces[round(i * (len(traces) - 1) / max(n - 1, 1))] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parity", action="store_true", help="run the Sabre parity check instead")
    ap.add_argument("--traces", type=int, default=6, help="traces per set, evenly spaced (0 = all; default 6)")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS))
    ap.add_argument("--work", type=Path, default=Path("out/bench-abr"))
    args = ap.parse_args(argv)
    if args.parity:
        from bench.abr_parity import main as parity

        return parity([])
    args.work.mkdir(parents=True, exist_ok=True)
    packages = {f"bbb-{name}": build(args.work, name) for name in LADDERS}
    algorithms = args.algorithms.split(",")
    sets = args.sets.split(",")
    failures = 0
    with served(packages, args.work / "origin") as base:
        client = EdgeClient()
        titles = {n: open_title(f"{base}/titles/bbb-{n}/master.m3u8", client) for n in LADDERS}
        for n, t in titles.items():
            m = t.movie
            rates = [round(b / 1000) for b in m.bitrates]
            side = "yes" if m.vmaf else "NO"
            print(f"{n}: {len(rates)} renditions {rates} kb/s, {m.segments} x {m.segment_duration:g} s, sidecar {side}")

        # simulation speed: one 10-minute session with every segment already cached at the edge
        steady = load_traces(TRACES / "fcc18" / "train")[:1]
        play_edge("", steady, "bolae", client=client, title=titles["per_title"], session_s=SESSION_S)
        t0 = time.perf_counter()
        play_edge("", steady, "bolae", client=client, title=titles["per_title"], session_s=SESSION_S)
        speed = SESSION_S / (time.perf_counter() - t0)

        results: dict[tuple[str, str, str], list[QoE]] = {}
        means: dict[str, float] = {}
        for s in sets:
            traces = subset(load_traces(TRACES / s / "train"), args.traces)
            means[s] = statistics.fmean(t.mean_bandwidth for t in traces)
            print(f"\n== {s}: {len(traces)} traces (of {len(list((TRACES / s / 'train').iterdir()))}), "
                  f"mean throughput {means[s] / 1e6:.2f} Mb/s")  # fmt: skip
            print(f"{'ladder':<10} {'abr':<11} {'QoE_lin':>8} {'rebuf':>7} {'stall%':>6} {'kb/s':>6} {'VMAF':>5} "
                  f"{'startup':>7} {'MB':>6}")  # fmt: skip
            for lad in LADDERS:
                for a in algorithms:
                    rs = play_edge("", traces, a, client=client, title=titles[lad], session_s=SESSION_S)
                    recs = [qoe(r) for r in rs]
                    results[s, lad, a] = recs
                    m = summarise(recs)
                    print(f"{lad:<10} {a:<11} {m.qoe_lin:8.3f} {m.rebuffer_ratio:7.4f} {100 * m.stall_share:6.0f} "
                          f"{m.time_average_bitrate_kbps:6.0f} {m.time_average_vmaf or 0:5.1f} "
                          f"{m.median_startup_s:7.2f} {m.bytes_downloaded / 1e6:6.1f}")  # fmt: skip

    print("\n== goals")

    def verdict(ok: bool) -> str:
        nonlocal failures
        failures += not ok
        return "PASS" if ok else "FAIL"

    for s in sets:
        if not {"quality", "mpc", "bolae"} <= set(algorithms):
            break
        q, mpc, be = (summarise(results[s, "per_title", a]) for a in ("quality", "mpc", "bolae"))
        ok = q.qoe_lin >= 1.1 * mpc.qoe_lin and q.qoe_lin >= be.qoe_lin
        ok &= q.rebuffer_ratio <= min(mpc.rebuffer_ratio, be.rebuffer_ratio) + 1e-12
        ratio = q.qoe_lin / mpc.qoe_lin if mpc.qoe_lin else float("inf")
        print(f"{s:<16} quality-aware QoE_lin {q.qoe_lin:.3f} vs MPC {mpc.qoe_lin:.3f} (x{ratio:.2f}) "
              f"and BOLA-E {be.qoe_lin:.3f}; rebuffer {q.rebuffer_ratio:.4f} vs best "
              f"{min(mpc.rebuffer_ratio, be.rebuffer_ratio):.4f}  {verdict(ok)}")  # fmt: skip
    for s in sets:
        if means[s] < 1e6:
            print(f"{s:<16} median startup: mean throughput {means[s] / 1e6:.2f} Mb/s < 1 Mb/s, goal does not apply")
            continue
        worst = max(summarise(results[s, lad, a]).median_startup_s for lad in LADDERS for a in algorithms)
        print(f"{s:<16} median startup, worst algorithm/ladder {worst:.2f} s (goal <= 2 s)  {verdict(worst <= 2.0)}")
    for s in sets:
        for a in algorithms:
            pt, fx = summarise(results[s, "per_title", a]), summarise(results[s, "fixed", a])
            saving = 1 - pt.bytes_downloaded / fx.bytes_downloaded
            ok = (pt.time_average_vmaf or 0) >= (fx.time_average_vmaf or 0) and saving >= 0.30
            print(f"{s:<16} {a:<11} per-title VMAF {pt.time_average_vmaf:.1f} vs fixed {fx.time_average_vmaf:.1f}, "
                  f"bytes {-saving:+.0%}  {verdict(ok)}")  # fmt: skip
    print(f"simulation speed: {speed:.0f}x real time for a 10-minute session from the edge cache (goal >= 200)  "
          f"{verdict(speed >= 200)}")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
