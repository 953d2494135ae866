"""The edge's errors, rooted in ``VodflowError``.

::

    VodflowError
    └── EdgeError                 the edge cannot do what it was configured or asked to do (exit 2)
        ├── BadToken              a token is missing, malformed, tampered, expired or out of scope
        └── UpstreamError         the upstream failed; ``kind`` says how (for metrics and logs)
            ├── UpstreamTimeout   ... by not answering in time (the edge answers 504)
            └── UpstreamNotFound  ... by not having the object (the edge answers 404)

HTTP answers themselves are aiohttp's ``web.HTTPException``s (``HTTPBadGateway``,
``HTTPGatewayTimeout``, ``HTTPForbidden``...): the request handlers translate these errors into them.
"""

from __future__ import annotations

from vodflow.errors import VodflowError

__all__ = ["BadToken", "EdgeError", "UpstreamError", "UpstreamNotFound", "UpstreamTimeout"]


class EdgeError(VodflowError):
    """The edge is misconfigured or cannot serve a request."""


class BadToken(EdgeError):
    """A signed-URL token that does not authorise the request; ``str()`` says why (never the secret)."""


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
