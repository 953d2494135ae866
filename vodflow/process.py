"""The one way vodflow runs a child process.

``run`` takes argv as a list, logs it shell-quoted (paste it into a shell to rerun it), streams stdout
and stderr line by line to optional callbacks, enforces a timeout, stops the child in a fixed order
(terminate, wait, kill, wait) and on failure raises a ``ProcessError`` that carries the command and the
last lines of stderr. Output lines matching a ``fatal`` pattern stop the child at once: that is how an
ffmpeg warning that means "your arguments are wrong" becomes an error instead of noise.

``spawn`` starts a long-lived child (a server: SeaweedFS, the edge) the same way: argv as a list, logged
shell-quoted, a failure to start raised as a ``ProcessError``; ``stop`` ends it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vodflow.errors import ProcessError, ProcessTimeout

__all__ = ["Completed", "last_line", "run", "spawn", "stop", "stop_pid"]

log = logging.getLogger(__name__)

LineCallback = Callable[[str], None]

_STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished child process: its command, exit code, captured output and wall time."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def stop(proc: subprocess.Popen[bytes], grace: float = _STOP_GRACE_SECONDS) -> None:
    """Stop a child: terminate, wait up to ``grace`` seconds, then kill and wait."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = None,
    text: bool = False,
    new_session: bool = False,
) -> subprocess.Popen:
    """Start ``argv`` and return its ``Popen`` without waiting; stdin is closed, ``stdout``/``stderr`` go
    where the caller says (``subprocess.PIPE``, a file, ``DEVNULL``). ``new_session`` detaches it from the
    caller's terminal (Ctrl-C there does not reach it). Raises ``ProcessError`` when it cannot start.
    Stop it with :func:`stop`."""
    args = [os.fspath(a) for a in argv]
    log.info("start: %s", shlex.join(args))
    try:
        return subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, text=text,
            start_new_session=new_session,
        )  # fmt: skip
    except OSError as exc:
        raise ProcessError(f"cannot start {Path(args[0]).name}: {exc.strerror or exc}", argv=args) from exc


def stop_pid(pid: int, alive: Callable[[int], bool], grace: float = _STOP_GRACE_SECONDS) -> None:
    """Stop a process that is not our child (another vodflow process started it) in ``stop``'s order:
    SIGTERM, up to ``grace`` s, SIGKILL, up to 10 s. Only a parent can wait() for a process, so this polls
    ``alive(pid)``, which should also tell a reused pid from the process meant (its command line)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid):
            return


def last_line(path: str | os.PathLike[str]) -> str:
    """The last non-empty line of a child's log file (at most 300 characters), for a one-line error:
    "no log" when it cannot be read, "no output" when it is empty."""
    try:
        lines = [ln.strip() for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def _pump(
    stream,
    sink: list[str],
    tail: deque[str] | None,
    callback: LineCallback | None,
    fatal: Sequence[re.Pattern[str]],
    on_fatal: Callable[[str], None],
) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        sink.append(line)
        if tail is not None:
            tail.append(line)
        if callback is not None:
            callback(line)
        if any(p.search(line) for p in fatal):
            on_fatal(line)
    stream.close()


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    on_stdout: LineCallback | None = None,
    on_stderr: LineCallback | None = None,
    fatal: Sequence[re.Pattern[str]] = (),
    fatal_error: type[ProcessError] = ProcessError,
    check: bool = True,
    tail_lines: int = 15,
) -> Completed:
    """Run ``argv`` to completion and return a :class:`Completed`.

    Raises ``ProcessTimeout`` when ``timeout`` seconds pass, ``fatal_error`` (a ``ProcessError``) when a
    stderr or stdout line matches a pattern in ``fatal``, and ``ProcessError`` when the child exits
    non-zero and ``check`` is true. ``KeyboardInterrupt`` stops the child before propagating.
    """
    args = [os.fspath(a) for a in argv]
    log.info("run: %s", shlex.join(args))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise ProcessError(f"cannot start {Path(args[0]).name}: {exc.strerror or exc}", argv=args) from exc

    out: list[str] = []
    err: list[str] = []
    tail: deque[str] = deque(maxlen=tail_lines)
    fatal_lines: list[str] = []

    def on_fatal(line: str) -> None:
        if not fatal_lines:
            fatal_lines.append(line)
            proc.terminate()

    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, out, None, on_stdout, fatal, on_fatal), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, tail, on_stderr, fatal, on_fatal), daemon=True),
    ]
    for t in readers:
        t.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        for t in readers:
            t.join()
        raise ProcessTimeout(
            f"{Path(args[0]).name} ran past its {timeout:g} s limit and was stopped",
            argv=args,
            returncode=proc.returncode,
            stderr_tail=list(tail),
        ) from None
    except BaseException:
        stop(proc)
        raise
    for t in readers:
        t.join()
    seconds = time.monotonic() - started
    name = Path(args[0]).name
    if fatal_lines:
        raise fatal_error(
            f"{name}: {fatal_lines[0].strip()}", argv=args, returncode=proc.returncode, stderr_tail=list(tail)
        )
    if check and proc.returncode != 0:
        last = next((line.strip() for line in reversed(tail) if line.strip()), "no output")
        raise ProcessError(
            f"{name} exited with code {proc.returncode}: {last}",
            argv=args,
            returncode=proc.returncode,
            stderr_tail=list(tail),
        )
    log.debug("done in %.2f s: %s", seconds, name)
    return Completed(args, proc.returncode, "\n".join(out), "\n".join(err), seconds)
