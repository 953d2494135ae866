"""Progress of long work: a bar on a terminal, occasional log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

__all__ = ["Progress"]

log = logging.getLogger("vodflow.progress")


class Progress:
    """Reports ``done`` out of ``total`` (seconds of media, frames, ...).

    On a terminal it redraws one line in place; elsewhere (CI, logs, pipes) it logs a line at most
    every ``log_every`` seconds plus one at the end, so long jobs stay visible without flooding logs
    (work done within ``log_every`` logs nothing).
    Use as a context manager, or call :meth:`close`.
    """

    LOG_EVERY = 10.0  # seconds between log lines off a terminal (tests set 0 to see every update)

    def __init__(
        self,
        label: str,
        total: float | None,
        *,
        unit: str = "s",
        stream: TextIO | None = None,
        log_every: float | None = None,
        enabled: bool = True,
    ) -> None:
        self.label = label
        self.total = total if total and total > 0 else None
        self.unit = unit
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.log_every = self.LOG_EVERY if log_every is None else log_every
        self.done = 0.0
        self.extra = ""
        self._started = time.monotonic()
        self._last_log = self._started
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # A failed run ends with its error, not with a progress line that reads like success.
        self.close(failed=exc_type is not None)

    @property
    def fraction(self) -> float | None:
        return None if self.total is None else min(1.0, self.done / self.total)

    def update(self, done: float, extra: str = "") -> None:
        """Record that ``done`` units are finished; ``extra`` is shown after the figures (fps, speed)."""
        self.done = done
        self.extra = extra
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self._draw()
        elif now - self._last_log >= self.log_every:
            self._last_log = now
            log.info("%s", self._text())

    def close(self, *, failed: bool = False) -> None:
        """Finish the bar (or log the final figures); after a failure only end the terminal line."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self.tty:
            if not failed:
                self._draw()
            self.stream.write("\n")
            self.stream.flush()
        elif not failed and (elapsed := time.monotonic() - self._started) >= self.log_every:
            # Work shorter than one logging interval needs no progress report at all.
            log.info("%s (%.1f s)", self._text(), elapsed)

    def _text(self) -> str:
        frac = self.fraction
        figures = (
            f"{self.done:.1f}{self.unit}"
            if frac is None
            else f"{frac * 100:5.1f}% {self.done:.1f}/{self.total:.1f}{self.unit}"
        )
        return f"{self.label}: {figures} {self.extra}".rstrip()

    def _draw(self) -> None:
        frac = self.fraction
        width = 24
        bar = "" if frac is None else "[" + "#" * int(frac * width) + "." * (width - int(frac * width)) + "] "
        self.stream.write(f"\r\x1b[2K{self.label} {bar}{self._text()[len(self.label) + 2 :]}")
        self.stream.flush()
