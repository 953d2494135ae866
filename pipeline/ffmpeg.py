"""Running ffmpeg: progress from ``-progress``, and ignored options treated as the errors they are."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from vodflow import tools
from vodflow.errors import EncoderOptionError
from vodflow.process import Completed, LineCallback, run
from vodflow.progress import Progress

__all__ = ["UNUSED_OPTION", "ProgressParser", "run_ffmpeg"]

# ffmpeg only warns when an option we passed reached no stream (wrong type, wrong encoder): the output
# would silently differ from what we asked for, so it stops the run.
UNUSED_OPTION = re.compile(r"has not been used for any stream")


class ProgressParser:
    """Turns ffmpeg's ``-progress`` key=value lines into calls of ``update(seconds, extra)``."""

    def __init__(self, update: Callable[[float, str], None]) -> None:
        self._update = update
        self._block: dict[str, str] = {}
        self.seconds = 0.0
        self.frames = 0

    def feed(self, line: str) -> None:
        key, sep, value = line.partition("=")
        if not sep:
            return
        self._block[key.strip()] = value.strip()
        if key != "progress":
            return
        b, self._block = self._block, {}
        us = b.get("out_time_us") or b.get("out_time_ms")  # both are microseconds in ffmpeg
        if us and us.lstrip("-").isdigit() and int(us) >= 0:
            self.seconds = int(us) / 1e6
        if b.get("frame", "").isdigit():
            self.frames = int(b["frame"])
        extra = " ".join(f"{k}={b[k]}" for k in ("fps", "speed") if b.get(k) and b[k] not in ("0.00", "N/A"))
        self._update(self.seconds, extra)


def run_ffmpeg(
    args: Sequence[str | os.PathLike[str]],
    *,
    duration: float | None = None,
    label: str = "ffmpeg",
    tool: tools.Tool = tools.Tool.FFMPEG,
    timeout: float | None = None,
    on_stderr: LineCallback | None = None,
    show_progress: bool = True,
    loglevel: str = "level+info",
    fatal: Sequence[re.Pattern[str]] = (),
) -> Completed:
    """Run ffmpeg with ``args`` (everything after the binary) and return the finished process.

    Adds ``-progress`` reporting against ``duration`` seconds of media. Raises ``EncoderOptionError``
    when ffmpeg reports an option as unused or prints a line matching one of ``fatal`` (stopping it at
    once), ``ProcessError``/``ProcessTimeout`` as ``process.run``.
    """
    argv: list[str | os.PathLike[str]] = [
        tools.find(tool),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        loglevel,  # "level+" prefixes each line with [error]/[warning]/[info]: parseable
        "-nostats",  # the periodic stats line on stderr is replaced by -progress on stdout
        "-progress",
        "pipe:1",
        *args,
    ]
    with Progress(label, duration, enabled=show_progress) as progress:
        parser = ProgressParser(progress.update)
        return run(
            argv,
            timeout=timeout,
            on_stdout=parser.feed,
            on_stderr=on_stderr,
            fatal=[UNUSED_OPTION, *fatal],
            fatal_error=EncoderOptionError,
        )
