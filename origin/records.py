"""The records publish writes: a ``Publication`` per title version, listing its ``PublishedObject``s.

A Publication is saved in the bucket (``origin.layout.publication``) and returned to the caller; the
``Pointer`` players start from is ``origin.layout.Pointer``.
"""

from __future__ import annotations

from vodflow.records import Record

__all__ = ["Publication", "PublishedObject"]


class PublishedObject(Record):
    """One stored object: package path, object key, size, ETag (as the origin reports it), SHA-256 (hex)."""

    path: str
    key: str
    size: int
    etag: str
    sha256: str
    content_type: str
    cache_control: str


class Publication(Record):
    """A title version on an origin. ``manifests`` maps dash/hls to object keys, ``urls`` to endpoint URLs."""

    title: str
    bucket: str
    prefix: str
    endpoint: str | None
    version: str
    root: str  # the key prefix of the version's files, no trailing slash
    pointer: str
    package_title: str
    encryption: str
    objects: list[PublishedObject]
    manifests: dict[str, str]
    urls: dict[str, str]
    previous: str | None  # the version the pointer named before this one (None: first publication)
    published_at: str
    sent: int  # objects sent by the run that wrote this record (0: everything was already there)
    sent_bytes: int
    seconds: float
