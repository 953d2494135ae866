"""A TCP relay in front of a real S3 endpoint that lets a fixed number of object writes through and then
holds every request, so a test can stop the origin after exactly that many objects were stored.

The relay reads request heads only to count ``PUT`` requests and to find where their bodies end
(``Content-Length``); bytes go through unchanged, so signed requests verify at the origin as sent. After
the ``puts``-th PUT it forwards nothing more in either direction of new requests: to the client the
origin has frozen. ``close()`` then drops every connection and stops listening: to the client the
origin has gone away.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit

__all__ = ["Gate"]


class Gate:
    def __init__(self, upstream: str, puts: int) -> None:
        url = urlsplit(upstream)
        self.upstream = (url.hostname or "127.0.0.1", url.port or 80)
        self.left = puts
        self.sent: list[str] = []  # the paths of the PUT requests forwarded, in order
        self.held = threading.Event()  # set once a request was held back
        self.problem: str | None = None  # a request the relay cannot frame (it is held, never forwarded)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, name="gate-accept", daemon=True).start()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop every connection and stop listening (clients then see resets and refused connections)."""
        self._closed.set()
        with self._lock:
            sockets, self._sockets = [self._listener, *self._sockets], []
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _track(self, *sockets: socket.socket) -> bool:
        with self._lock:
            if self._closed.is_set():
                return False
            self._sockets.extend(sockets)
            return True

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            if not self._track(client, server):
                client.close()
                server.close()
                return
            threading.Thread(target=self._requests, args=(client, server), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)

    def _hold(self, why: str | None = None) -> None:
        if why:
            self.problem = why
        self.held.set()
        self._closed.wait()

    def _requests(self, client: socket.socket, server: socket.socket) -> None:
        buf = b""
        with contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buf:
                    if not (data := client.recv(65536)):
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method, path = lines[0].split(b" ")[:2]
                fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
                if b"transfer-encoding" in fields:
                    return self._hold(f"{method.decode()} {path.decode()}: a body without Content-Length")
                with self._lock:
                    stop = self.held.is_set() or (method == b"PUT" and self.left == 0)
                    if not stop and method == b"PUT":
                        self.left -= 1
                        self.sent.append(path.decode())
                if stop:
                    return self._hold()
                server.sendall(head + b"\r\n\r\n")
                length = int(fields.get(b"content-length", b"0"))
                while length:
                    if not buf and not (buf := client.recv(min(65536, length))):
                        return
                    part, buf = buf[:length], buf[length:]
                    server.sendall(part)
                    length -= len(part)
