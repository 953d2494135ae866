"""The servers ``bench.edge`` measures, each its own process pinned with ``taskset`` to the server core:
the bench origin and the plain reference (``bench.edge_origin``), our edge (``edge.process.EdgeProcess``)
and nginx with a config written here. ``Proc`` is one of them; ``running`` stops them in any case.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import EdgeError
from edge.process import EdgeProcess

__all__ = [
    "LOAD_CPU", "SECRET", "SERVER_CPU", "TIMEOUT", "Proc", "cpu_seconds", "running", "start_edge", "start_nginx",
    "start_origin", "start_plain",
]  # fmt: skip

SERVER_CPU, LOAD_CPU = "0", "1"
HZ = os.sysconf("SC_CLK_TCK")
TIMEOUT = 2.0  # the edge's --timeout and nginx's proxy_read_timeout (connect: 1 s)
SECRET = "ab" * 32


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (nginx's master and workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            pids += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / HZ


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    url: str
    info: dict = field(default_factory=dict)
    stopper: Callable[[], object] | None = None  # the edge: EdgeProcess.stop

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.stopper is not None:
            self.stopper()
        elif self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def _spawn_json(name: str, argv: list[str], env: dict | None = None, timeout: float = 30) -> Proc:
    """Start ``argv`` on the server core and read its one JSON ready line."""
    # stderr to a file, not a pipe nobody reads: the edge logs a warning per failed fetch, and a full pipe
    # would block its event loop in the middle of the fault scenario.
    err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (lives as long as the process)
    argv = ["taskset", "-c", SERVER_CPU, *argv]
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = popen.stdout.readline()
        if line.startswith("{"):
            info = json.loads(line)
            return Proc(name, popen, info["url"], info)
        if not line and popen.poll() is not None:
            break
    popen.kill()
    err.seek(0)
    raise SystemExit(f"{name} did not start: {err.read()[-2000:]}")


def start_origin() -> Proc:
    return _spawn_json("origin", [sys.executable, "-m", "bench.edge_origin"])


def start_plain() -> Proc:
    return _spawn_json("plain", [sys.executable, "-m", "bench.edge_origin", "--plain"])


def start_edge(name: str, tmp: Path, cache: int, *, upstream: str | None = None, tokens: bool = False,
               env_extra: dict | None = None, origin_url: str | None = None,
               policy: str = "tinylfu") -> Proc:  # fmt: skip
    args = ["--port", "0", "--no-access-log", "--cache-bytes", str(cache)]
    args += ["--cache-policy", policy]
    args += ["--timeout", str(TIMEOUT), "--keys", str(tmp / "keys")]
    args += ["--upstream", upstream] if upstream else ["--origin", origin_url]
    if not tokens:
        args.append("--open")
    env = {**os.environ, "VODFLOW_EDGE_SECRET": SECRET, **(env_extra or {})}
    try:
        edge = EdgeProcess(args, env=env, prefix=["taskset", "-c", SERVER_CPU], grace=10)
    except EdgeError as exc:
        raise SystemExit(f"{name} did not start: {exc}") from None
    return Proc(name, edge.proc, edge.url, edge.info, stopper=edge.stop)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """
worker_processes 1;
user root;
daemon off;
master_process on;
error_log {d}/error.log error;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 1000000; keepalive_timeout 75s;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    proxy_cache_path {d}/cache levels=1:2 keys_zone=edge:32m max_size={cache} inactive=1d use_temp_path=off;
    upstream origin {{ server {upstream}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location /titles/ {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_key $uri;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_lock_age 10s;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
            proxy_connect_timeout 1s;
            proxy_read_timeout {timeout}s;
            proxy_send_timeout {timeout}s;
            proxy_next_upstream off;
            add_header X-Cache $upstream_cache_status;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, cache: int, upstream: str) -> Proc:
    d = Path(tempfile.mkdtemp(prefix="nginx-", dir=tmp))
    port = _free_port()
    up = upstream.removeprefix("http://")
    conf = NGINX_CONF.format(d=d, cache=cache, upstream=up, port=port, timeout=int(TIMEOUT))
    (d / "nginx.conf").write_text(conf)
    popen = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, "nginx", "-c", str(d / "nginx.conf"), "-p", str(d), "-e", str(d / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return Proc("nginx", popen, f"http://127.0.0.1:{port}", {"cache_dir": str(d / "cache"), "max_size": cache})
        if popen.poll() is not None:
            break
        time.sleep(0.05)
    popen.kill()
    raise SystemExit(f"nginx did not start: {popen.stderr.read().decode()[-2000:]}")


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()
