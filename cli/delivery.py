"""The delivery commands: ``package``, ``validate``, ``origin``, ``publish``, ``rollback``, ``unpublish``,
``edge``, ``sign`` and ``play``.

Argument handling and output only; the work is the rooms' (``packager``, ``origin``, ``edge``, ``player``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from edge.run import serve
from edge.tokens import TokenSigner, load_secret
from origin.config import Origin
from origin.pointers import current, rollback, unpublish
from origin.publish import publish
from origin.seaweed import Seaweed
from packager.package import package
from packager.validate import validate
from player.errors import BadMovie
from player.live import LiveSession
from player.live_playback import CatchUp
from player.live_records import LiveReport, LiveSample
from player.movie import load_sabre
from player.play import load_traces, play_edge, play_movie
from player.plot import timeline
from player.qoe import qoe, summarise
from player.trace import Trace, steady
from vodflow.errors import UsageError
from vodflow.progress import Progress
from vodflow.tables import fmt, table

__all__ = [
    "cmd_edge",
    "cmd_origin",
    "cmd_package",
    "cmd_play",
    "cmd_publish",
    "cmd_rollback",
    "cmd_sign",
    "cmd_unpublish",
    "cmd_validate",
]


def cmd_package(args: argparse.Namespace) -> int:
    """Package the renditions and print the streams; returns 0. Raises the packager's ``VodflowError``."""
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
        (s.id, s.kind, s.codecs, s.language or "-", fmt(s.bandwidth / 1000), fmt(s.average_bandwidth / 1000),
         len(s.segments), s.key_id or "-")
        for s in pkg.streams
    ]  # fmt: skip
    print(table(rows, ("stream", "kind", "codecs", "lang", "peak kb/s", "avg kb/s", "segments", "key id")))
    manifests = " and ".join(m for m in (pkg.dash, pkg.hls) if m)
    print(
        f"{pkg.root}: {manifests}, {pkg.encryption}, {len(pkg.files)} files, {pkg.total_bytes} bytes "
        f"({pkg.total_bytes / max(pkg.rendition_bytes, 1):.3f}x the renditions) in {pkg.seconds:.1f} s"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a package, problems on stderr; returns 0 if it is valid, else 1."""
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
    """Start, stop or show the embedded origin; returns 0, or 2 when it is not running after ``up``/``status``."""
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


def _origin(args: argparse.Namespace) -> Origin:
    return Origin.resolve(args.origin, state_dir=args.origin_state)


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish a package as a new title version; returns 0. Raises the origin's ``VodflowError``."""
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
    """Point a title back at its previous version; returns 0. Raises the origin's ``VodflowError``."""
    origin = _origin(args)
    before = current(origin, args.title)
    pub = rollback(origin, args.title)
    if args.json:
        print(pub.to_json())
    else:
        print(f"{args.title}: now version {pub.version} (was {before.version if before else '-'})")
    return 0


def cmd_unpublish(args: argparse.Namespace) -> int:
    """Remove a title and every version; returns 0. Raises the origin's ``VodflowError``."""
    removed = unpublish(_origin(args), args.title)
    if args.json:
        print(json.dumps({"title": args.title, "removed": removed}))
    else:
        print(f"unpublished {args.title}: {removed} objects removed")
    return 0


def cmd_edge(args: argparse.Namespace) -> int:
    """Run the edge until SIGTERM/SIGINT; returns its exit code. Raises ``UsageError``/``EdgeError``."""
    return serve(args)


def cmd_sign(args: argparse.Namespace) -> int:
    """Print a signed-URL token for a path prefix; returns 0. Raises ``UsageError`` without a secret."""
    token = TokenSigner(load_secret(path=args.secret_file)).sign(args.path, ttl=args.ttl)
    if args.json:
        print(json.dumps({"path": args.path, "ttl": args.ttl, "token": token}))
    else:
        print(token)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    """Play a title (edge or movie) under the traces, print QoE; returns 0. Raises ``UsageError``, ``PlayerError``."""
    # urllib3 logs each retry of a refused connection as a warning; the error that follows says it in one line
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    if args.live:
        return _play_live(args)
    if bool(args.url) == bool(args.movie):
        raise UsageError("give either a manifest URL or --movie movie.json (or --live URL)")
    if not args.trace:
        raise UsageError("--trace is required (a trace file or a folder of them)")
    args.abr = args.abr or "bolae"
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


def _play_live(args: argparse.Namespace) -> int:
    """``play --live URL``: one real-time session per trace (unthrottled without one), a row each."""
    if args.url or args.movie:
        raise UsageError("--live takes the channel's URL itself: give no other URL or --movie")
    if args.seconds is not None and args.seconds <= 0:
        raise UsageError(f"--seconds must be positive, not {args.seconds:g}")
    if args.target_latency is not None and args.target_latency <= 0:
        raise UsageError(f"--target-latency must be positive, not {args.target_latency:g}")
    if not 0 < args.min_rate <= 1 <= args.max_rate <= 2:
        raise UsageError("playback rates must keep 0 < --min-rate <= 1 <= --max-rate <= 2")
    # Without a trace nothing is throttled: the network adds no time to what the server takes.
    traces: list[Trace] = (
        load_traces(args.trace, latency_s=args.latency_ms / 1000) if args.trace else [steady(1e12, latency_s=0.0)]
    )
    catch_up = CatchUp(min_rate=args.min_rate - 1, max_rate=args.max_rate - 1)
    reports = []
    for trace in traces:
        with Progress(f"live {trace.name}", args.seconds, log_every=5.0) as bar:

            def show(s: LiveSample, bar: Progress = bar) -> None:
                latency = "-" if s.latency_s is None else f"{s.latency_s:.2f} s"
                bar.update(s.t_s, f"latency {latency} buffer {s.buffer_s:.2f} s {s.rendition or '-'} x{s.rate:.2f}")

            session = LiveSession(
                args.live, trace, abr=args.abr or "throughput", target_latency=args.target_latency,
                seconds=args.seconds, low_latency=not args.no_low_latency, catch_up=catch_up, on_sample=show,
            )  # fmt: skip
            reports.append(session.run())
    if args.json:
        print(json.dumps({"sessions": [r.model_dump() for r in reports]}))
        return 0
    _print_live(reports)
    return 0


def _print_live(reports: list[LiveReport]) -> None:
    def s(v: float | None, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    head = ("target", 6), ("p50", 6), ("p95", 6), ("stalls", 6), ("stall s", 7), ("kb/s", 6), ("switch", 6), ("end", 7)
    print(f"{'trace':<32} {'mode':<6} " + " ".join(f"{h:>{w}}" for h, w in head))
    for r in reports:
        print(
            f"{r.trace[:32]:<32} {r.mode:<6} {r.target_latency_s:6.2f} {s(r.latency_p50_s):>6} {s(r.latency_p95_s):>6} "
            f"{r.stalls:6d} {r.stall_s:7.2f} {s(r.mean_bitrate_kbps, 0):>6} {r.switches:6d} {r.end:>7}"
        )
        if r.refused:
            print(f"  the server refused: {', '.join(f'{n} x {code}' for code, n in sorted(r.refused.items()))}")
