"""The ``vodflow`` command line: parses arguments and calls stages; no media logic of its own.

Exit codes: 0 success, 1 the media failed (QA failure, decode error, unreadable file), 2 usage or
environment error. Every ``VodflowError`` is printed as one line on stderr; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cli.tables import fmt as _fmt
from cli.tables import table as _table
from pipeline.codecs import parse_codecs
from vodflow.errors import UsageError, VodflowError

__all__ = ["main"]

log = logging.getLogger("vodflow.cli")


# --- commands ---------------------------------------------------------------------------------------


def cmd_probe(args: argparse.Namespace) -> int:
    from pipeline.probe import probe

    info = probe(args.src)
    if args.json:
        print(info.to_json())
        return 0
    print(f"{info.path}: {info.container}, {_fmt(info.duration)} s, {info.size_bytes} bytes")
    if v := info.video:
        flags = [f for f, on in (("VFR", v.vfr), ("interlaced", v.interlaced), (v.hdr.upper(), v.hdr != "sdr")) if on]
        print(
            f"  video #{v.index}: {v.codec} {v.width}x{v.height} SAR {v.sar} {_fmt(v.fps, 3)} fps "
            f"{v.pix_fmt} {v.bit_depth}-bit {' '.join(flags)}".rstrip()
        )
    for a in info.audio:
        print(f"  audio #{a.index}: {a.codec} {a.channels} ch {a.sample_rate} Hz [{a.language}]")
    for s in info.subtitles:
        print(f"  subtitle #{s.index}: {s.codec} [{s.language}]{' forced' if s.forced else ''}")
    return 0


def cmd_qa(args: argparse.Namespace) -> int:
    from pipeline.qa import qa

    report = qa(args.src, show_progress=not args.json)
    if args.json:
        print(report.to_json())
    else:
        rows = [
            (c.name, c.severity.upper(), c.value if c.value is not None else "-", c.unit, c.reason)
            for c in report.checks
        ]
        print(_table(rows, ("check", "severity", "value", "unit", "reason")))
        print(f"{report.path}: QA {'passed' if report.passed else 'FAILED'} ({report.seconds:.1f} s)")
    report.raise_for_failure()  # the one-line reason goes to stderr, exit 1
    return 0


def _load_ladder(spec: str, src: str, codecs: list[str] | None):
    from ladders.fixed import fixed
    from ladders.model import Ladder
    from pipeline.probe import probe

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
            _fmt(f.duration),
            _fmt(f.bitrate_kbps, 0),
            _fmt(f.peak_bitrate_kbps, 0),
            _fmt(f.encode_seconds, 1),
            Path(f.path).name,
        )
        for f in result.video
    ]
    rows += [
        (
            f"{f.rendition.codec} {f.rendition.bitrate_kbps}k",
            "audio",
            "",
            _fmt(f.duration),
            _fmt(f.bitrate_kbps, 0),
            "",
            _fmt(f.encode_seconds, 1),
            Path(f.path).name,
        )
        for f in result.audio
    ]
    return rows


def _ladder_rows(ladder) -> list[tuple]:
    return [
        (
            r.codec,
            f"{r.width}x{r.height}",
            r.rate.crf if r.rate.crf is not None else "-",
            r.rate.maxrate_kbps or "-",
            _fmt(r.bitrate_kbps, 0),
            _fmt(r.predicted_vmaf),
            _fmt(r.measured_kbps, 0),
            _fmt(r.measured_vmaf),
        )
        for r in ladder.rungs
    ]


_LADDER_HEADER = ("codec", "size", "crf", "max kb/s", "kb/s", "VMAF", "measured kb/s", "measured VMAF")


def cmd_encode(args: argparse.Namespace) -> int:
    from pipeline.encode import DEFAULT_AUDIO, encode, parse_rung

    if bool(args.rung) == bool(args.ladder):
        raise UsageError(
            "encode needs either --rung CODEC:WxH:RATE (repeatable) or --ladder ladder.json|fixed, not both"
        )
    codecs = parse_codecs(args.codecs) if args.codecs else None
    if args.ladder:
        from ladders.verify import encode_ladder

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
    result.save(Path(args.out) / "encode.json")
    if args.json:
        print(result.to_json() if ladder is None else ladder.to_json())
        return 0
    print(_table(_encode_rows(result), ("rendition", "size", "frames", "dur s", "kb/s", "peak kb/s", "enc s", "file")))
    if ladder is not None:
        print()
        print(_table(_ladder_rows(ladder), _LADDER_HEADER))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    from ladders.model import LadderPolicy
    from ladders.per_title import per_title
    from ladders.plot import plot

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
    print(_table(_ladder_rows(ladder), _LADDER_HEADER))
    print(
        f"{len(points.points)} probe points in {points.seconds:.1f} s" + (f"; ladder in {args.out}" if args.out else "")
    )
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from pipeline.quality import score

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
    from samples import DEFAULT_DIR, SAMPLES, make_samples

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
    from vodflow.tools import versions

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
            _table(
                [(k, i.version, i.package, i.path) for k, i in found.items()], ("tool", "version", "package", "path")
            )
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(out=Path(args.out), keep=args.keep)


def cmd_ingest(args: argparse.Namespace) -> int:
    from cli.flows import cmd_ingest as run

    return run(args)


def cmd_status(args: argparse.Namespace) -> int:
    from cli.flows import cmd_status as run

    return run(args)


def cmd_serve_flows(args: argparse.Namespace) -> int:
    from cli.flows import cmd_serve_flows as run

    return run(args)


def cmd_package(args: argparse.Namespace) -> int:
    from packager.package import package

    pkg = package(
        args.renditions,
        args.out,
        encrypt=args.encrypt,
        segment_seconds=args.segment_seconds,
        keystore=args.keys,
        title=args.title,
        subtitles=args.subtitles or (),
        key_uri=args.key_uri,
    )
    if args.json:
        print(pkg.to_json())
        return 0
    rows = [
        (s.id, s.kind, s.codecs, s.language or "-", _fmt(s.bandwidth / 1000), _fmt(s.average_bandwidth / 1000),
         len(s.segments), s.key_id or "-")
        for s in pkg.streams
    ]  # fmt: skip
    print(_table(rows, ("stream", "kind", "codecs", "lang", "peak kb/s", "avg kb/s", "segments", "key id")))
    manifests = " and ".join(m for m in (pkg.dash, pkg.hls) if m)
    print(
        f"{pkg.root}: {manifests}, {pkg.encryption}, {len(pkg.files)} files, {pkg.total_bytes} bytes "
        f"({pkg.total_bytes / max(pkg.rendition_bytes, 1):.3f}x the renditions) in {pkg.seconds:.1f} s"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from packager.validate import validate

    report = validate(args.dir, keys=args.keys)
    if args.json:
        print(report.to_json())
    else:
        for note in report.skipped:
            print(f"skipped: {note}")
        checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        print(f"{report.root}: {'valid' if report.ok else 'INVALID'} ({checked}; {report.seconds:.1f} s)")
    for problem in report.problems:
        print(problem, file=sys.stderr)
    return 0 if report.ok else 1


def cmd_origin(args: argparse.Namespace) -> int:
    from origin.seaweed import Seaweed

    sw = Seaweed(args.dir)
    if args.action == "up":
        sw.up()
    elif args.action == "down":
        stopped = sw.down()
        if not args.json:
            print(f"origin down ({sw.dir})" if stopped else f"origin was not running ({sw.dir})")
            return 0
    status = sw.status()
    if args.json:
        print(status.to_json())
    elif status.running:
        print(f"origin up: {status.endpoint} bucket {status.bucket}, pid {status.pid}, state {status.state_dir}")
        print(f"credentials: {sw.dir / 'credentials.json'}")
    else:
        print(f"origin not running ({status.state_dir}): {status.problem}")
    return 0 if status.running or args.action == "down" else 2


def _origin(args: argparse.Namespace):
    from origin.config import Origin

    return Origin.resolve(args.origin, state_dir=args.origin_state)


def cmd_publish(args: argparse.Namespace) -> int:
    from origin.publish import publish

    package_dir = Path(args.package)
    record = args.record or package_dir.parent / f"{package_dir.name}.publication.json"
    pub = publish(package_dir, args.title, _origin(args), keystore=args.keys, record=record)
    if args.json:
        print(pub.to_json())
        return 0
    print(
        f"published {pub.title} version {pub.version} to s3://{pub.bucket}/{pub.root}: {len(pub.objects)} objects, "
        f"{pub.sent} sent ({pub.sent_bytes} bytes) in {pub.seconds:.1f} s"
    )
    for name, url in pub.urls.items():
        print(f"{name}: {url}")
    print(f"record: {record}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from origin.publish import current, rollback

    origin = _origin(args)
    before = current(origin, args.title)
    pub = rollback(origin, args.title)
    if args.json:
        print(pub.to_json())
    else:
        print(f"{args.title}: now version {pub.version} (was {before.version if before else '-'})")
    return 0


def cmd_unpublish(args: argparse.Namespace) -> int:
    from origin.publish import unpublish

    removed = unpublish(_origin(args), args.title)
    if args.json:
        print(json.dumps({"title": args.title, "removed": removed}))
    else:
        print(f"unpublished {args.title}: {removed} objects removed")
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    from edge.run import serve

    return serve(args)


def cmd_sign(args: argparse.Namespace) -> int:
    from edge.tokens import TokenSigner, load_secret

    token = TokenSigner(load_secret(path=args.secret_file)).sign(args.path, ttl=args.ttl)
    if args.json:
        print(json.dumps({"path": args.path, "ttl": args.ttl, "token": token}))
    else:
        print(token)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from player.errors import BadMovie
    from player.movie import load_sabre
    from player.play import load_traces, play_edge, play_movie
    from player.qoe import qoe, summarise

    if bool(args.url) == bool(args.movie):
        raise UsageError("give either a manifest URL or --movie movie.json")
    if args.movie and not Path(args.movie).is_file():
        raise BadMovie(f"{args.movie}: no such movie file")
    traces = load_traces(args.trace, latency_s=args.latency_ms / 1000)
    options = {"max_buffer": args.max_buffer, "startup": args.startup, "abandon": not args.no_abandon}
    if args.movie:
        results = play_movie(load_sabre(args.movie), traces, args.abr, session_s=args.session, **options)
    else:
        results = play_edge(args.url, traces, args.abr, session_s=args.session or 600.0, codec=args.codec, **options)
    records = [qoe(r) for r in results]
    summary = summarise(records)
    if args.plot:
        from player.plot import timeline

        timeline(results[0], traces[0], args.plot)
    if args.json:
        print(json.dumps({"summary": summary.model_dump(), "sessions": [r.model_dump() for r in records]}))
        return 0
    head = ("QoE_lin", 8), ("rebuf%", 7), ("stalls", 6), ("kb/s", 7), ("VMAF", 6), ("startup", 7), ("switch", 6)
    print(f"{'trace':<40} " + " ".join(f"{h:>{w}}" for h, w in head))
    for r in records:
        vmaf = f"{r.time_average_vmaf:6.1f}" if r.time_average_vmaf is not None else "     -"
        print(
            f"{r.trace[:40]:<40} {r.qoe_lin:8.3f} {100 * r.rebuffer_ratio:7.2f} {r.rebuffer_count:6d} "
            f"{r.time_average_bitrate_kbps:7.0f} {vmaf} {r.startup_s:7.2f} {r.switches:6d}"
        )
    if len(records) > 1:
        vmaf = f"{summary.time_average_vmaf:.1f}" if summary.time_average_vmaf is not None else "-"
        print(
            f"{args.abr}: {summary.sessions} sessions, mean QoE_lin {summary.qoe_lin:.3f}, rebuffer ratio "
            f"{summary.rebuffer_ratio:.4f}, {summary.stall_share:.0%} stalled, {summary.time_average_bitrate_kbps:.0f} "
            f"kb/s, VMAF {vmaf}, median startup {summary.median_startup_s:.2f} s"
        )
    return 0


# --- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vodflow", description="vodflow: VOD encoding and adaptive-streaming pipeline.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: log commands run; -vv: debug")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, fn: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--json", action="store_true", help="print the result as JSON")
        sp.set_defaults(fn=fn)
        return sp

    sp = command("probe", cmd_probe, "show what a media file holds (streams, rates, colour, HDR, field order)")
    sp.add_argument("src", help="media file")

    sp = command("qa", cmd_qa, "check a source title: decode, bounds, black/frozen/silence, interlacing, loudness")
    sp.add_argument("src", help="media file")

    sp = command("encode", cmd_encode, "encode rungs (decoding the source once per codec) plus audio renditions")
    sp.add_argument("src", help="source media file")
    sp.add_argument(
        "--rung",
        action="append",
        metavar="CODEC:WxH:RATE",
        help="a rung, e.g. h264:1280x720:3000k, hevc:1920x1080:crf24, av1:640x360:crf35@600k; repeat",
    )
    sp.add_argument("--ladder", metavar="LADDER", help="a ladder.json from `vodflow ladder`, or 'fixed'")
    sp.add_argument("--codecs", help="with --ladder: only these codecs (fixed ladder: which codecs, default h264)")
    sp.add_argument("--out", required=True, help="output folder")
    sp.add_argument("--no-audio", action="store_true", help="skip the AAC and Opus audio renditions")
    sp.add_argument("--no-verify", action="store_true", help="with --ladder: do not measure each rung's VMAF")
    sp.add_argument("--every", type=int, default=1, metavar="N", help="verify with every Nth frame (default 1)")

    sp = command("ladder", cmd_ladder, "per-title ladder: probe encodes, VMAF convex hull per codec, rungs")
    sp.add_argument("src", help="source media file")
    sp.add_argument("--codecs", default="h264", help="comma-separated: h264,hevc,av1,vp9 (default h264)")
    sp.add_argument("--out", help="write the ladder here (JSON, for `vodflow encode --ladder`)")
    sp.add_argument("--plot", help="write a PNG of points, hull and rungs (one per codec: NAME_codec.png)")
    sp.add_argument("--target", type=float, default=95.0, help="top rung VMAF (default 95)")
    sp.add_argument("--max-rungs", type=int, default=6, help="at most this many rungs per codec (default 6)")

    sp = command("quality", cmd_quality, "score DIST against REF: VMAF (libvmaf), SSIM and PSNR")
    sp.add_argument("ref", help="reference (source) file")
    sp.add_argument("dist", help="distorted (encoded) file")
    sp.add_argument("--every", type=int, default=1, metavar="N", help="score every Nth frame (default 1)")
    sp.add_argument("--no-ssim", action="store_true", help="VMAF only (skip SSIM/PSNR)")

    sp = command("play", cmd_play, "ABR player simulator: play a title from the edge (or a movie.json) under traces")
    sp.add_argument("url", nargs="?", help="manifest URL on the edge (master.m3u8 or manifest.mpd, ?token=...)")
    sp.add_argument("--movie", help="a Sabre-style movie.json instead of an edge title")
    sp.add_argument("--trace", required=True, help="a trace file (text, Sabre JSON, Mahimahi) or a folder of them")
    sp.add_argument("--abr", default="bolae", help="throughput, bba, bola, bolae, dynamic, mpc, quality, ...")
    sp.add_argument("--plot", help="write a PNG timeline of the first session")
    sp.add_argument("--session", type=float, help="session seconds (title loops; default 600 from the edge)")
    sp.add_argument("--max-buffer", type=float, default=25.0, help="buffer cap in seconds (default 25)")
    sp.add_argument("--startup", type=float, help="seconds buffered before playing (default one segment)")
    sp.add_argument("--latency-ms", type=float, default=80.0, help="request latency for text traces (default 80)")
    sp.add_argument("--codec", help="video codec to play when the title has several (default h264)")
    sp.add_argument("--no-abandon", action="store_true", help="never abandon a download")

    sp = command("samples", cmd_samples, "write the sample corpus (three synthetic 1080p titles and Big Buck Bunny)")
    sp.add_argument("--out", help="folder (default samples/media)")
    sp.add_argument("--tiny", action="store_true", help="2 s 320x180 versions, as the tests use")
    sp.add_argument("--only", action="append", metavar="NAME", help="only this sample; repeat")
    sp.add_argument("--force", action="store_true", help="rewrite files that already exist")

    command("tools", cmd_tools, "show the binaries vodflow uses, their versions and where they come from")

    sp = command("package", cmd_package, "package renditions as DASH + HLS (CMAF), clear or encrypted")
    sp.add_argument("renditions", help="a folder written by `vodflow encode` (with encode.json)")
    sp.add_argument("--out", required=True, help="package folder (manifest.mpd, master.m3u8, segments)")
    sp.add_argument("--encrypt", choices=("none", "cenc", "cbcs", "aes128"), default="none", help="default none")
    sp.add_argument("--segment-seconds", type=float, default=4.0, help="a whole number of GOPs (default 4)")
    sp.add_argument("--subtitles", action="append", metavar="FILE[:lang]", help="a .srt/.vtt sidecar; repeat")
    sp.add_argument("--keys", help="key store folder (default $VODFLOW_KEYS or .vodflow/keys)")
    sp.add_argument("--title", help="title name for keys and key URIs (default: the source file's stem)")
    sp.add_argument("--key-uri", default="/keys/{title}/{kid}", help="HLS key URI template (cbcs, aes128)")

    sp = command("validate", cmd_validate, "check a package: URIs, durations, keyframes, CODECS, bandwidths, keys")
    sp.add_argument("dir", help="package folder")
    sp.add_argument("--keys", help="key store folder (default $VODFLOW_KEYS or .vodflow/keys)")

    sp = command("origin", cmd_origin, "the embedded S3 origin (SeaweedFS on 127.0.0.1): up, down or status")
    sp.add_argument("action", choices=("up", "down", "status"))
    sp.add_argument("--dir", help="state folder (default $VODFLOW_ORIGIN or .vodflow/origin)")

    def origin_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--title", required=True, help="title ID on the origin (letters, digits, . _ -)")
        sp.add_argument(
            "--origin",
            metavar="s3://BUCKET/PREFIX",
            help="default: the embedded origin; with AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID set, that S3 endpoint",
        )
        sp.add_argument("--origin-state", help="embedded origin state folder (default as for `vodflow origin`)")

    sp = command("publish", cmd_publish, "publish a package as a new title version, then point the title at it")
    sp.add_argument("package", help="package folder (from `vodflow package`)")
    origin_options(sp)
    sp.add_argument("--keys", help="key store to scan for leaked keys (default $VODFLOW_KEYS or .vodflow/keys)")
    sp.add_argument("--record", help="where to save the Publication (default PACKAGE.publication.json beside it)")

    sp = command("rollback", cmd_rollback, "point a title back at the version it had before")
    origin_options(sp)

    sp = command("unpublish", cmd_unpublish, "remove a title: its pointer first, then every version")
    origin_options(sp)

    sp = command("edge", cmd_edge, "the caching edge (aiohttp): S3 or another edge upstream, tokens, keys")
    from edge.run import add_arguments as _edge_arguments

    _edge_arguments(sp)

    sp = command("sign", cmd_sign, "print a signed-URL token for a path prefix (e.g. /titles/bbb/)")
    sp.add_argument("path", help="the path prefix the token opens, e.g. /titles/bbb/ for a whole title")
    sp.add_argument("--ttl", type=float, default=3600, help="seconds the token is valid (default 3600)")
    sp.add_argument("--secret-file", help="the edge's secret file (default .vodflow/edge/secret)")

    sp = command("ingest", cmd_ingest, "ingest titles: probe, QA, ladder, encode, package, publish (Prefect flows)")
    from cli.flows import add_ingest_arguments

    add_ingest_arguments(sp)

    sp = command("status", cmd_status, "titles in the workspace with their last stage, state and published URLs")
    sp.add_argument("--workspace", help="workspace root (default $VODFLOW_WORK or .vodflow/work)")

    sp = command("serve-flows", cmd_serve_flows, "serve the ingest flows as Prefect deployments (until Ctrl-C)")
    sp.add_argument("--limit", type=int, help="at most this many flow runs at a time")

    sp = command("demo", cmd_demo, "samples -> origin -> ingest (per-title, 2 codecs, cenc) -> edge -> player -> QoE")
    sp.add_argument("--out", default="out/demo", help="the demo's folder: short samples, workspace, state")
    sp.add_argument("--keep", action="store_true", help="reuse an earlier run's folder (cached stages)")
    return p


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    # Progress of long work is shown by default: a bar on a terminal, these log lines otherwise.
    logging.getLogger("vodflow.progress").setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (``vodflow`` calls ``sys.exit`` with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.fn(args)
    except VodflowError as exc:
        print(f"vodflow {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"vodflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
