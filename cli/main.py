"""The ``vodflow`` command line: the parser, logging, and the one error boundary; the commands live in
their group's module (``cli.media``, ``cli.delivery``, ``cli.flows``, ``cli.demo``).

Exit codes: 0 success, 1 the media failed (QA failure, decode error, unreadable file), 2 usage or
environment error. Every ``VodflowError`` is printed as one line on stderr; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from vodflow.errors import VodflowError
from vodflow.state import State, help_text, secret_help

__all__ = ["build_parser", "main"]

log = logging.getLogger("vodflow.cli")


def _group(name: str) -> ModuleType:
    """The module that holds a command group's commands, imported only when one of them runs: the groups
    import the stages (scipy, matplotlib, boto3, Prefect), seconds that ``vodflow --help`` need not pay."""
    if name == "media":
        from cli import media as group  # deferred: the media stages import scipy (about 1 s) at CLI start
    elif name == "delivery":
        from cli import delivery as group  # deferred: packager, origin, edge, player pull scipy, boto3, aiohttp (1-2 s)
    elif name == "flows":
        from cli import flows as group  # deferred: the flows' settings import scipy (about 1 s) at CLI start
    elif name == "live":
        from cli import live as group  # deferred: the live supervisor imports aiohttp and the edge (1-2 s)
    else:
        from cli import demo as group  # deferred: the demo imports every room (1-2 s) at CLI start
    return group


def _run(args: argparse.Namespace) -> int:
    return getattr(_group(args.group), args.handler)(args)


# --- parser -----------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A command's parser whose ``options`` callback adds its arguments the first time it parses, i.e.
    only when that command is given: ``vodflow --help`` lists the command without importing its room."""

    def __init__(self, *args, options: Callable[[argparse.ArgumentParser], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._options = options

    def parse_known_args(self, args=None, namespace=None):
        if self._options is not None:
            options, self._options = self._options, None
            options(self)
        return super().parse_known_args(args, namespace)


def _edge_options(sp: argparse.ArgumentParser) -> None:
    # The options `python -m edge` takes too, from the edge itself.
    from edge.run import add_arguments  # deferred: the edge imports aiohttp and the packager (1-2 s)

    add_arguments(sp)


def build_parser() -> argparse.ArgumentParser:
    """The ``vodflow`` parser with every command; imports no command group (see ``_group``)."""
    p = argparse.ArgumentParser(prog="vodflow", description="vodflow: VOD encoding and adaptive-streaming pipeline.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v: log commands run; -vv: debug")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, group: str, help: str, **options) -> argparse.ArgumentParser:
        # The command ``name`` runs ``cmd_<name>`` of ``cli.<group>``.
        sp = sub.add_parser(name, help=help, description=help, **options)
        sp.add_argument("--json", action="store_true", help="print the result as JSON")
        sp.set_defaults(group=group, handler=f"cmd_{name.replace('-', '_')}")
        return sp

    sp = command("probe", "media", "show what a media file holds (streams, rates, colour, HDR, field order)")
    sp.add_argument("src", help="media file")

    sp = command("qa", "media", "check a source title: decode, bounds, black/frozen/silence, interlacing, loudness")
    sp.add_argument("src", help="media file")

    sp = command("encode", "media", "encode rungs (decoding the source once per codec) plus audio renditions")
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

    sp = command("ladder", "media", "per-title ladder: probe encodes, VMAF convex hull per codec, rungs")
    sp.add_argument("src", help="source media file")
    sp.add_argument("--codecs", default="h264", help="comma-separated: h264,hevc,av1,vp9 (default h264)")
    sp.add_argument("--out", help="write the ladder here (JSON, for `vodflow encode --ladder`)")
    sp.add_argument("--plot", help="write a PNG of points, hull and rungs (one per codec: NAME_codec.png)")
    sp.add_argument("--target", type=float, default=95.0, help="top rung VMAF (default 95)")
    sp.add_argument("--max-rungs", type=int, default=6, help="at most this many rungs per codec (default 6)")

    sp = command("quality", "media", "score DIST against REF: VMAF (libvmaf), SSIM and PSNR")
    sp.add_argument("ref", help="reference (source) file")
    sp.add_argument("dist", help="distorted (encoded) file")
    sp.add_argument("--every", type=int, default=1, metavar="N", help="score every Nth frame (default 1)")
    sp.add_argument("--no-ssim", action="store_true", help="VMAF only (skip SSIM/PSNR)")

    sp = command("play", "delivery", "ABR player simulator: play a title from the edge (or a movie.json, or a live "
                 "channel with --live) under traces")  # fmt: skip
    sp.add_argument("url", nargs="?", help="manifest URL on the edge (master.m3u8 or manifest.mpd, ?token=...)")
    sp.add_argument("--movie", help="a Sabre-style movie.json instead of an edge title")
    sp.add_argument("--live", metavar="URL", help="play a live HLS channel (LL-HLS or plain) in real time instead")
    sp.add_argument("--trace", help="a trace file (text, Sabre JSON, Mahimahi) or a folder of them (live: optional)")
    sp.add_argument("--abr", help="throughput, bba, bola, bolae, dynamic, mpc, quality, ... (default bolae; live: "
                    "throughput)")  # fmt: skip
    sp.add_argument("--target-latency", type=float, metavar="S", help="live: target latency (default the channel's)")
    sp.add_argument("--seconds", type=float, default=60.0, metavar="N", help="live: seconds per trace (default 60)")
    sp.add_argument("--no-low-latency", action="store_true", help="live: whole segments, no blocking reload")
    sp.add_argument("--max-rate", type=float, default=1.1, help="live: fastest catch-up playback rate (default 1.1)")
    sp.add_argument("--min-rate", type=float, default=0.9, help="live: slowest playback rate (default 0.9)")
    sp.add_argument("--plot", help="write a PNG timeline of the first session")
    sp.add_argument("--session", type=float, help="session seconds (title loops; default 600 from the edge)")
    sp.add_argument("--max-buffer", type=float, default=25.0, help="buffer cap in seconds (default 25)")
    sp.add_argument("--startup", type=float, help="seconds buffered before playing (default one segment)")
    sp.add_argument("--latency-ms", type=float, default=80.0, help="request latency for text traces (default 80)")
    sp.add_argument("--codec", help="video codec to play when the title has several (default h264)")
    sp.add_argument("--no-abandon", action="store_true", help="never abandon a download")

    sp = command("samples", "media", "write the sample corpus (three synthetic 1080p titles and Big Buck Bunny)")
    sp.add_argument("--out", help="folder (default samples/media)")
    sp.add_argument("--tiny", action="store_true", help="2 s 320x180 versions, as the tests use")
    sp.add_argument("--only", action="append", metavar="NAME", help="only this sample; repeat")
    sp.add_argument("--force", action="store_true", help="rewrite files that already exist")

    command("tools", "media", "show the binaries vodflow uses, their versions and where they come from")

    sp = command("package", "delivery", "package renditions as DASH + HLS (CMAF), clear or encrypted")
    sp.add_argument("renditions", help="a folder written by `vodflow encode` (with encode.json)")
    sp.add_argument("--out", required=True, help="package folder (manifest.mpd, master.m3u8, segments)")
    sp.add_argument("--encrypt", choices=("none", "cenc", "cbcs", "aes128"), default="none", help="default none")
    sp.add_argument("--segment-seconds", type=float, default=4.0, help="a whole number of GOPs (default 4)")
    sp.add_argument("--subtitles", action="append", metavar="FILE[:lang]", help="a .srt/.vtt sidecar; repeat")
    sp.add_argument("--keys", help=f"key store folder ({help_text(State.KEYS)})")
    sp.add_argument("--title", help="title name for keys and key URIs (default: the source file's stem)")
    sp.add_argument("--key-uri", default="/keys/{title}/{kid}", help="HLS key URI template (cbcs, aes128)")

    sp = command("validate", "delivery", "check a package: URIs, durations, keyframes, CODECS, bandwidths, keys")
    sp.add_argument("dir", help="package folder")
    sp.add_argument("--keys", help=f"key store folder ({help_text(State.KEYS)})")

    sp = command("origin", "delivery", "the embedded S3 origin (SeaweedFS on 127.0.0.1): up, down or status")
    sp.add_argument("action", choices=("up", "down", "status"))
    sp.add_argument("--dir", help=f"state folder ({help_text(State.ORIGIN)})")

    def origin_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--title", required=True, help="title ID on the origin (letters, digits, . _ -)")
        sp.add_argument(
            "--origin",
            metavar="s3://BUCKET/PREFIX",
            help="default: the embedded origin; with AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID set, that S3 endpoint",
        )
        sp.add_argument("--origin-state", help="embedded origin state folder (default as for `vodflow origin`)")

    sp = command("publish", "delivery", "publish a package as a new title version, then point the title at it")
    sp.add_argument("package", help="package folder (from `vodflow package`)")
    origin_options(sp)
    sp.add_argument("--keys", help=f"key store to scan for leaked keys ({help_text(State.KEYS)})")
    sp.add_argument("--record", help="where to save the Publication (default PACKAGE.publication.json beside it)")

    sp = command("rollback", "delivery", "point a title back at the version it had before")
    origin_options(sp)

    sp = command("unpublish", "delivery", "remove a title: its pointer first, then every version")
    origin_options(sp)

    edge_help = "the caching edge (aiohttp): S3 or another edge upstream, tokens, keys"
    command("edge", "delivery", edge_help, options=_edge_options)

    sp = command("sign", "delivery", "print a signed-URL token for a path prefix (e.g. /titles/bbb/)")
    sp.add_argument("path", help="the path prefix the token opens, e.g. /titles/bbb/ for a whole title")
    sp.add_argument("--ttl", type=float, default=3600, help="seconds the token is valid (default 3600)")
    sp.add_argument("--secret-file", help=f"the edge's secret file ({secret_help()})")

    sp = command("ingest", "flows", "ingest titles: probe, QA, ladder, encode, package, publish (Prefect flows)")
    sp.add_argument("src", nargs="+", help="source files, folders of them, s3://bucket/key or s3://bucket/prefix/")
    sp.add_argument("--codecs", default="h264", help="comma-separated: h264,hevc,av1,vp9 (default h264)")
    sp.add_argument("--ladder", choices=("per-title", "fixed"), default="per-title", help="default per-title")
    sp.add_argument("--encrypt", choices=("none", "cenc", "cbcs", "aes128"), default="none", help="default none")
    sp.add_argument("--segment-seconds", type=float, default=4.0, help="a whole number of GOPs (default 4)")
    sp.add_argument("--origin", metavar="s3://BUCKET/PREFIX", help="where to publish (default: the embedded origin)")
    sp.add_argument("--origin-state", help="embedded origin state folder (default as for `vodflow origin`)")
    sp.add_argument("--keys", help=f"key store folder ({help_text(State.KEYS)})")
    sp.add_argument("--workspace", help=f"workspace root ({help_text(State.WORK)})")
    sp.add_argument("--title", help="published title id (one source only; default: the file's stem)")
    sp.add_argument("--no-publish", action="store_true", help="stop after validating the package")
    sp.add_argument("--edge", metavar="URL", help="warm this edge after publishing (manifests, inits, first segments)")
    sp.add_argument("--concurrency", type=int, default=1, metavar="N", help="titles at a time (default 1)")
    run = sp.add_mutually_exclusive_group()
    run.add_argument("--dask", metavar="ADDRESS", help="run tasks on this Dask scheduler (tcp://host:8786)")
    run.add_argument("--workers", type=int, metavar="N", help="run tasks on a local Dask cluster of N workers")

    sp = command("status", "flows", "titles in the workspace with their last stage, state and published URLs")
    sp.add_argument("--workspace", help=f"workspace root ({help_text(State.WORK)})")

    sp = command("serve-flows", "flows", "serve the ingest flows as Prefect deployments (until Ctrl-C)")
    sp.add_argument("--limit", type=int, help="at most this many flow runs at a time")

    sp = command("live", "live", "live channels: start one from a source, stop it (it ends), or show its status")
    sp.add_argument("action", choices=("start", "stop", "status"))
    sp.add_argument("channel", help="channel name (letters, digits, . _ -)")
    sp.add_argument(
        "--source",
        help="start: testsrc, a file (looped in real time), udp://127.0.0.1:PORT, fifo:PATH, rtmp://127.0.0.1:PORT/APP/KEY",
    )
    sp.add_argument(
        "--config", metavar="JSON", help="start: a channel config file (ladder, window, ...); --source wins"
    )
    sp.add_argument("--port", type=int, help="start: the channel's HTTP port (default: any free one)")
    sp.add_argument(
        "--origin", metavar="S3_URL", help="start: where stop publishes the channel as a VOD title (default: embedded)"
    )
    sp.add_argument("--no-archive", action="store_true", help="start: on stop, end the channel without a VOD title")
    sp.add_argument("--dir", help=f"live state folder ({help_text(State.LIVE)})")

    sp = command("demo", "demo", "samples -> origin -> ingest (per-title, 2 codecs, cenc) -> edge -> player -> QoE")
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
        return _run(args)
    except VodflowError as exc:
        print(f"vodflow {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"vodflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
