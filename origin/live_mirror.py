"""A running live channel's mirror on the origin: ``live/<channel>/<file>`` (``origin.layout``).

The channel's supervisor hands each file the moment it is whole (init segments, complete media
segments) to ``LiveMirror.put`` and each file it deletes from the window to ``LiveMirror.drop``; one
thread sends them in order, so the origin holds the same window as the channel folder, seconds behind.
Players are not served from it while the channel is live (the edge serves the packager's folder: a part
exists there the moment it is written, and a round trip to S3 per 0.5 s part would cost more than the
part itself); it is what survives the packager's machine, and where the channel's VOD title is built
from when the folder is gone. A failed upload is retried, then counted in ``failed`` and logged: the
channel goes on (its folder still has the file), and ``MirrorStats`` says how far behind the origin is.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path

from origin import layout
from origin.config import Origin
from origin.errors import OriginError
from origin.store import Store
from vodflow.records import Record

__all__ = ["LiveMirror", "MirrorStats"]

log = logging.getLogger(__name__)

_ATTEMPTS = 3
_RETRY_S = 0.5
_CONTENT_TYPE = "video/iso.segment"


class MirrorStats(Record):
    """How the mirror is doing: files stored and bytes sent, files deleted, failures (after retries),
    files waiting, and the longest time a file waited from ``put`` to stored."""

    stored: int = 0
    sent_bytes: int = 0
    deleted: int = 0
    failed: int = 0
    pending: int = 0
    max_lag_s: float = 0.0
    last_error: str = ""


class LiveMirror:
    """Mirror channel ``channel``'s files to ``origin`` (see the module doc); a context manager."""

    def __init__(self, origin: Origin, channel: str, *, store: Store | None = None) -> None:
        self.channel = channel
        self.store = store or Store(origin, max_connections=4)
        self._queue: queue.Queue[tuple[str, Path | bytes | None, float] | None] = queue.Queue()
        self._counts = {"stored": 0, "sent_bytes": 0, "deleted": 0, "failed": 0, "max_lag_s": 0.0, "last_error": ""}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"mirror-{channel}", daemon=True)
        self._thread.start()

    def key(self, name: str) -> str:
        """The object key of the channel's file ``name``."""
        return self.store.key(layout.live_object(self.channel, name))

    def put(self, path: Path, data: bytes | None = None) -> None:
        """Send the whole file at ``path`` (named as in the channel folder) soon; ``data``: send these bytes
        under its name instead (an init segment as players get it, with its ``pssh``)."""
        self._queue.put((path.name, path if data is None else data, time.monotonic()))

    def drop(self, name: str) -> None:
        """Delete the channel's file ``name`` from the mirror soon (after anything put before)."""
        self._queue.put((name, None, time.monotonic()))

    @property
    def stats(self) -> MirrorStats:
        with self._lock:
            return MirrorStats(**self._counts, pending=self._queue.qsize())

    def close(self, timeout: float = 30.0) -> MirrorStats:
        """Send what is queued (for at most ``timeout`` s), stop the thread; returns the stats."""
        self._queue.put(None)
        self._thread.join(timeout)
        return self.stats

    def remove_all(self) -> int:
        """Delete the whole mirror (the channel became a VOD title); returns how many objects."""
        return self.store.delete_prefix(self.store.key(layout.live_root(self.channel)) + "/")

    def __enter__(self) -> LiveMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            name, path, queued = job
            error = ""
            for attempt in range(_ATTEMPTS):
                try:
                    if path is None:
                        self.store.delete(self.key(name))
                    else:
                        body = path if isinstance(path, bytes) else path.read_bytes()
                        self.store.put(self.key(name), body, content_type=_CONTENT_TYPE)
                    break
                except FileNotFoundError:
                    error = f"{path}: gone before it was mirrored"
                    break
                except OriginError as exc:
                    error = str(exc)
                    time.sleep(_RETRY_S * (attempt + 1))
            else:
                error = error or "failed"
            with self._lock:
                c = self._counts
                if error and error != c["last_error"]:  # each new trouble once, not once a segment
                    log.warning("live mirror of %s: %s", self.channel, error)
                if error:
                    c["failed"] += 1
                    c["last_error"] = error
                elif path is None:
                    c["deleted"] += 1
                else:
                    c["stored"] += 1
                    c["sent_bytes"] += len(body)
                    c["max_lag_s"] = max(c["max_lag_s"], time.monotonic() - queued)
