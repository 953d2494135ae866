"""The object store of one origin: one boto3 S3 client for one ``Origin`` (endpoint + bucket + prefix).

::

    store = Store(origin)
    key = store.key("work", digest, "source.mp4")     # the origin's prefix in front
    store.upload("in.mp4", key); store.head(key)       # → {"ContentLength": ...} | None
    store.get(key); store.put(key, b"...")
    store.list(store.key("work") + "/")                # → {key: listing entry}
    store.delete(key); store.delete_prefix(store.key("work") + "/")   # → objects deleted
    store.presign(key, seconds=3600)                   # → a GET URL ffmpeg can read

Keys are whole object keys in the origin's bucket (``store.key(...)`` builds them under its prefix).
Every S3 failure becomes an ``origin.errors`` error with one line naming the endpoint and the object:
``ObjectMissing`` when the object is not there, ``OriginUnreachable`` for everything else.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from origin.config import Origin
from origin.errors import ObjectMissing, OriginError, OriginUnreachable

__all__ = ["S3_ERRORS", "Store"]

# What boto3 raises for a failed request or transfer; ``Store.error`` turns each into one line.
S3_ERRORS = (BotoCoreError, ClientError, S3UploadFailedError)
_MISSING = ("NoSuchKey", "404", "NotFound")
_BATCH = 1000  # DeleteObjects takes at most this many keys per request


class Store:
    """The objects of ``origin``'s bucket through one client (thread-safe, like the boto3 client).

    ``client`` is a boto3 S3 client to use instead of a new ``origin.client(max_connections=...)``."""

    def __init__(self, origin: Origin, *, client=None, max_connections: int = 16) -> None:
        self.origin = origin
        self.bucket = origin.location.bucket
        self.client = client if client is not None else origin.client(max_connections=max_connections)

    def __repr__(self) -> str:
        return f"Store({self.origin.endpoint_url or 'S3'}, {self.origin.location})"

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the origin's prefix (``S3Location.key``)."""
        return self.origin.location.key(*parts)

    def url(self, key: str) -> str:
        """The path-style URL of ``key`` (unsigned: what the edge fetches with its own keys)."""
        return self.origin.url(key)

    def error(self, action: str, key: str, exc: BaseException) -> OriginError:
        """The one-line error for ``action`` ("reading", "uploading"...) on ``key`` having failed with
        ``exc``: ``ObjectMissing`` for a missing object, else ``OriginUnreachable``."""
        where = self.origin.endpoint_url or "S3"
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            why = f"{err.get('Code') or status}: {err.get('Message') or 'no message'}"
            kind = ObjectMissing if _missing(exc) else OriginUnreachable
            return kind(f"{where}: {action} s3://{self.bucket}/{key} failed: {why}")
        if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
            why = "cannot connect (is the origin running? `vodflow origin status`)"
        elif isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
            why = "timed out"
        else:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return OriginUnreachable(f"{where}: {action} s3://{self.bucket}/{key} failed: {why}")

    def head(self, key: str) -> dict | None:
        """The ``HeadObject`` answer of ``key`` (``ContentLength``, ``ETag``, ``Metadata``...), or None
        when there is no such object; raises ``OriginUnreachable``."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except S3_ERRORS as exc:
            if isinstance(exc, ClientError) and _missing(exc):
                return None
            raise self.error("reading", key, exc) from exc

    def exists(self, key: str) -> bool:
        """True when ``key`` is stored; raises ``OriginUnreachable``."""
        return self.head(key) is not None

    def list(self, prefix: str) -> dict[str, dict]:
        """Every object whose key starts with ``prefix`` (give ``root + "/"`` for a folder): key → its
        listing entry (``Size``, ``ETag``, ``LastModified``). Raises ``OriginUnreachable``."""
        out: dict[str, dict] = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    out[obj["Key"]] = obj
        except S3_ERRORS as exc:
            raise self.error("listing", prefix, exc) from exc
        return out

    def get(self, key: str) -> bytes:
        """The bytes of ``key``; raises ``ObjectMissing`` when it is not stored, else ``OriginUnreachable``."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except S3_ERRORS as exc:
            raise self.error("reading", key, exc) from exc

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        cache_control: str | None = None,
        checksum: bool = False,
    ) -> None:
        """Store ``body`` as ``key``. ``checksum``: send its SHA-256 (the origin refuses other bytes) and
        keep it as ``sha256`` metadata. Raises ``OriginUnreachable``."""
        extra: dict = {}
        if content_type is not None:
            extra["ContentType"] = content_type
        if cache_control is not None:
            extra["CacheControl"] = cache_control
        if checksum:
            digest = hashlib.sha256(body).digest()
            extra["ChecksumSHA256"] = base64.b64encode(digest).decode()
            extra["Metadata"] = {"sha256": digest.hex()}
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        except S3_ERRORS as exc:
            raise self.error("writing", key, exc) from exc

    def upload(self, path: str | os.PathLike[str], key: str) -> None:
        """Send the file at ``path`` as ``key`` (multipart when large); raises ``OriginUnreachable``."""
        try:
            self.client.upload_file(os.fspath(path), self.bucket, key)
        except S3_ERRORS as exc:
            raise self.error("uploading", key, exc) from exc

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Write ``key`` to the file at ``path``; raises ``ObjectMissing`` or ``OriginUnreachable``."""
        try:
            self.client.download_file(self.bucket, key, os.fspath(path))
        except S3_ERRORS as exc:
            raise self.error("downloading", key, exc) from exc

    def delete(self, key: str) -> None:
        """Delete ``key`` (no error when it is not there); raises ``OriginUnreachable``."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except S3_ERRORS as exc:
            raise self.error("deleting", key, exc) from exc

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` (1000 per request); returns how many were asked for. Raises ``OriginUnreachable``
        naming the first key the origin refused."""
        keys = list(keys)
        for i in range(0, len(keys), _BATCH):
            batch = [{"Key": k} for k in keys[i : i + _BATCH]]
            try:
                res = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except S3_ERRORS as exc:
                raise self.error("deleting", batch[0]["Key"], exc) from exc
            if res.get("Errors"):
                err = res["Errors"][0]
                where = self.origin.endpoint_url or "S3"
                raise OriginUnreachable(
                    f"{where}: deleting s3://{self.bucket}/{err['Key']} failed: {err.get('Code')}: {err.get('Message')}"
                )
        return len(keys)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; returns how many. Raises ``OriginUnreachable``."""
        return self.delete_many(sorted(self.list(prefix)))

    def presign(self, key: str, *, seconds: int) -> str:
        """A URL anyone can GET ``key`` with for ``seconds`` (no request is made; nothing raised)."""
        params = {"Bucket": self.bucket, "Key": key}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)


def _missing(exc: ClientError) -> bool:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return err.get("Code") in _MISSING or status == 404
