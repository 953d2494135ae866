"""``vodflow ingest``, ``vodflow status`` and ``vodflow serve-flows``: argument handling and output only;
the work is the flows' (``flows.ingest``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from cli.tables import table
from flows.settings import Settings, Status
from pipeline.codecs import parse_codecs
from vodflow.errors import UsageError
from vodflow.state import State, folder

__all__ = [
    "StageBoard",
    "add_ingest_arguments",
    "cmd_ingest",
    "cmd_serve_flows",
    "cmd_status",
    "prefect_console_off",
    "settings_from",
]

log = logging.getLogger("vodflow.progress")


def _quiet_prefect() -> None:
    # Prefect logs every task to the console at INFO; the stage board says the same in one line per title.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A loaded 2-core machine can need more than Prefect's 20 s to start the embedded server.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # Dask (--workers/--dask) logs every worker's start and stop at INFO, and a closed connection while a
    # local cluster shuts down as an error with its traceback; the stage board and the one-line reasons
    # say what matters. Set before dask is imported; worker processes inherit it.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")


def prefect_console_off(verbose: int) -> None:
    """Keep Prefect's own console lines (task tracebacks included) off the terminal: the stage board and
    the one-line reasons say what happened, and Prefect's API still gets every log line for its UI."""
    if verbose:
        return
    from prefect.logging.handlers import APILogHandler

    for name in ["prefect", *[n for n in logging.Logger.manager.loggerDict if n.startswith("prefect.")]]:
        logger = logging.getLogger(name)
        logger.propagate = False  # not to the CLI's own stderr handler on the root logger either
        for handler in logger.handlers:
            if not isinstance(handler, APILogHandler):
                handler.setLevel(logging.CRITICAL + 1)


def add_ingest_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("src", nargs="+", help="source files, folders of them, s3://bucket/key or s3://bucket/prefix/")
    sp.add_argument("--codecs", default="h264", help="comma-separated: h264,hevc,av1,vp9 (default h264)")
    sp.add_argument("--ladder", choices=("per-title", "fixed"), default="per-title", help="default per-title")
    sp.add_argument("--encrypt", choices=("none", "cenc", "cbcs", "aes128"), default="none", help="default none")
    sp.add_argument("--segment-seconds", type=float, default=4.0, help="a whole number of GOPs (default 4)")
    sp.add_argument("--origin", metavar="s3://BUCKET/PREFIX", help="where to publish (default: the embedded origin)")
    sp.add_argument("--origin-state", help="embedded origin state folder (default as for `vodflow origin`)")
    sp.add_argument("--keys", help="key store folder (default $VODFLOW_KEYS or .vodflow/keys)")
    sp.add_argument("--workspace", help="workspace root (default $VODFLOW_WORK or .vodflow/work)")
    sp.add_argument("--title", help="published title id (one source only; default: the file's stem)")
    sp.add_argument("--no-publish", action="store_true", help="stop after validating the package")
    sp.add_argument("--edge", metavar="URL", help="warm this edge after publishing (manifests, inits, first segments)")
    sp.add_argument("--concurrency", type=int, default=1, metavar="N", help="titles at a time (default 1)")
    run = sp.add_mutually_exclusive_group()
    run.add_argument("--dask", metavar="ADDRESS", help="run tasks on this Dask scheduler (tcp://host:8786)")
    run.add_argument("--workers", type=int, metavar="N", help="run tasks on a local Dask cluster of N workers")


def settings_from(args: argparse.Namespace) -> Settings:
    codecs = parse_codecs(args.codecs)
    if args.title and len(args.src) > 1:
        raise UsageError("--title names one title; give one source with it")
    if args.concurrency < 1 or (args.workers is not None and args.workers < 1):
        raise UsageError("--concurrency and --workers take a positive number")
    dask = args.dask or (f"local:{args.workers}" if args.workers else None)
    return Settings(
        codecs=tuple(codecs),
        ladder=args.ladder,
        encrypt=args.encrypt,
        segment_seconds=args.segment_seconds,
        origin=args.origin,
        origin_state=args.origin_state,
        keystore=args.keys,
        workspace=args.workspace,
        title=args.title,
        publish=not args.no_publish,
        edge=args.edge,
        dask=dask,
    )


class StageBoard:
    """Progress per title and stage: on a terminal one line per title, redrawn in place; elsewhere a log
    line per stage transition."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lines: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.drawn = 0
        self.lock = threading.Lock()

    def __call__(self, title: str, stage: str, state: str, index: int, total: int) -> None:
        with self.lock:
            t0 = self.started.setdefault(title, time.monotonic())
            done = index - (state == "Running")
            bar = "#" * round(20 * done / total)
            word = {"Running": "...", "Completed": "done", "Cached": "cached", "Failed": "FAILED"}.get(state, state)
            line = f"{title[:24]:<24} [{bar:<20}] {index}/{total} {stage} {word} ({time.monotonic() - t0:.0f} s)"
            self.lines[title] = line
            if not self.tty:
                log.info("%s", line)
                return
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F")
            for text in self.lines.values():
                self.stream.write(f"\x1b[2K{text}\n")
            self.drawn = len(self.lines)
            self.stream.flush()


def cmd_ingest(args: argparse.Namespace) -> int:
    _quiet_prefect()
    from flows.ingest import ingest_batch, observe

    prefect_console_off(args.verbose)
    settings = settings_from(args)
    board = StageBoard()
    stop = observe(board) if not args.json else (lambda: None)
    try:
        state = ingest_batch(args.src, settings, args.concurrency, show_progress=False, return_state=True)
    finally:
        stop()
    results = state.result(raise_on_failure=False)
    if not isinstance(results, list):
        raise UsageError(state.message or "ingest failed")
    if not results:
        raise UsageError(state.message or "nothing to ingest")
    if args.json:
        print(json.dumps([r.model_dump() for r in results], indent=2))
    else:
        rows = [(r.title, r.state, r.message or "-", "  ".join(r.urls.values()) or "-") for r in results]
        print(table(rows, ("title", "state", "reason", "manifests")))
    return 0 if all(r.state == "completed" for r in results) else 1


def read_statuses(root: str | os.PathLike[str] | None = None) -> list[Status]:
    """Every title's last status under the workspace root, newest first."""
    base = folder(State.WORK, root)
    found = []
    for path in sorted(base.glob("*/status.json")) if base.is_dir() else []:
        try:
            found.append(Status.load(path))
        except ValueError:
            log.warning("%s: not a status record; skipped", path)
    return sorted(found, key=lambda s: -s.updated)


def cmd_status(args: argparse.Namespace) -> int:
    statuses = read_statuses(args.workspace)
    if args.json:
        print(json.dumps([s.model_dump() for s in statuses], indent=2))
        return 0
    if not statuses:
        print(f"no titles in {folder(State.WORK, args.workspace)}")
        return 0
    rows = [
        (s.title, s.stage, s.state, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.updated)),
         s.message[:80] or " ".join(s.urls.values()) or "-", Path(s.workspace).name)
        for s in statuses
    ]  # fmt: skip
    print(table(rows, ("title", "stage", "state", "updated", "published URLs / reason", "workspace")))
    return 0


def cmd_serve_flows(args: argparse.Namespace) -> int:
    """Serve ``ingest-title`` and ``ingest-batch`` as Prefect deployments until interrupted."""
    _quiet_prefect()
    from prefect import serve

    from flows.ingest import ingest_batch, ingest_title

    serve(
        ingest_title.to_deployment(name="vodflow", description="one source to a published title"),
        ingest_batch.to_deployment(name="vodflow", description="many sources, a few at a time"),
        limit=args.limit,
    )
    return 0
