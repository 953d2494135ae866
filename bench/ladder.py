"""Per-title ladders against the fixed reference ladder, run by hand (``python -m bench.ladder``).

For every sample title, a 60 s title joined from them, and any file given on the command line:
analyse (H.264), choose the per-title ladder, encode and score in full both it and the fixed ladder,
then print per title: top-rung bitrate and VMAF of each, bits saved at the top, bits saved rung by
rung at equal VMAF (interpolated on the measured per-title rungs), total ladder bitrate of each,
BD-rate, analysis seconds / final ladder encode seconds, and predicted vs measured rung VMAF.
Then the same for AV1 (SVT-AV1), against the H.264 per-title ladder.

Goals (issue 3): top-rung bits saved >= 50 % on average with the per-title top VMAF within 1 point
of its target; no title where the per-title ladder needs more bits than the fixed one at any fixed
rung's quality; analysis <= 1.0x the final ladder's encode time on the >= 60 s title; predicted rung
VMAF within 2 points of the measured one. Every figure comes from this run; nothing is remembered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ladders.analyze import analyze
from ladders.bdrate import bd_rate, savings_per_rung, top_saving
from ladders.errors import CurveError
from ladders.fixed import fixed
from ladders.model import Ladder, LadderPolicy
from ladders.plot import plot
from ladders.policy import AnalysisPolicy
from ladders.select import select
from ladders.verify import encode_ladder, measure
from pipeline.probe import probe
from samples import DEFAULT_DIR, make_long_title, make_samples

TOP_TOLERANCE = 1.0
PREDICTION_TOLERANCE = 2.0
GOAL_TOP_SAVING = 0.50
GOAL_ANALYSIS_RATIO = 1.0


@dataclass
class Outcome:
    title: str
    duration: float
    per_title: Ladder
    fixed: Ladder | None
    analysis_s: float
    encode_s: float
    analysis_cpu: float = 0.0  # CPU seconds of the child processes (ffmpeg), robust to other load
    encode_cpu: float = 0.0

    @property
    def ratio(self) -> float:
        return self.analysis_s / self.encode_s

    @property
    def cpu_ratio(self) -> float:
        return self.analysis_cpu / self.encode_cpu if self.encode_cpu else float("nan")

    @property
    def prediction_errors(self) -> list[float]:
        return [r.measured_vmaf - r.predicted_vmaf for r in self.per_title.rungs]


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process so far (each ffmpeg is waited for).

    Wall time is the goal's measure; the CPU ratio is printed beside it because other work on a shared
    2-core machine stretches whichever phase it overlaps, not both alike."""
    t = os.times()
    return t.children_user + t.children_system


def _curve(ladder: Ladder) -> list[tuple[float, float]]:
    return [(r.measured_kbps, r.measured_vmaf) for r in ladder.rungs]


def _rungs_text(ladder: Ladder) -> str:
    return "  ".join(
        f"{r.height}p {r.measured_kbps:.0f}k/{r.measured_vmaf:.1f}"
        + (f" (pred {r.bitrate_kbps:.0f}k/{r.predicted_vmaf:.1f})" if r.predicted_vmaf is not None else "")
        for r in ladder.rungs
    )


def run_codec(src: Path, work: Path, codec: str, policy: LadderPolicy, *, every: int, cache: Path) -> Outcome:
    """Analyse, select, encode and measure one codec's per-title ladder (and H.264's fixed ladder)."""
    codecs = ["h264"] if codec == "h264" else ["h264", codec]
    started, cpu = time.monotonic(), _children_cpu()
    points = analyze(src, codecs, AnalysisPolicy().aiming(policy.target_vmaf), cache=cache, show_progress=False)
    analysis_s, analysis_cpu = time.monotonic() - started, _children_cpu() - cpu
    ladder = select(points, policy, codecs=codecs)
    started, cpu = time.monotonic(), _children_cpu()
    result, ladder = encode_ladder(
        src, ladder, work / f"pt_{codec}", codecs=[codec], audio=False, verify=False, show_progress=False
    )
    encode_s, encode_cpu = time.monotonic() - started, _children_cpu() - cpu
    ladder = measure(src, ladder, result, subsample=every, show_progress=False)
    fixed_ladder = None
    if codec == "h264":
        ref = fixed(probe(src), codec="h264")
        res, _ = encode_ladder(src, ref, work / "fixed", audio=False, verify=False, show_progress=False)
        fixed_ladder = measure(src, ref, res, subsample=every, show_progress=False)
    plot(points, ladder, work / f"{src.stem}_{codec}.png", fixed=fixed_ladder, codec=codec)
    return Outcome(
        src.stem, probe(src).duration or 0.0, ladder, fixed_ladder, analysis_s, encode_s, analysis_cpu, encode_cpu
    )


