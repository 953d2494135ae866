"""Flows on a terminal, for ``vodflow ingest``/``serve-flows`` and the demo alike: Prefect quietened before
it is imported, its console lines kept off the terminal, and the stage board that says instead what each
title is doing."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import TextIO

__all__ = ["StageBoard", "prefect_console_off", "quiet_prefect"]

log = logging.getLogger("vodflow.progress")


def quiet_prefect() -> None:
    """Set the environment Prefect (and Dask) read when imported, unless the caller set it already; so
    call it before the first import of ``flows.ingest``. Returns nothing, raises nothing."""
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
    from prefect.logging.handlers import APILogHandler  # deferred: Prefect is imported after quiet_prefect

    for name in ["prefect", *[n for n in logging.Logger.manager.loggerDict if n.startswith("prefect.")]]:
        logger = logging.getLogger(name)
        logger.propagate = False  # not to the CLI's own stderr handler on the root logger either
        for handler in logger.handlers:
            if not isinstance(handler, APILogHandler):
                handler.setLevel(logging.CRITICAL + 1)


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
