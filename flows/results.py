"""Prefect result storage on the origin itself: where a remote Dask cluster's tasks persist their results.

A task cached by Prefect writes its result record to a file-system block, and Prefect insists the block
is saved on its server (the record names the block). A local cluster's workers share the flow machine's
disk, so the workspace root (a ``LocalFileSystem``) serves them; workers on other machines share nothing
with it but the S3 origin, so their results go there: ``OriginResultStorage`` keeps each record as the
object ``<prefix>/<key>`` in the origin's bucket.

What Prefect saves of the block is its endpoint, bucket, prefix and region: no credential. The keys
travel with the block instance itself (a private attribute, pickled to the Dask workers with the task,
exactly as the chunk task's own ``Origin`` argument is) and are never written to Prefect's database. A
copy loaded from the server by name or id has none and takes them from its environment, as
``Origin.resolve`` does (the AWS variables, else the embedded origin's keys).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib

from prefect._internal.compatibility.async_dispatch import async_dispatch
from prefect.filesystems import WritableFileSystem
from pydantic import PrivateAttr

from origin.config import Origin, S3Location
from origin.errors import ObjectMissing
from origin.store import Store

__all__ = ["OriginResultStorage"]


@functools.lru_cache(maxsize=8)
def _store(origin: Origin) -> Store:
    """One object store (one boto3 client) per origin and process (clients are thread-safe; Prefect reads
    and writes from its own threads)."""
    return Store(origin)


class OriginResultStorage(WritableFileSystem):
    """Result records as objects under ``s3://<bucket>/<prefix>/`` on the origin at ``endpoint_url``."""

    _block_type_name = "Vodflow Origin Results"

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    _origin: Origin | None = PrivateAttr(default=None)

    @classmethod
    def on(cls, origin: Origin, *parts: str) -> OriginResultStorage:
        """The storage under ``origin``'s prefix + ``parts``, saved on the Prefect server (one block per
        endpoint and location, overwritten in place) and carrying ``origin``'s credentials in memory."""
        prefix = origin.location.key(*parts)
        block = cls(bucket=origin.location.bucket, prefix=prefix, endpoint_url=origin.endpoint_url,
                    region=origin.region)  # fmt: skip
        where = f"{origin.endpoint_url}\0{origin.location.bucket}\0{prefix}"
        block.save(f"vodflow-origin-results-{hashlib.sha256(where.encode()).hexdigest()[:12]}", overwrite=True)
        block._origin = origin
        return block

    def origin(self) -> Origin:
        """The origin this block writes to: the one it was made with, else one from the environment (looked
        up once: it reads the embedded origin's state files)."""
        if self._origin is None:
            resolved = Origin.resolve(f"s3://{self.bucket}")
            if resolved.endpoint_url != self.endpoint_url:  # the environment names another endpoint: its keys
                resolved = Origin(location=resolved.location, endpoint_url=self.endpoint_url, region=self.region)
            self._origin = resolved
        return self._origin

    def key(self, path: str) -> str:
        """The object key of ``path``."""
        return S3Location(bucket=self.bucket, prefix=self.prefix).key(path)

    def _read(self, path: str) -> bytes:
        try:
            return _store(self.origin()).get(self.key(path))
        except ObjectMissing:
            raise FileNotFoundError(f"s3://{self.bucket}/{self.key(path)}") from None

    def _write(self, path: str, content: bytes) -> str:
        key = self.key(path)
        _store(self.origin()).put(key, content)
        return key

    async def aread_path(self, path: str) -> bytes:
        return await asyncio.to_thread(self._read, path)

    @async_dispatch(aread_path)
    def read_path(self, path: str) -> bytes:
        """The bytes of ``<prefix>/<path>``; ``FileNotFoundError`` when there is no such object (Prefect
        takes any error here for "not cached")."""
        return self._read(path)

    async def awrite_path(self, path: str, content: bytes) -> str:
        return await asyncio.to_thread(self._write, path, content)

    @async_dispatch(awrite_path)
    def write_path(self, path: str, content: bytes) -> str:
        """Store ``content`` as ``<prefix>/<path>`` (one PUT: a reader sees the whole record or none)."""
        return self._write(path, content)
