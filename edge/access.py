"""The edge's access log: one JSON line per answer on the ``vodflow.edge.access`` logger.

``AccessLogger`` is aiohttp's hook for the answers the application gives (it also counts them in the
metrics); the hit fast path (``edge.fast``) writes its own answers with ``log_access``. The path is logged
without its query string: that carries tokens. ``edge.run`` sends the logger to stdout unless
``--no-access-log``.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from edge.server import EDGE_KEY

__all__ = ["AccessLogger", "access_log", "log_access"]

access_log = logging.getLogger("vodflow.edge.access")


def log_access(remote: str | None, method: str, path: str, status: int, size: int, elapsed: float,
               cache: str | None) -> None:  # fmt: skip
    """Write one JSON access-log line (the path without its query string: that carries tokens)."""
    access_log.info(
        json.dumps(
            {
                "ts": round(time.time(), 3),
                "remote": remote,
                "method": method,
                "path": path,
                "status": status,
                "bytes": size,
                "ms": round(elapsed * 1000, 2),
                "cache": cache,
            }
        )
    )


class AccessLogger(AbstractAccessLogger):
    """Counts every answer in the metrics and, when ``vodflow.edge.access`` logs at INFO, writes it as
    one JSON object (the query string is left out: it carries tokens)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, elapsed: float) -> None:
        try:
            edge = request.app[EDGE_KEY]
        except (AssertionError, AttributeError, KeyError):
            edge = None  # a request aiohttp's parser refused (400/414) never reached the application
        size = response.body_length
        if edge is not None:
            edge.metrics.requests[response.status] += 1
            edge.metrics.bytes_served += size
        if access_log.isEnabledFor(logging.INFO):
            log_access(
                request.remote, request.method, request.path, response.status, size, elapsed,
                response.headers.get("X-Cache"),
            )  # fmt: skip

    @property
    def enabled(self) -> bool:
        return True