def report_h264(o: Outcome, target: float) -> dict[str, float | bool | None]:
    pt, fx = o.per_title, o.fixed
    assert fx is not None
    pt_top, fx_top = pt.rungs[-1], fx.rungs[-1]
    # The top rungs are compared at the per-title top's measured quality when that lands a hair under
    # the target (94.96 for 95): whether it is close enough is the separate "within 1 point" check.
    top = top_saving(_curve(fx), _curve(pt), min(target, pt_top.measured_vmaf))
    rungs = savings_per_rung(_curve(fx), _curve(pt))
    bd = bd_rate(_curve(fx), _curve(pt))
    print(f"\n== {o.title} ({o.duration:.1f} s), H.264")
    print(
        f"  fixed      top {fx_top.height}p {fx_top.measured_kbps:.0f} kb/s VMAF {fx_top.measured_vmaf:.2f};"
        f" total {sum(r.measured_kbps for r in fx.rungs):.0f} kb/s over {len(fx.rungs)} rungs"
    )
    print(
        f"  per-title  top {pt_top.height}p {pt_top.measured_kbps:.0f} kb/s VMAF {pt_top.measured_vmaf:.2f};"
        f" total {sum(r.measured_kbps for r in pt.rungs):.0f} kb/s over {len(pt.rungs)} rungs"
    )
    print(f"  per-title rungs: {_rungs_text(pt)}")
    print(f"  fixed rungs:     {_rungs_text(fx)}")
    saved = "n/a" if top.saving is None else f"{top.saving * 100:.1f} %"
    print(f"  bits saved at the top (VMAF {top.vmaf:.2f}): {saved}")
    for r in rungs:
        s = (
            "above the per-title top"
            if r.saving is None
            else f"{r.saving * 100:+.1f} %" + (" (bound)" if r.clamped else "")
        )
        print(f"    fixed rung {r.reference_kbps:.0f} kb/s at VMAF {r.vmaf:.2f}: per-title saves {s}")
    print(f"  BD-rate per-title vs fixed: {bd:+.1f} %")
    print(
        f"  analysis {o.analysis_s:.1f} s / final encode {o.encode_s:.1f} s = {o.ratio:.2f}"
        f" (CPU {o.analysis_cpu:.0f} s / {o.encode_cpu:.0f} s = {o.cpu_ratio:.2f})"
    )
    errs = o.prediction_errors
    each = ", ".join(f"{e:+.2f}" for e in errs)
    print(f"  measured - predicted VMAF per rung: {each} (max |error| {max(abs(e) for e in errs):.2f})")
    reachable = pt_top.predicted_vmaf is not None and pt_top.predicted_vmaf >= target - TOP_TOLERANCE
    return {
        "top_saving": top.saving,
        "top_ok": (not reachable) or abs(pt_top.measured_vmaf - target) <= TOP_TOLERANCE,
        # A fixed rung above the per-title top (which stops at the target on purpose) has no per-title
        # counterpart to compare; every rung the per-title ladder does reach must cost no more bits.
        "never_worse": all(r.saving >= 0 for r in rungs if r.saving is not None)
        and all(r.vmaf > pt_top.measured_vmaf for r in rungs if r.saving is None),
        "max_error": max(abs(e) for e in errs),
        "ratio": o.ratio,
        "cpu_ratio": o.cpu_ratio,
    }


