"""Publishing a package to an S3 origin, atomically, as one immutable version per content.

::

    from origin.publish import publish
    from origin.pointers import current, rollback, unpublish
    pub = publish("out/bbb/package", "bbb", origin)   # → Publication (also saved as a record)
    current(origin, "bbb")                             # → Pointer | None: the version players get
    rollback(origin, "bbb")                            # pointer back to the previous version → Publication
    unpublish(origin, "bbb")                           # pointer first, then every version → objects removed

The bucket layout is ``origin.layout``'s (``titles/<title>/current.json``, ``.../v/<version>/...``,
``.../publications/<version>.json``). ``<version>`` is a hash of the package's content (every path and
its SHA-256), so publishing the same package twice is the same version and sends nothing. Objects go up
in phases, each verified before the next starts (``origin.files``): media, then media playlists, then
the master manifests and package.json, then the publication record, then the pointer. A reader that
starts from the pointer can only reach a version whose every object is already stored; a reader that
starts from a version's manifest finds everything it references there too.

Keys never go to the origin (``origin.keycheck``): nothing is sent if one file fails.

The pieces: ``origin.files`` (the package folder as files to send), ``origin.keycheck`` (the key-leak
refusal), ``origin.upload`` (sending and verifying), ``origin.pointers`` (``current``, ``rollback``,
``unpublish``), ``origin.records`` (``Publication``), ``origin.store`` (every S3 call).

Errors: ``NotAPackage`` (a usage error), ``KeyMaterialFound``, ``OriginUnreachable`` (the endpoint
failed a request: one line naming the endpoint, the object and why), ``ChecksumMismatch``,
``NotPublished``; ``OriginNotRunning`` comes from resolving the embedded origin.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from origin.config import Origin
from origin.files import MANIFEST, POINTER, package_version, phases, read_package
from origin.keycheck import refuse_key_material
from origin.layout import Pointer
from origin.pointers import (
    HISTORY,
    pointer_key,
    put_record,
    read_pointer,
    record_key,
    version_root,
)
from origin.records import Publication, PublishedObject
from origin.store import Store
from origin.upload import DEFAULT_TRANSFER, matches, send, verify
from packager import KeyStore
from vodflow.ids import check_title

__all__ = ["publish"]

log = logging.getLogger(__name__)


def publish(
    package_dir: str | os.PathLike[str],
    title: str,
    origin: Origin,
    *,
    keystore: KeyStore | str | os.PathLike[str] | None = None,
    client=None,
    transfer: TransferConfig = DEFAULT_TRANSFER,
    record: str | os.PathLike[str] | None = None,
) -> Publication:
    """Publish the package in ``package_dir`` as ``title`` on ``origin`` and move its pointer there.

    Returns the ``Publication`` (saved to ``record`` if given). Unchanged objects are not sent; a
    version already current sends nothing at all. ``client`` is a boto3 S3 client to use (default:
    ``origin.client()`` sized for ``transfer``). Raises ``NotAPackage``, ``KeyMaterialFound``,
    ``UsageError`` (bad title, key store unusable for the check), ``OriginUnreachable``,
    ``ChecksumMismatch``. On any failure the pointer still names the version it named before."""
    started = time.monotonic()
    check_title(title)
    package_dir = Path(package_dir)
    keys = keystore if isinstance(keystore, KeyStore) else KeyStore(keystore)
    pkg, files = read_package(package_dir, transfer)
    refuse_key_material(package_dir, pkg, title, files, keys)
    version = package_version(files)
    root = version_root(origin, title, version)
    store = Store(origin, client=client, max_connections=transfer.max_concurrency + 2)
    loc = origin.location

    stored = store.list(f"{root}/")
    sent = sent_bytes = 0  # objects and bytes of the package sent by this run
    for phase in phases(files):
        todo = [f for f in phase if not matches(store, f"{root}/{f.rel}", stored.get(f"{root}/{f.rel}"), f)]
        if todo:
            send(store.client, origin, todo, root, transfer)
            sent += len(todo)
            sent_bytes += sum(f.size for f in todo)
            stored = verify(store, phase, root)
    stored = store.list(f"{root}/")

    before = read_pointer(store, title)
    objects = [
        PublishedObject(
            path=f.rel,
            key=f"{root}/{f.rel}",
            size=f.size,
            etag=stored[f"{root}/{f.rel}"]["ETag"].strip('"'),
            sha256=f.sha256,
            content_type=f.content_type,
            cache_control=f.cache_control,
        )
        for f in files
    ]
    manifests = {name: f"{root}/{rel}" for name, rel in (("dash", pkg.dash), ("hls", pkg.hls)) if rel}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if before is None:
        previous = None
    elif before.version != version:
        previous = before.version
    else:  # re-publishing the current version: what was before it still is
        previous = before.history[-1] if before.history else None
    pub = Publication(
        title=title,
        bucket=loc.bucket,
        prefix=loc.prefix,
        endpoint=origin.endpoint_url,
        version=version,
        root=root,
        pointer=pointer_key(origin, title),
        package_title=pkg.title,
        encryption=pkg.encryption,
        objects=objects,
        manifests=manifests,
        urls={name: origin.url(key) for name, key in manifests.items()},
        previous=previous,
        published_at=now,
        sent=sent,
        sent_bytes=sent_bytes,
        seconds=0.0,
    )
    rkey = record_key(origin, title, version)
    if rkey not in store.list(rkey):
        put_record(store, rkey, pub, MANIFEST)
        sent += 1
    if before is None or before.version != version:
        history = [v for v in ([*before.history, before.version] if before else []) if v != version]
        pointer = Pointer(
            title=title,
            version=version,
            root=root,
            dash=pkg.dash,
            hls=pkg.hls,
            published_at=now,
            history=history[-HISTORY:],
        )
        put_record(store, pub.pointer, pointer, POINTER)
        sent += 1
    pub = pub.model_copy(update={"sent": sent, "seconds": round(time.monotonic() - started, 3)})
    if record is not None:
        pub.save(record)
    log.info("published %s version %s: %d objects sent in %.1f s", title, version, sent, pub.seconds)
    return pub
