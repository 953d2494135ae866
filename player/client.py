"""HTTP to the edge for the player: one keep-alive connection pool, cookies kept (the edge sets its
token cookie on a manifest request made with ``?token=``; segment requests carry it on), every error
one line.

The simulator fetches every byte it plays through this client, so a session exercises the edge's
cache, coalescing and token checks; only the time the bytes take is virtual.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import urljoin, urlsplit, urlunsplit

import urllib3

from player.errors import FetchFailed

__all__ = ["EdgeClient", "strip_query"]


def strip_query(url: str) -> str:
    """``url`` without its query and fragment (what relative URIs in a manifest resolve against)."""
    s = urlsplit(url)
    return urlunsplit((s.scheme, s.netloc, s.path, "", ""))


class EdgeClient:
    """GETs against one edge; ``bytes_fetched`` and ``requests`` count what really crossed the wire."""

    def __init__(self, *, timeout: float = 10.0, retries: int = 2) -> None:
        self._http = urllib3.PoolManager(
            num_pools=4, maxsize=4, timeout=urllib3.Timeout(total=timeout), retries=urllib3.Retry(retries, redirect=0)
        )
        self._cookies: dict[str, str] = {}
        self.bytes_fetched = 0
        self.requests = 0

    def get(self, url: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """The body of ``url`` (``byte_range`` = inclusive first/last byte); raises ``FetchFailed``."""
        status, body = self.request(url, byte_range=byte_range)
        if status not in (200, 206):
            raise FetchFailed(f"{strip_query(url)}: the edge answered {status}")
        return body

    def request(self, url: str, *, byte_range: tuple[int, int] | None = None) -> tuple[int, bytes]:
        """``(status, body)`` of ``url`` whatever the status (a live player reads 400 and 503 as advice);
        raises ``FetchFailed`` only when the edge cannot be reached."""
        headers = {}
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        if byte_range is not None:
            headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
        try:
            r = self._http.request("GET", url, headers=headers, preload_content=True)
        except urllib3.exceptions.HTTPError as e:
            raise FetchFailed(f"{strip_query(url)}: the edge could not be reached ({e.__class__.__name__})") from None
        for value in r.headers.getlist("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(value)
            self._cookies.update({k: m.value for k, m in jar.items()})
        if r.status in (200, 206):
            self.requests += 1
            self.bytes_fetched += len(r.data)
        return r.status, r.data

    def resolve(self, base: str, ref: str) -> str:
        return urljoin(strip_query(base), ref)

    def close(self) -> None:
        self._http.clear()
