"""Parity of the ABR player simulator with the Sabre reference simulator (``python -m bench.abr_parity``).

Reads ``../shared/abr-reference`` (the example trace and the 86 3G/HSDPA traces with Sabre's
``movie.json``, 25 s buffer) and runs our BOLA, BOLA-BASIC, BOLA-E, throughput, DYNAMIC and
DYNAMIC-DASH with the same network model and defaults (abandonment on, dual EWMA 3 s / 8 s, first
segment at the lowest bitrate). A trace matches when its time-average played bitrate is within 2 % of
``sabre_expected.csv`` and its rebuffer ratio within 0.005; the goal is >= 95 % of traces per config
for bola, bolae, throughput and dynamic. Prints per config the share within tolerance.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from player import abr as algorithms
from player.movie import load_sabre
from player.network import Network
from player.qoe import qoe
from player.session import Session
from player.trace import load

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "abr-reference"
GOAL_CONFIGS = ("bola", "bolae", "throughput", "dynamic")
BITRATE_TOL, REBUFFER_TOL, GOAL_SHARE = 0.02, 0.005, 0.95


def _case(args: tuple[str, str, str]) -> tuple[float, float]:
    config, movie_path, trace_path = args
    movie = load_sabre(movie_path)
    result = Session(movie, Network(load(trace_path)), algorithms.make(config), max_buffer=25.0).run()
    q = qoe(result)
    return q.time_average_bitrate_kbps, q.rebuffer_ratio


def parity(reference: Path = REFERENCE, *, workers: int = 2) -> dict[str, list[dict]]:
    """Per config, one row per trace: expected and simulated bitrate and rebuffer ratio, and a verdict."""
    rows = list(csv.DictReader((reference / "sabre_expected.csv").open()))
    movie = reference / "sabre_example" / "movie.json"
    jobs = []
    for r in rows:
        folder = "sabre_example" if r["set"] == "example" else "sabre_3g_hsdpa_traces"
        jobs.append((r["config"], str(movie), str(reference / folder / r["trace"])))
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_case, jobs, chunksize=8))
    out: dict[str, list[dict]] = defaultdict(list)
    for r, (bitrate, rebuffer) in zip(rows, results, strict=True):
        want_b = float(r["time average played bitrate"])
        want_r = float(r["rebuffer ratio"])
        ok = abs(bitrate - want_b) <= BITRATE_TOL * want_b and abs(rebuffer - want_r) <= REBUFFER_TOL
        out[r["config"]].append(
            {"set": r["set"], "trace": r["trace"], "bitrate": bitrate, "expected_bitrate": want_b,
             "rebuffer_ratio": rebuffer, "expected_rebuffer_ratio": want_r, "ok": ok}
        )  # fmt: skip
    return out


def report(out: dict[str, list[dict]]) -> bool:
    """Print the share within tolerance per config; return whether every goal config passed."""
    passed = True
    print(f"{'config':<12} {'traces':>6} {'within':>7} {'share':>7} {'max |Δbitrate|':>15} {'max |Δrebuf|':>13}  goal")
    for config, rows in out.items():
        share = sum(r["ok"] for r in rows) / len(rows)
        db = max(abs(r["bitrate"] / r["expected_bitrate"] - 1) for r in rows)
        dr = max(abs(r["rebuffer_ratio"] - r["expected_rebuffer_ratio"]) for r in rows)
        goal = config in GOAL_CONFIGS
        ok = share >= GOAL_SHARE
        passed &= ok or not goal
        verdict = ("PASS" if ok else "FAIL") if goal else "(info)"
        within = sum(r["ok"] for r in rows)
        print(f"{config:<12} {len(rows):>6} {within:>7} {share:>7.1%} {db:>15.2%} {dr:>13.4f}  {verdict}")
    return passed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--json", type=Path, help="write every row here")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    out = parity(args.reference, workers=args.workers)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0 if report(out) else 1


if __name__ == "__main__":
    sys.exit(main())
