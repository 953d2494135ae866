"""Where the edge gets objects: an S3 bucket (signed requests) or another edge (tiered caching).

Both speak one small interface, ``Upstream``: ``pointer(title)`` reads the title's pointer (the
``origin.layout.Pointer`` record: which version is current, its manifests), ``version(title)`` the version
it names, and ``object(title, version, path)`` one object of that version. Both share one retrying
HTTP client: a bounded connection pool, connect and read timeouts per attempt, a deadline for the whole
fetch, and retries with exponential backoff and full jitter on 5xx, timeouts and refused or dropped
connections (never on 404 or 403, which another try will not change).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, ValidationError

from edge.errors import EdgeError, UpstreamError, UpstreamNotFound, UpstreamTimeout
from edge.metrics import Metrics
from edge.tokens import TokenSigner
from origin.layout import POINTER, TITLES, Pointer, version_root
from origin.layout import pointer as pointer_key
from packager import DASH_MANIFEST, HLS_MASTER
from vodflow.ids import is_id

__all__ = ["Fetched", "HttpUpstream", "Retry", "S3Upstream", "Timeouts", "Upstream", "parse_pointer"]


@dataclass(frozen=True, kw_only=True)
class Timeouts:
    """Seconds: ``connect`` and ``read`` bound each attempt, ``total`` the whole fetch with its retries."""

    connect: float = 1.0
    read: float = 3.0
    total: float = 5.0


@dataclass(frozen=True, kw_only=True)
class Retry:
    """``attempts`` in all; before attempt n (n >= 1) wait uniform(0, min(cap, base * 2**n)) seconds."""

    attempts: int = 3
    base: float = 0.05
    cap: float = 1.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass(slots=True)
class Fetched:
    """An upstream answer: the body and the headers the edge keeps (``not_modified`` for a 304)."""

    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


class _Named(BaseModel):
    """A pointer that names its version alone: what a parent edge's ``current.json`` answers."""

    model_config = ConfigDict(extra="allow")

    version: Any


def parse_pointer(body: bytes, where: str, title: str) -> Pointer:
    """The ``Pointer`` a pointer object of ``title`` holds. A document that names its ``version`` alone
    (another edge's answer) becomes a Pointer with the packager's manifest names and no publication time.
    Raises ``UpstreamError`` (kind ``protocol``) for anything else or a version outside the ID alphabet."""
    try:
        found = Pointer.from_json(body)
    except ValidationError:
        try:
            named = _Named.model_validate_json(body)
        except ValidationError:
            raise UpstreamError(f"{where}: not a version pointer", kind="protocol") from None
        version = named.version
        if not is_id(version):
            raise UpstreamError(f"{where}: version {version!r} is not a valid name", kind="protocol") from None
        root = version_root(title, version)
        return Pointer(title=title, version=version, root=root, dash=DASH_MANIFEST, hls=HLS_MASTER, published_at="")
    if not is_id(found.version):
        raise UpstreamError(f"{where}: version {found.version!r} is not a valid name", kind="protocol")
    return found


