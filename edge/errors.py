"""The edge's errors, rooted in ``VodflowError``.

::

    VodflowError
    └── EdgeError                 the edge cannot do what it was configured or asked to do (exit 2)
        ├── BadToken              a token is missing, malformed, tampered, expired or out of scope
        ├── BadPath               a request path refused before routing (400, or 414 when too long)
        ├── RangeNotSatisfiable   a Range header the edge will not serve (416)
        └── UpstreamError         the upstream failed; ``kind`` says how (for metrics and logs)
            ├── UpstreamTimeout   ... by not answering in time (the edge answers 504)
            └── UpstreamNotFound  ... by not having the object (the edge answers 404)

HTTP answers themselves are aiohttp's ``web.HTTPException``s (``HTTPBadGateway``,
``HTTPGatewayTimeout``, ``HTTPForbidden``...): the request handlers translate these errors into them.
"""

from __future__ import annotations

from vodflow.errors import VodflowError

__all__ = [
    "BadPath",
    "BadToken",
    "EdgeError",
    "RangeNotSatisfiable",
    "UpstreamError",
    "UpstreamNotFound",
    "UpstreamTimeout",
]


class EdgeError(VodflowError):
    """The edge is misconfigured or cannot serve a request."""


class BadToken(EdgeError):
    """A signed-URL token that does not authorise the request; ``str()`` says why (never the secret)."""


class BadPath(EdgeError):
    """A request path the edge refuses before routing (400, or 414 when ``too_long``)."""

    def __init__(self, reason: str, *, too_long: bool = False) -> None:
        super().__init__(reason)
        self.too_long = too_long


class RangeNotSatisfiable(EdgeError):
    """A ``Range`` header the edge will not serve (416)."""


class UpstreamError(EdgeError):
    """An upstream fetch failed. ``kind``: ``status`` (5xx), ``timeout``, ``refused``, ``denied`` (401/403),
    ``protocol`` (an answer we cannot use)."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind="timeout")


class UpstreamNotFound(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind="not_found")
