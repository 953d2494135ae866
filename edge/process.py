"""The edge as its own process: ``python -m edge ...`` started, waited for and stopped in one place.

The demo, the benchmark, the tests and the end-to-end pages all run the edge this way. ``EdgeProcess``
starts it through ``vodflow.process.spawn``, reads the one JSON line ``edge.run`` prints on stdout once it
listens (``{"edge": URL, "upstream": ..., "pid": ...}``), and stops it through ``vodflow.process.stop``
(terminate, wait, kill, wait). stderr goes to a log file, never to a pipe nobody reads: the edge logs a
warning per failed fetch, and a full pipe would block its event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from edge.errors import EdgeError
from vodflow.process import spawn, stop

__all__ = ["EdgeProcess"]


class EdgeProcess:
    """``python -m edge *args`` running as a child; ready (listening) once the constructor returns.

    ``args``: the edge's options (``--port 0`` picks a free port). ``env``, ``cwd``: the child's.
    ``log``: the file stderr goes to (a temporary file, removed on stop, when ``None``). ``prefix``: argv
    in front of the interpreter (``["taskset", "-c", "0"]``). ``timeout``: seconds to wait for the ready
    line. ``grace``: seconds between terminate and kill on stop. ``read_stdout``: when true the caller
    reads the access log lines from ``proc.stdout``; otherwise they are copied to ``log``, so the pipe
    never fills.

    Attributes: ``url`` (``http://host:port``), ``info`` (the ready line as a dict), ``proc`` (the
    ``Popen``), ``pid``, ``log`` (the log file's path). Raises ``EdgeError`` (one line, naming the log
    file) when the edge exits or stays silent past ``timeout`` before it is ready, ``ProcessError`` when
    it cannot start. Use as a context manager or call ``stop``.
    """

    def __init__(
        self,
        args: Sequence[str | os.PathLike[str]] = (),
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log: str | os.PathLike[str] | None = None,
        prefix: Sequence[str] = (),
        timeout: float = 30.0,
        grace: float = 5.0,
        read_stdout: bool = False,
    ) -> None:
        self._temporary = log is None
        if log is None:
            fd, name = tempfile.mkstemp(prefix="edge-", suffix=".log")
            os.close(fd)
            log = name
        self.log = Path(log)
        self.grace = grace
        self._copier: threading.Thread | None = None
        # Append mode: the child's stderr and the copied access log share the file without overwriting.
        self._log_file: IO[str] = self.log.open("a")
        argv = [*prefix, sys.executable, "-m", "edge", *(os.fspath(a) for a in args)]
        try:
            self.proc: subprocess.Popen[str] = spawn(
                argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=self._log_file, text=True
            )
        except BaseException:
            self._log_file.close()
            raise
        try:
            self.info: dict = self._wait_ready(timeout)
        except BaseException:
            self._temporary = False  # keep the log the error names
            self.stop()
            raise
        self.url: str = self.info["edge"]
        if not read_stdout:
            self._copier = threading.Thread(target=self._copy_stdout, name="edge-stdout", daemon=True)
            self._copier.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(timeout=left):
                    break
                line = self.proc.stdout.readline()
                if not line:
                    self.proc.wait()
                    code = self.proc.returncode
                    raise EdgeError(f"the edge exited with code {code} before it was ready; see {self.log}")
                if line.startswith("{"):
                    with contextlib.suppress(ValueError):
                        info = json.loads(line)
                        if isinstance(info, dict) and isinstance(info.get("edge"), str):
                            return info
        raise EdgeError(f"the edge was not ready within {timeout:g} s; see {self.log}")

    def _copy_stdout(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        with contextlib.suppress(OSError, ValueError):  # the log closed under us by stop()
            for line in stdout:
                self._log_file.write(line)
                self._log_file.flush()

    def stop(self) -> int | None:
        """Stop the edge (terminate, wait ``grace`` s, kill, wait) and close its log; returns its exit code.
        Safe to call twice."""
        stop(self.proc, grace=self.grace)
        if self._copier is not None:
            self._copier.join(1.0)  # the child is gone: the copier reads to the end of the pipe and returns
        if self.proc.stdout is not None and (self._copier is None or not self._copier.is_alive()):
            self.proc.stdout.close()
        if not self._log_file.closed:
            self._log_file.close()
        if self._temporary:
            with contextlib.suppress(OSError):
                self.log.unlink()
        return self.proc.returncode

    def __enter__(self) -> EdgeProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        return f"EdgeProcess(url={getattr(self, 'url', None)!r}, pid={self.proc.pid}, {state})"
