"""What players start from: a title's pointer (``origin.layout.Pointer``), read, moved back, removed.

``current`` reads it, ``rollback`` points it at the version before, ``unpublish`` removes it first (so
players stop finding the title) and then every version. ``publish`` (``origin.publish``) moves it forward.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from origin import layout
from origin.config import Origin
from origin.errors import NotPublished, ObjectMissing
from origin.files import POINTER
from origin.layout import Pointer
from origin.records import Publication
from origin.store import Store
from vodflow.records import Record

__all__ = [
    "HISTORY",
    "current",
    "pointer_key",
    "put_record",
    "read_pointer",
    "record_key",
    "rollback",
    "unpublish",
    "version_root",
]

log = logging.getLogger(__name__)

HISTORY = 20  # versions the pointer remembers for rollback


def pointer_key(origin: Origin, title: str) -> str:
    """The object key of ``title``'s pointer (``<prefix>/titles/<title>/current.json``)."""
    return origin.location.key(layout.pointer(title))


def version_root(origin: Origin, title: str, version: str) -> str:
    """The key prefix (no trailing slash) under which ``title``'s ``version`` is stored."""
    return origin.location.key(layout.version_root(title, version))


def record_key(origin: Origin, title: str, version: str) -> str:
    """The object key of the Publication record of ``title``'s ``version``."""
    return origin.location.key(layout.publication(title, version))


def put_record(store: Store, key: str, record: Record, cache_control: str) -> None:
    """Store ``record`` as JSON at ``key`` with its SHA-256 checked by the origin; raises ``OriginUnreachable``."""
    store.put(
        key, record.to_json().encode(), content_type="application/json", cache_control=cache_control, checksum=True
    )


def read_pointer(store: Store, title: str) -> Pointer | None:
    """``title``'s pointer through ``store``, or None when it is not published; raises ``OriginUnreachable``."""
    try:
        return Pointer.from_json(store.get(pointer_key(store.origin, title)))
    except ObjectMissing:
        return None


def current(origin: Origin, title: str, *, client=None) -> Pointer | None:
    """``title``'s pointer, or None when it is not published; raises ``OriginUnreachable``.

    ``client``: a boto3 S3 client to use (default: a new one for ``origin``)."""
    return read_pointer(Store(origin, client=client), title)


def rollback(origin: Origin, title: str, *, client=None) -> Publication:
    """Point ``title`` at the version it had before the current one; returns that version's Publication.

    Raises ``NotPublished`` when the title is not published or has no previous version, ``ObjectMissing``
    when that version's record is gone, ``OriginUnreachable``."""
    store = Store(origin, client=client)
    ptr = read_pointer(store, title)
    if ptr is None:
        raise NotPublished(f"title {title!r} is not published at {origin.location}")
    if not ptr.history:
        raise NotPublished(f"title {title!r} has no version before {ptr.version} to roll back to")
    prev = ptr.history[-1]
    # reading the record proves the version is still there before the pointer names it
    pub = Publication.from_json(store.get(record_key(origin, title, prev)))
    rel = {name: key[len(pub.root) + 1 :] for name, key in pub.manifests.items()}
    moved = Pointer(
        title=title,
        version=prev,
        root=pub.root,
        dash=rel.get("dash"),
        hls=rel["hls"],
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        history=ptr.history[:-1],
    )
    put_record(store, pointer_key(origin, title), moved, POINTER)
    log.info("rolled %s back from %s to %s", title, ptr.version, prev)
    return pub


def unpublish(origin: Origin, title: str, *, client=None) -> int:
    """Remove ``title``: the pointer first (players stop finding it), then every version; returns the
    number of objects deleted. Raises ``NotPublished`` when nothing of the title is stored,
    ``OriginUnreachable``."""
    store = Store(origin, client=client)
    pkey = pointer_key(origin, title)
    objects = store.list(origin.location.key(layout.title_root(title)) + "/")
    if not objects:
        raise NotPublished(f"title {title!r} is not published at {origin.location}")
    if pkey in objects:
        store.delete(pkey)
    store.delete_many(sorted(k for k in objects if k != pkey))
    log.info("unpublished %s: %d objects", title, len(objects))
    return len(objects)
