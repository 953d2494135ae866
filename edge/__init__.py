"""The caching edge: an aiohttp application in front of S3 (or of another edge).

Public names: ``make_app`` and ``EdgeConfig`` (the application), ``EdgeProcess`` (the edge as its own
process), ``S3Upstream``, ``HttpUpstream``, ``Timeouts``, ``Retry`` (where objects come from),
``TokenSigner`` and ``load_secret`` (signed URLs), ``Geo`` and ``IPTable`` (geo restriction),
``Cache``/``Coalescer`` (the cache), and the errors ``EdgeError``, ``BadToken``, ``UpstreamError``,
``UpstreamTimeout``, ``UpstreamNotFound``.

Modules: ``app`` (routes, the guard middleware, ``make_app``), ``server`` (``EdgeConfig`` and ``Edge``:
content from the cache or the upstream), ``keys`` (the key and ClearKey licence endpoints), ``access``
(the JSON access log), ``fast`` (the hit fast path), ``pages`` (catalogue and player pages), ``cache``
(memory LRU, disk tier, coalescing), ``upstream`` (S3 and HTTP fetchers), ``http`` (paths, ranges, entity
tags, gzip), ``tokens``, ``geo``, ``metrics``, ``run`` (options and the server loop; ``python -m edge``),
``process`` (``EdgeProcess``: start ``python -m edge``, wait for its ready line, stop it), ``live``
(``add_live``: live channels' playlists with blocking reload, and their growing segments), ``live_channel``
(the shared waits of one channel), ``live_segments`` (complete and growing segments), ``errors``.
Design: DESIGN.md, "Edge".
"""

from edge.app import make_app
from edge.cache import Cache, Coalescer
from edge.errors import BadToken, EdgeError, UpstreamError, UpstreamNotFound, UpstreamTimeout
from edge.geo import Geo, IPTable
from edge.process import EdgeProcess
from edge.server import EdgeConfig
from edge.tokens import TokenSigner, load_secret
from edge.upstream import HttpUpstream, Retry, S3Upstream, Timeouts

__all__ = [
    "BadToken",
    "Cache",
    "Coalescer",
    "EdgeConfig",
    "EdgeError",
    "EdgeProcess",
    "Geo",
    "HttpUpstream",
    "IPTable",
    "Retry",
    "S3Upstream",
    "Timeouts",
    "TokenSigner",
    "UpstreamError",
    "UpstreamNotFound",
    "UpstreamTimeout",
    "load_secret",
    "make_app",
]
