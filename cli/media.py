"""The media commands: ``probe``, ``qa``, ``encode``, ``ladder``, ``quality``, ``samples`` and ``tools``.

Argument handling and output only; the work is the stages' (``pipeline``, ``ladders``, ``samples``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ladders.fixed import fixed
from ladders.model import Ladder, LadderPolicy
from ladders.per_title import per_title
from ladders.plot import plot
from ladders.table import LADDER_HEADER, ladder_rows
from ladders.verify import encode_ladder
from pipeline.codecs import parse_codecs
from pipeline.encode import encode
from pipeline.probe import probe
from pipeline.qa import qa
from pipeline.quality import score
from pipeline.renditions import DEFAULT_AUDIO, ENCODE_RECORD
from pipeline.rung_spec import parse_rung
from samples import DEFAULT_DIR, SAMPLES, make_samples
from vodflow.errors import UsageError
from vodflow.tables import fmt, table
from vodflow.tools import versions

__all__ = ["cmd_encode", "cmd_ladder", "cmd_probe", "cmd_qa", "cmd_quality", "cmd_samples", "cmd_tools"]


def cmd_probe(args: argparse.Namespace) -> int:
    """Print what a media file holds; returns 0. Raises ``MediaError`` for a file that is not media."""
    info = probe(args.src)
    if args.json:
        print(info.to_json())
        return 0
    print(f"{info.path}: {info.container}, {fmt(info.duration)} s, {info.size_bytes} bytes")
    if v := info.video:
        hdr = v.colour.dynamic_range.upper()
        flags = [f for f, on in (("VFR", v.vfr), ("interlaced", v.interlaced), (hdr, hdr != "SDR")) if on]
        print(
            f"  video #{v.index}: {v.codec} {v.width}x{v.height} SAR {v.sar} {fmt(v.fps, 3)} fps "
            f"{v.pix_fmt} {v.bit_depth}-bit {' '.join(flags)}".rstrip()
        )
    for a in info.audio:
        print(f"  audio #{a.index}: {a.codec} {a.channels} ch {a.sample_rate} Hz [{a.language}]")
    for s in info.subtitles:
        print(f"  subtitle #{s.index}: {s.codec} [{s.language}]{' forced' if s.forced else ''}")
    return 0


def cmd_qa(args: argparse.Namespace) -> int:
    """Run the source QA checks and print them; returns 0. Raises ``QAFailed`` (exit 1) when a check fails."""
    report = qa(args.src, show_progress=not args.json)
    if args.json:
        print(report.to_json())
    else:
        rows = [
            (c.name, c.severity.upper(), c.value if c.value is not None else "-", c.unit, c.reason)
            for c in report.checks
        ]
        print(table(rows, ("check", "severity", "value", "unit", "reason")))
        print(f"{report.path}: QA {'passed' if report.passed else 'FAILED'} ({report.seconds:.1f} s)")
    report.raise_for_failure()  # the one-line reason goes to stderr, exit 1
    return 0


def _load_ladder(spec: str, src: str, codecs: list[str] | None):
    if spec == "fixed":
        info = probe(src)
        rungs = [r for c in codecs or ["h264"] for r in fixed(info, codec=c).rungs]
        return Ladder(source=str(src), kind="fixed", rungs=rungs)
    path = Path(spec)
    if not path.is_file():
        raise UsageError(f"{spec}: no such ladder file (give a ladder.json from `vodflow ladder`, or 'fixed')")
    try:
        return Ladder.load(path)
    except ValueError as exc:
        raise UsageError(f"{spec}: not a ladder file ({str(exc).splitlines()[0]})") from None


def _encode_rows(result) -> list[tuple]:
    rows = [
        (
            f.rendition.name,
            f"{f.width}x{f.height}",
            f.frames,
            fmt(f.duration),
            fmt(f.bitrate_kbps, 0),
            fmt(f.peak_bitrate_kbps, 0),
            fmt(f.encode_seconds, 1),
            Path(f.path).name,
        )
        for f in result.video
    ]
    rows += [
        (
            f"{f.rendition.codec} {f.rendition.bitrate_kbps}k",
            "audio",
            "",
            fmt(f.duration),
            fmt(f.bitrate_kbps, 0),
            "",
            fmt(f.encode_seconds, 1),
            Path(f.path).name,
        )
        for f in result.audio
    ]
    return rows


def cmd_encode(args: argparse.Namespace) -> int:
    """Encode rungs or a ladder and print the renditions; returns 0. Raises ``UsageError``, ``MediaError``."""
    if bool(args.rung) == bool(args.ladder):
        raise UsageError(
            "encode needs either --rung CODEC:WxH:RATE (repeatable) or --ladder ladder.json|fixed, not both"
        )
    codecs = parse_codecs(args.codecs) if args.codecs else None
    if args.ladder:
        ladder = _load_ladder(args.ladder, args.src, codecs)
        result, ladder = encode_ladder(
            args.src,
            ladder,
            args.out,
            codecs=codecs,
            audio=not args.no_audio,
            verify=not args.no_verify,
            subsample=args.every,
            show_progress=not args.json,
        )
        ladder.save(Path(args.out) / "ladder.json")
    else:
        rungs = [parse_rung(s) for s in args.rung]
        audio = () if args.no_audio else DEFAULT_AUDIO
        result = encode(args.src, rungs, args.out, audio=audio, show_progress=not args.json)
        ladder = None
    result.save(Path(args.out) / ENCODE_RECORD)
    if args.json:
        print(result.to_json() if ladder is None else ladder.to_json())
        return 0
    print(table(_encode_rows(result), ("rendition", "size", "frames", "dur s", "kb/s", "peak kb/s", "enc s", "file")))
    if ladder is not None:
        print()
        print(table(ladder_rows(ladder), LADDER_HEADER))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    """Build a per-title ladder (and its plots); returns 0. Raises ``UsageError``, ``MediaError``."""
    policy = LadderPolicy(target_vmaf=args.target, max_rungs=args.max_rungs)
    points, ladder = per_title(args.src, parse_codecs(args.codecs), policy, show_progress=not args.json)
    if args.out:
        ladder.save(args.out)
    if args.plot:
        plot_path = Path(args.plot)
        for codec in ladder.codecs:
            target = plot_path if len(ladder.codecs) == 1 else plot_path.with_stem(f"{plot_path.stem}_{codec}")
            plot(points, ladder, target, codec=codec)
    if args.json:
        print(ladder.to_json())
        return 0
    print(table(ladder_rows(ladder), LADDER_HEADER))
    print(
        f"{len(points.points)} probe points in {points.seconds:.1f} s" + (f"; ladder in {args.out}" if args.out else "")
    )
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    """Score a distorted file against its reference; returns 0. Raises ``MediaError``, ``ToolError``."""
    report = score(args.ref, args.dist, subsample=args.every, ssim=not args.no_ssim, show_progress=not args.json)
    if args.json:
        print(report.to_json())
        return 0
    v = report.vmaf
    print(f"{report.distorted} vs {report.reference} ({report.width}x{report.height}, model {v.model})")
    print(
        f"  VMAF  mean {v.mean:.2f}  harmonic {v.harmonic_mean:.2f}  p5 {v.p5:.2f}  min {v.min:.2f}"
        f"  ({v.frames} frames, every {v.subsample}, {v.fps:.1f} fps)"
    )
    if m := report.metrics:
        print(f"  SSIM  mean {m.ssim_mean:.4f}  min {m.ssim_min:.4f}")
        print(f"  PSNR  mean {m.psnr_mean:.2f} dB  min {m.psnr_min:.2f} dB")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    """Write the sample corpus and print its paths; returns 0. Raises ``UsageError`` for unknown names."""
    known = {s.name for s in SAMPLES}
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        raise UsageError(f"unknown sample {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    out = Path(args.out) if args.out else DEFAULT_DIR
    paths = make_samples(out, tiny=args.tiny, names=args.only, force=args.force, show_progress=not args.json)
    if args.json:
        print(json.dumps([str(p) for p in paths], indent=2))
    else:
        for p in paths:
            print(p)
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    """Print the bundled binaries with their versions; returns 0. Raises ``ToolError`` when one is missing."""
    found = versions()
    if args.json:
        print(
            json.dumps(
                {k: {"version": i.version, "path": str(i.path), "package": i.package} for k, i in found.items()},
                indent=2,
            )
        )
    else:
        print(
            table([(k, i.version, i.package, i.path) for k, i in found.items()], ("tool", "version", "package", "path"))
        )
    return 0