def report_codec(o: Outcome, h264: Outcome, target: float) -> None:
    pt, ref = o.per_title, h264.per_title
    print(f"\n== {o.title}: {o.per_title.rungs[0].codec.upper()} per-title vs H.264 per-title")
    print(f"  rungs: {_rungs_text(pt)}")
    top = top_saving(_curve(ref), _curve(pt), min(target, pt.rungs[-1].measured_vmaf))
    saved = "n/a" if top.saving is None else f"{top.saving * 100:.1f} %"
    print(f"  bits saved at the top (VMAF {top.vmaf:.2f}): {saved}")
    try:
        print(f"  BD-rate vs H.264 per-title: {bd_rate(_curve(ref), _curve(pt)):+.1f} %")
    except CurveError as exc:
        print(f"  BD-rate vs H.264 per-title: not computable ({exc})")
    errs = o.prediction_errors
    print(
        f"  analysis {o.analysis_s:.1f} s (H.264 points cached) / encode {o.encode_s:.1f} s;"
        f" max |VMAF error| {max(abs(e) for e in errs):.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path, help="more titles to run")
    ap.add_argument("--every", type=int, default=1, help="score every Nth frame (default 1: in full)")
    ap.add_argument("--only", action="append", help="only these sample names (pan, testsrc2, grain, bbb, long)")
    ap.add_argument("--codecs", default="h264,av1", help="h264 first, then others against it (default h264,av1)")
    ap.add_argument("--target", type=float, default=95.0)
    ap.add_argument("--keep", type=Path, help="keep outputs and plots here instead of a temp folder")
    ap.add_argument(
        "--quick", action="store_true", help="two short titles (pan, bbb), H.264 only, VMAF every 4th frame"
    )
    args = ap.parse_args()
    if args.quick:  # a development check of the whole path, minutes not an hour; the goals need the full run
        args.only, args.codecs, args.every = args.only or ["pan", "bbb"], "h264", max(args.every, 4)

    titles = [p for p in make_samples(DEFAULT_DIR) if not args.only or p.stem in args.only]
    if not args.only or "long" in args.only:
        titles.append(make_long_title(DEFAULT_DIR))
    titles += args.files
    codecs = [c.strip() for c in args.codecs.split(",")]
    policy = LadderPolicy(target_vmaf=args.target)
    print(f"{len(titles)} titles, codecs {', '.join(codecs)}, VMAF every {args.every} frame(s), {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory(prefix="bench-ladder-") as tmp:
        root = args.keep or Path(tmp)
        h264: dict[str, Outcome] = {}
        figures = {}
        for src in titles:
            work = root / src.stem
            cache = work / "cache"  # a fresh cache: analysis time is real, not a cache hit
            h264[src.stem] = run_codec(src, work, "h264", policy, every=args.every, cache=cache)
            figures[src.stem] = report_h264(h264[src.stem], args.target)
            for codec in codecs[1:]:
                o = run_codec(src, work, codec, policy, every=args.every, cache=cache)
                report_codec(o, h264[src.stem], args.target)

        print("\n== summary (H.264)")
        savings = [f["top_saving"] for f in figures.values() if f["top_saving"] is not None]
        mean_saving = statistics.mean(savings) if savings else float("nan")
        print(
            f"  top-rung bits saved, mean over {len(savings)} titles: {mean_saving * 100:.1f} %"
            f" (goal >= {GOAL_TOP_SAVING * 100:.0f} %)"
        )
        print(
            f"  top VMAF within {TOP_TOLERANCE} of target: "
            + ", ".join(f"{t} {'yes' if f['top_ok'] else 'NO'}" for t, f in figures.items())
        )
        print(
            "  never more bits than fixed at a fixed rung's quality: "
            + ", ".join(f"{t} {'yes' if f['never_worse'] else 'NO'}" for t, f in figures.items())
        )
        print(
            "  analysis / final encode: "
            + ", ".join(f"{t} {f['ratio']:.2f} (CPU {f['cpu_ratio']:.2f})" for t, f in figures.items())
            + f" (goal <= {GOAL_ANALYSIS_RATIO} on the >= 60 s title)"
        )
        print(
            "  max |predicted - measured VMAF|: "
            + ", ".join(f"{t} {f['max_error']:.2f}" for t, f in figures.items())
            + f" (goal <= {PREDICTION_TOLERANCE})"
        )
        if args.keep:
            print(f"  outputs and plots in {root}")


if __name__ == "__main__":
    main()
