"""``vodflow ingest``, ``vodflow status`` and ``vodflow serve-flows``: options to ``Settings`` and output
only; the work is the flows' (``flows.ingest``). Their options are declared with the parser (``cli.main``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from cli.console import StageBoard, prefect_console_off, quiet_prefect
from flows.settings import Settings, Status
from pipeline.codecs import parse_codecs
from vodflow.errors import UsageError
from vodflow.state import State, folder
from vodflow.tables import table

__all__ = ["cmd_ingest", "cmd_serve_flows", "cmd_status", "read_statuses", "settings_from"]

log = logging.getLogger("vodflow.progress")


def settings_from(args: argparse.Namespace) -> Settings:
    """The ``Settings`` the ``ingest`` options describe; raises ``UsageError`` for options that clash."""
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


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest every source as one batch; returns 0 when every title completed, else 1."""
    quiet_prefect()
    from flows.ingest import ingest_batch, observe  # deferred: Prefect reads PREFECT_* at import, set just above

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
    """Print every title's last stage and state; returns 0."""
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
    quiet_prefect()
    from prefect import serve  # deferred: Prefect reads PREFECT_* at import, set just above

    from flows.ingest import ingest_batch, ingest_title  # deferred: Prefect reads PREFECT_* at import, set just above

    serve(
        ingest_title.to_deployment(name="vodflow", description="one source to a published title"),
        ingest_batch.to_deployment(name="vodflow", description="many sources, a few at a time"),
        limit=args.limit,
    )
    return 0