class Upstream(ABC):
    """An origin of objects with one retrying HTTP client. Subclasses say how to name and sign requests."""

    def __init__(
        self,
        *,
        timeouts: Timeouts = Timeouts(),
        retry: Retry = Retry(),
        connections: int = 32,
        max_object_bytes: int = 256 << 20,
        metrics: Metrics | None = None,
    ) -> None:
        self.timeouts = timeouts
        self.retry = retry
        self.connections = connections
        self.max_object_bytes = max_object_bytes
        self.metrics = metrics or Metrics()
        self._session: aiohttp.ClientSession | None = None

    @abstractmethod
    async def pointer(self, title: str) -> Pointer:
        """The title's pointer; raises ``UpstreamNotFound`` for an unpublished title, ``UpstreamError``."""

    async def version(self, title: str) -> str:
        """The title's current version; raises ``UpstreamNotFound`` for an unpublished title."""
        return (await self.pointer(title)).version

    @abstractmethod
    async def object(self, title: str, version: str, path: str, *, etag: str | None = None) -> Fetched:
        """One object of a title version (``not_modified`` when ``etag`` still matches); raises
        ``UpstreamNotFound``, ``UpstreamTimeout`` or ``UpstreamError``."""

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections)
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeouts.connect, sock_read=self.timeouts.read
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent",)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        """The headers to send (subclasses add signatures)."""
        return headers

    async def _get(self, url: str, what: str, *, etag: str | None = None) -> Fetched:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.total
        attempt = 0
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    return await self._once(url, what, etag)
            except UpstreamNotFound:
                raise
            except UpstreamError as exc:
                if exc.kind in ("denied", "protocol"):
                    raise
                last: UpstreamError = exc
            except TimeoutError:
                self.metrics.upstream_errors["timeout"] += 1
                last = UpstreamTimeout(f"{what}: no answer within {self.timeouts.total:g} s")
            attempt += 1
            delay = self.retry.delay(attempt)
            if attempt >= self.retry.attempts or loop.time() + delay >= deadline:
                raise last
            await asyncio.sleep(delay)

    async def _once(self, url: str, what: str, etag: str | None) -> Fetched:
        headers = {"Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        start = time.perf_counter()
        kind = None
        try:
            async with self._client().get(url, headers=self._headers("GET", url, headers)) as resp:
                if resp.status == 200:
                    if (resp.content_length or 0) > self.max_object_bytes:
                        kind = "protocol"
                        raise UpstreamError(f"{what}: larger than {self.max_object_bytes} bytes", kind=kind)
                    body = await resp.read()
                    return Fetched(
                        body,
                        resp.headers.get("Content-Type"),
                        resp.headers.get("ETag"),
                        resp.headers.get("Last-Modified"),
                    )
                if resp.status == 304:
                    return Fetched(b"", etag=resp.headers.get("ETag", etag), not_modified=True)
                if resp.status == 404:
                    kind = "not_found"
                    raise UpstreamNotFound(f"{what}: not found upstream")
                kind = "denied" if resp.status in (401, 403) else "status" if resp.status >= 500 else "protocol"
                if resp.status == 429:
                    kind = "status"
                raise UpstreamError(f"{what}: upstream answered {resp.status}", kind=kind)
        except (aiohttp.ServerTimeoutError, TimeoutError):
            kind = "timeout"
            raise UpstreamTimeout(f"{what}: upstream did not answer in time") from None
        except aiohttp.ClientError as exc:
            kind = "refused"
            raise UpstreamError(f"{what}: upstream connection failed ({type(exc).__name__})", kind=kind) from None
        finally:
            self.metrics.observe_upstream(time.perf_counter() - start)
            if kind is not None:
                self.metrics.upstream_errors[kind] += 1


class S3Upstream(Upstream):
    """Objects in an S3 bucket, read with SigV4-signed GETs (path-style when ``endpoint`` is given).

    Key scheme: ``origin.layout``'s (``titles/<title>/current.json`` the pointer,
    ``titles/<title>/v/<version>/<path>`` an object of a version), under ``prefix``: the origin
    location's prefix. ``titles_prefix`` is where the titles are listed.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        from botocore.auth import S3SigV4Auth
        from botocore.credentials import Credentials

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.titles = self.key(TITLES)  # the folder listed for the catalogue (edge.pages)
        self.region = region
        if endpoint:
            self._base = f"{endpoint.rstrip('/')}/{quote(bucket)}"
        else:
            self._base = f"https://{bucket}.s3.{region}.amazonaws.com"
        if access_key is None:
            import botocore.session

            creds = botocore.session.get_session().get_credentials()
            if creds is None:
                raise EdgeError("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            self._creds = creds
        else:
            self._creds = Credentials(access_key, secret_key or "", session_token)
        self._auth_cls = S3SigV4Auth

    def __repr__(self) -> str:
        return f"S3Upstream({self._base!r}, prefix={self.titles!r})"

    @classmethod
    def from_origin(cls, origin, **kwargs) -> S3Upstream:
        """The titles of an ``origin.config.Origin``: its endpoint, keys and location's prefix
        (``AWS_ENDPOINT_URL`` and the AWS credential chain when the origin names none)."""
        return cls(
            bucket=origin.location.bucket,
            prefix=origin.location.prefix,
            endpoint=origin.endpoint_url or os.environ.get("AWS_ENDPOINT_URL"),
            region=origin.region,
            access_key=origin.access_key,
            secret_key=origin.secret_key,
            **kwargs,
        )

    def key(self, layout_key: str) -> str:
        """The object key of an ``origin.layout`` key (relative to the origin's prefix)."""
        return "/".join(p for p in (self.prefix, layout_key) if p)

    def url(self, key: str) -> str:
        return f"{self._base}/{quote(key, safe='/-_.~')}"

    def _headers(self, method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        from botocore.awsrequest import AWSRequest

        req = AWSRequest(method=method, url=url, headers=headers)
        self._auth_cls(self._creds.get_frozen_credentials(), "s3", self.region).add_auth(req)
        return dict(req.headers.items())

    async def pointer(self, title: str) -> Pointer:
        key = self.key(pointer_key(title))
        fetched = await self._get(self.url(key), key)
        return parse_pointer(fetched.body, key, title)

    async def object(self, title: str, version: str, path: str, *, etag: str | None = None) -> Fetched:
        key = self.key(f"{version_root(title, version)}/{path}")
        return await self._get(self.url(key), key, etag=etag)


class HttpUpstream(Upstream):
    """Another edge: ``/titles/<id>/current.json`` for the pointer and ``/titles/<id>/@<version>/<path>`` for
    objects, each request carrying a short token minted with the shared secret when one is given."""

    def __init__(self, base_url: str, *, signer: TokenSigner | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.signer = signer

    def __repr__(self) -> str:
        return f"HttpUpstream({self.base_url!r})"

    def _url(self, title: str, rest: str) -> str:
        url = f"{self.base_url}/titles/{quote(title)}/{quote(rest, safe='/@-_.~')}"
        if self.signer is not None:
            url += "?token=" + self.signer.sign(f"/titles/{title}/", ttl=300)
        return url

    async def pointer(self, title: str) -> Pointer:
        fetched = await self._get(self._url(title, POINTER), f"{self.base_url} {title} pointer")
        return parse_pointer(fetched.body, f"{self.base_url}/titles/{title}/{POINTER}", title)

    async def object(self, title: str, version: str, path: str, *, etag: str | None = None) -> Fetched:
        url = self._url(title, f"@{version}/{path}")
        return await self._get(url, f"{self.base_url}/titles/{title}/@{version}/{path}", etag=etag)
