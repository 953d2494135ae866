"""The embedded origin's state folder, read without starting anything: its records, and whether it runs.

``origin.seaweed.Seaweed`` writes this folder (``up``/``down``); ``origin.config.Origin.resolve`` only
needs to read it, so both build on this module and neither imports the other's way round::

    origin.json        OriginState: pid (None once stopped), endpoint, bucket, ports, argv; no secret
    credentials.json   Credentials: the generated access and secret key (0600), kept across restarts
    data/              weed's data (its path is on weed's command line: how a live weed is recognised)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from origin.errors import OriginNotRunning
from vodflow.records import Record
from vodflow.state import State, folder

__all__ = ["CREDENTIALS", "DATA", "STATE", "Credentials", "OriginState", "alive", "credentials", "running", "state"]

STATE = "origin.json"
CREDENTIALS = "credentials.json"
DATA = "data"


class Credentials(Record):
    """The embedded origin's S3 access key and secret key."""

    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key=...)"


class OriginState(Record):
    """What ``up`` started: ``pid`` is None once stopped (the ports are kept for the next start)."""

    pid: int | None
    endpoint: str
    bucket: str
    ports: dict[str, int]
    data_dir: str
    log: str
    argv: list[str]
    started_at: float


def state(state_dir: Path) -> OriginState | None:
    """The last saved state in ``state_dir``, or None if that folder never started an origin."""
    try:
        return OriginState.load(state_dir / STATE)
    except (FileNotFoundError, ValueError):
        return None


def credentials(state_dir: Path) -> Credentials:
    """The S3 keys kept in ``state_dir``; raises ``OriginNotRunning`` if it has none yet."""
    path = state_dir / CREDENTIALS
    if not path.is_file():
        raise OriginNotRunning(f"no embedded origin in {state_dir}; start it with `vodflow origin up`")
    return Credentials.load(path)


def alive(pid: int | None, state_dir: Path) -> bool:
    """True when ``pid`` is a live ``weed mini`` on ``state_dir``'s data (not a reused pid)."""
    if pid is None:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: trust the pid
        with contextlib.suppress(OSError):
            os.kill(pid, 0)
            return True
        return False
    if not cmdline:  # a zombie, or a child between fork and exec (just after Popen)
        try:
            st = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return st not in ("Z", "X")
    return b"mini" in cmdline and f"-dir={(state_dir / DATA).resolve()}".encode() in cmdline


def running(state_dir: str | os.PathLike[str] | None = None) -> tuple[OriginState, Credentials]:
    """The state and keys of the embedded origin of ``state_dir`` (default ``$VODFLOW_ORIGIN``, else
    ``.vodflow/origin``). Raises ``OriginNotRunning`` when its process is not running (S3 is not probed)."""
    where = folder(State.ORIGIN, state_dir)
    st = state(where)
    if st is None or not alive(st.pid, where):
        raise OriginNotRunning(f"the embedded origin in {where} is not running; start it with `vodflow origin up`")
    return st, credentials(where)
