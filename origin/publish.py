"""Publishing a package to an S3 origin, atomically, as one immutable version per content.

::

    from origin.publish import publish, rollback, unpublish, current
    pub = publish("out/bbb/package", "bbb", origin)   # → Publication (also saved as a record)
    current(origin, "bbb")                             # → Pointer | None: the version players get
    rollback(origin, "bbb")                            # pointer back to the previous version → Publication
    unpublish(origin, "bbb")                           # pointer first, then every version → objects removed

Bucket layout (under the origin's prefix)::

    titles/<title>/current.json                the Pointer: version, its root, manifests, history
    titles/<title>/v/<version>/...             the package tree, byte for byte (package.json included)
    titles/<title>/publications/<version>.json the Publication of that version (object list, ETags)

``<version>`` is a hash of the package's content (every path and its SHA-256), so publishing the same
package twice is the same version and sends nothing. Objects go up in phases, each verified before the
next starts: media (init, segments, subtitles' cues, the sprite), then media playlists (and the sprite
index), then the master manifests and package.json, then the publication record, then the pointer. A
reader that starts from the pointer can only reach a version whose every object is already stored;
a reader that starts from a version's manifest finds everything it references there too.

Keys never go to the origin: the files are scanned for every key the key store holds for the title
(raw, hex, base64), a package inside the key store (or the other way round) is refused, and so is any
file the package record does not list, or any symlink. Nothing is sent if one file fails.

Errors: ``NotAPackage`` (a usage error), ``KeyMaterialFound``, ``OriginUnreachable`` (the endpoint
failed a request: one line naming the endpoint, the object and why), ``ChecksumMismatch``,
``NotPublished``; ``OriginNotRunning`` comes from resolving the embedded origin.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from s3transfer.utils import ChunksizeAdjuster

from origin import layout
from origin.config import Origin
from origin.errors import ChecksumMismatch, KeyMaterialFound, NotAPackage, NotPublished, OriginUnreachable
from origin.layout import Pointer
from packager.errors import KeyStoreError
from packager.keys import KeyStore
from packager.model import Package
from vodflow.errors import UsageError
from vodflow.ids import check_title
from vodflow.records import Record

__all__ = [
    "DEFAULT_TRANSFER",
    "Publication",
    "PublishedObject",
    "current",
    "pointer_key",
    "publish",
    "rollback",
    "unpublish",
    "version_root",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# Segments are 10 kB - 5 MB: each is one PUT (one request, an MD5 ETag we can predict). Eight at once
# keep a link busy without flooding a small origin; anything above 16 MiB (a long single-file rendition,
# a huge sprite) goes multipart in 8 MiB parts so a failed part is retried alone.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=16 * MiB, multipart_chunksize=8 * MiB, max_concurrency=8, use_threads=True
)

IMMUTABLE = "public, max-age=31536000, immutable"  # a version's media never changes under its key
MANIFEST = "public, max-age=10"  # manifests too, but players and edges should re-check them soon
POINTER = "no-cache"  # the one object that changes: always revalidate

_MEDIA, _PLAYLISTS, _MASTERS = 1, 2, 3  # upload phases, in order
_HISTORY = 20  # versions the pointer remembers for rollback


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


# --- keys in the bucket (the layout is origin.layout's) ---------------------------------------------


def pointer_key(origin: Origin, title: str) -> str:
    """The object key of ``title``'s pointer (``<prefix>/titles/<title>/current.json``)."""
    return origin.location.key(layout.pointer(title))


def version_root(origin: Origin, title: str, version: str) -> str:
    """The key prefix (no trailing slash) under which ``title``'s ``version`` is stored."""
    return origin.location.key(layout.version_root(title, version))


def _record_key(origin: Origin, title: str, version: str) -> str:
    return origin.location.key(layout.publication(title, version))


# --- local files --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    rel: str
    path: Path
    size: int
    sha256: str
    etag: str  # what an S3 origin reports for it when uploaded with our TransferConfig
    content_type: str
    cache_control: str
    phase: int


def _hash(path: Path, transfer: TransferConfig) -> tuple[str, str]:
    """SHA-256 hex and the S3 ETag (MD5, or MD5 of part MD5s + "-N" when it goes multipart)."""
    size = path.stat().st_size
    chunk = ChunksizeAdjuster().adjust_chunksize(transfer.multipart_chunksize, size)
    multipart = size >= transfer.multipart_threshold
    sha, whole, parts = hashlib.sha256(), hashlib.md5(), []
    with path.open("rb") as fh:
        while block := fh.read(chunk if multipart else MiB):
            sha.update(block)
            if multipart:
                parts.append(hashlib.md5(block).digest())
            else:
                whole.update(block)
    if multipart:
        return sha.hexdigest(), f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"
    return sha.hexdigest(), whole.hexdigest()


def _kind_of(rel: str, pkg: Package, master: set[str]) -> tuple[str, str, int]:
    """(Content-Type, Cache-Control, phase) for a package path."""
    p = PurePosixPath(rel)
    if rel in master:
        ctype = "application/dash+xml" if p.suffix == ".mpd" else "application/vnd.apple.mpegurl"
        return ctype, MANIFEST, _MASTERS
    if rel == "package.json":
        return "application/json", MANIFEST, _MASTERS
    if rel == "quality.json":
        # the per-segment VMAF sidecar (packager.sidecar): describes segments, goes up with the playlists
        return "application/json", MANIFEST, _PLAYLISTS
    if p.suffix == ".m3u8":
        return "application/vnd.apple.mpegurl", MANIFEST, _PLAYLISTS
    if p.suffix == ".vtt":
        # The sprite's index references the sprite: it goes up with the playlists; cues are media.
        index = pkg.thumbnails is not None and rel == pkg.thumbnails.index
        return "text/vtt", MANIFEST if index else IMMUTABLE, _PLAYLISTS if index else _MEDIA
    if p.suffix in (".jpg", ".jpeg"):
        return "image/jpeg", IMMUTABLE, _MEDIA
    if p.suffix in (".mp4", ".m4s"):
        kinds = {s.id: s.kind for s in pkg.streams}
        kind = kinds.get(p.parent.name) if len(p.parts) >= 2 else None
        if kind is None and p.parts[0] in ("video", "audio"):
            kind = p.parts[0]
        return ("audio/mp4" if kind == "audio" else "video/mp4"), IMMUTABLE, _MEDIA
    raise NotAPackage(f"{pkg.root}: {rel} is not a file type a package holds")


def _read_package(package_dir: Path, transfer: TransferConfig) -> tuple[Package, list[_File]]:
    if not package_dir.is_dir():
        raise NotAPackage(f"{package_dir}: no such folder")
    record = package_dir / "package.json"
    if not record.is_file():
        raise NotAPackage(f"{package_dir}: not a package (no package.json; make one with `vodflow package`)")
    try:
        pkg = Package.load(record)
    except ValueError as exc:
        raise NotAPackage(f"{record}: not a package record ({str(exc).splitlines()[0]})") from None
    listed = set(pkg.files) | {"package.json"}
    on_disk = set()
    for dirpath, dirnames, filenames in os.walk(package_dir):
        for name in (*filenames, *dirnames):
            path = Path(dirpath) / name
            if path.is_symlink():
                raise NotAPackage(f"{path}: a symlink in a package is refused (it could point anywhere)")
        on_disk.update(Path(dirpath, f).relative_to(package_dir).as_posix() for f in filenames)
    if extra := sorted(on_disk - listed):
        raise NotAPackage(f"{package_dir / extra[0]}: not listed in package.json ({len(extra)} such files)")
    if missing := sorted(listed - on_disk):
        raise NotAPackage(f"{package_dir / missing[0]}: listed in package.json but missing ({len(missing)} files)")
    master = {m for m in (pkg.dash, pkg.hls) if m}
    files = []
    for rel in sorted(listed):
        path = package_dir / rel
        sha, etag = _hash(path, transfer)
        ctype, cache, phase = _kind_of(rel, pkg, master)
        files.append(_File(rel, path, path.stat().st_size, sha, etag, ctype, cache, phase))
    return pkg, files


def _version(files: Iterable[_File]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.rel):
        h.update(f"{f.rel}\0{f.sha256}\n".encode())
    return h.hexdigest()[:20]


# --- key material -------------------------------------------------------------------------------------


def _needles(key: bytes) -> list[bytes]:
    """Every form in which a 16-byte key is usually written down."""
    hx = key.hex()
    uuid = f"{hx[:8]}-{hx[8:12]}-{hx[12:16]}-{hx[16:20]}-{hx[20:]}"
    b64, url = base64.b64encode(key), base64.urlsafe_b64encode(key)
    forms = {key, hx.encode(), hx.upper().encode(), uuid.encode(), uuid.upper().encode(), b64, url}
    forms |= {b64.rstrip(b"="), url.rstrip(b"=")}
    return sorted(forms)


def _contains(path: Path, needles: list[bytes]) -> bool:
    overlap = max(len(n) for n in needles) - 1
    tail = b""
    with path.open("rb") as fh:
        while block := fh.read(4 * MiB):
            window = tail + block
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:]
    return False


def _refuse_key_material(package_dir: Path, pkg: Package, title: str, files: list[_File], store: KeyStore) -> None:
    pkg_root, key_root = package_dir.resolve(), store.root.resolve()
    if pkg_root.is_relative_to(key_root) or key_root.is_relative_to(pkg_root):
        raise KeyMaterialFound(f"{package_dir}: the key store {store.root} is inside the package or holds it")
    keys = []
    for name in dict.fromkeys((pkg.title, title)):
        try:
            if store.exists(name):
                keys.extend(k.key_bytes for k in store.load(name).keys.values())
        except KeyStoreError as exc:
            raise UsageError(f"cannot check {package_dir} for key material: {exc}") from None
    if not keys:
        if pkg.encryption != "none":
            raise UsageError(
                f"cannot check {package_dir} for key material: {store} has no keys for title {pkg.title!r} "
                "(give the key store it was packaged with: --keys)"
            )
        return
    needles = [n for k in keys for n in _needles(k)]
    for f in files:
        if _contains(f.path, needles):
            raise KeyMaterialFound(f"{f.path}: contains a content key of {pkg.title!r}; nothing was published")


# --- S3 -----------------------------------------------------------------------------------------------


def _fail(origin: Origin, action: str, key: str, exc: BaseException) -> OriginUnreachable:
    where = origin.endpoint_url or "S3"
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        why = f"{err.get('Code') or status}: {err.get('Message') or 'no message'}"
    elif isinstance(exc, EndpointConnectionError | ConnectionClosedError):
        why = "cannot connect (is the origin running? `vodflow origin status`)"
    elif isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        why = "timed out"
    else:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return OriginUnreachable(f"{where}: {action} s3://{origin.location.bucket}/{key} failed: {why}")


_S3_ERRORS = (BotoCoreError, ClientError, S3UploadFailedError)


def _list(s3, origin: Origin, prefix: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=origin.location.bucket, Prefix=prefix):
            for obj in page.get("Contents", ()):
                out[obj["Key"]] = obj
    except _S3_ERRORS as exc:
        raise _fail(origin, "listing", prefix, exc) from exc
    return out


def _stored_sha256(s3, origin: Origin, key: str) -> str | None:
    try:
        head = s3.head_object(Bucket=origin.location.bucket, Key=key)
    except _S3_ERRORS as exc:
        raise _fail(origin, "reading", key, exc) from exc
    return head.get("Metadata", {}).get("sha256")


def _matches(s3, origin: Origin, key: str, listed: dict | None, f: _File) -> bool:
    """True when the stored object is this file: same ETag, or (other ETag schemes) same SHA-256 metadata."""
    if listed is None or listed.get("Size") != f.size:
        return False
    if listed.get("ETag", "").strip('"') == f.etag:
        return True
    return _stored_sha256(s3, origin, key) == f.sha256


def current(origin: Origin, title: str, *, client=None) -> Pointer | None:
    """``title``'s pointer, or None when it is not published; raises ``OriginUnreachable``."""
    s3 = client or origin.client()
    key = pointer_key(origin, title)
    try:
        body = s3.get_object(Bucket=origin.location.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise _fail(origin, "reading", key, exc) from exc
    except _S3_ERRORS as exc:
        raise _fail(origin, "reading", key, exc) from exc
    return Pointer.from_json(body)


def _put_json(s3, origin: Origin, key: str, record: Record, cache: str) -> None:
    body = record.to_json().encode()
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    try:
        s3.put_object(
            Bucket=origin.location.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            CacheControl=cache,
            ChecksumSHA256=sha,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
        )
    except _S3_ERRORS as exc:
        raise _fail(origin, "writing", key, exc) from exc


def _upload(s3, origin: Origin, files: list[_File], root: str, transfer: TransferConfig) -> None:
    """Send ``files`` concurrently (bounded by the transfer config); raise at the first failure."""
    with create_transfer_manager(s3, transfer) as tm:
        futures = []
        for f in files:
            extra = {"ContentType": f.content_type, "CacheControl": f.cache_control, "Metadata": {"sha256": f.sha256}}
            if f.size < transfer.multipart_threshold:
                # Our own SHA-256: the origin refuses the PUT if the bytes it received hash otherwise.
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(f.sha256)).decode()
            else:
                extra["ChecksumAlgorithm"] = "SHA256"  # per part, checked by the origin part by part
            futures.append((f, tm.upload(str(f.path), origin.location.bucket, f"{root}/{f.rel}", extra_args=extra)))
        for f, fut in futures:
            try:
                fut.result()
            except _S3_ERRORS as exc:
                raise _fail(origin, "uploading", f"{root}/{f.rel}", exc) from exc


def _verify(s3, origin: Origin, files: list[_File], root: str) -> dict[str, dict]:
    stored = _list(s3, origin, f"{root}/")
    for f in files:
        key = f"{root}/{f.rel}"
        if key not in stored:
            raise ChecksumMismatch(f"s3://{origin.location.bucket}/{key}: missing right after its upload")
        if not _matches(s3, origin, key, stored[key], f):
            raise ChecksumMismatch(
                f"s3://{origin.location.bucket}/{key}: the origin holds other bytes than {f.path} "
                f"(ETag {stored[key].get('ETag')}, expected {f.etag})"
            )
    return stored


def _phases(files: list[_File]) -> Iterator[list[_File]]:
    for phase in (_MEDIA, _PLAYLISTS, _MASTERS):
        yield [f for f in files if f.phase == phase]


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
    store = keystore if isinstance(keystore, KeyStore) else KeyStore(keystore)
    pkg, files = _read_package(package_dir, transfer)
    _refuse_key_material(package_dir, pkg, title, files, store)
    version = _version(files)
    root = version_root(origin, title, version)
    s3 = client or origin.client(max_connections=transfer.max_concurrency + 2)
    loc = origin.location

    stored = _list(s3, origin, f"{root}/")
    sent = sent_bytes = 0  # objects and bytes of the package sent by this run
    for phase in _phases(files):
        todo = [f for f in phase if not _matches(s3, origin, f"{root}/{f.rel}", stored.get(f"{root}/{f.rel}"), f)]
        if todo:
            _upload(s3, origin, todo, root, transfer)
            sent += len(todo)
            sent_bytes += sum(f.size for f in todo)
            stored = _verify(s3, origin, phase, root)
    stored = _list(s3, origin, f"{root}/")

    before = current(origin, title, client=s3)
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
    record_key = _record_key(origin, title, version)
    if record_key not in _list(s3, origin, record_key):
        _put_json(s3, origin, record_key, pub, MANIFEST)
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
            history=history[-_HISTORY:],
        )
        _put_json(s3, origin, pub.pointer, pointer, POINTER)
        sent += 1
    pub = pub.model_copy(update={"sent": sent, "seconds": round(time.monotonic() - started, 3)})
    if record is not None:
        pub.save(record)
    log.info("published %s version %s: %d objects sent in %.1f s", title, version, sent, pub.seconds)
    return pub


def _publication(s3, origin: Origin, title: str, version: str) -> Publication:
    key = _record_key(origin, title, version)
    try:
        body = s3.get_object(Bucket=origin.location.bucket, Key=key)["Body"].read()
    except _S3_ERRORS as exc:
        raise _fail(origin, "reading", key, exc) from exc
    return Publication.from_json(body)


def rollback(origin: Origin, title: str, *, client=None) -> Publication:
    """Point ``title`` at the version it had before the current one; returns that version's Publication.

    Raises ``NotPublished`` when the title is not published or has no previous version."""
    s3 = client or origin.client()
    ptr = current(origin, title, client=s3)
    if ptr is None:
        raise NotPublished(f"title {title!r} is not published at {origin.location}")
    if not ptr.history:
        raise NotPublished(f"title {title!r} has no version before {ptr.version} to roll back to")
    prev = ptr.history[-1]
    pub = _publication(s3, origin, title, prev)  # proves the version is still there before pointing at it
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
    _put_json(s3, origin, pointer_key(origin, title), moved, POINTER)
    log.info("rolled %s back from %s to %s", title, ptr.version, prev)
    return pub


def unpublish(origin: Origin, title: str, *, client=None) -> int:
    """Remove ``title``: the pointer first (players stop finding it), then every version; returns the
    number of objects deleted. Raises ``NotPublished`` when nothing of the title is stored."""
    s3 = client or origin.client()
    pkey = pointer_key(origin, title)
    objects = _list(s3, origin, origin.location.key(layout.title_root(title)) + "/")
    if not objects:
        raise NotPublished(f"title {title!r} is not published at {origin.location}")
    bucket = origin.location.bucket
    try:
        if pkey in objects:
            s3.delete_object(Bucket=bucket, Key=pkey)
        rest = sorted(k for k in objects if k != pkey)
        for i in range(0, len(rest), 1000):
            batch = [{"Key": k} for k in rest[i : i + 1000]]
            res = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            if res.get("Errors"):
                err = res["Errors"][0]
                raise OriginUnreachable(f"deleting s3://{bucket}/{err['Key']} failed: {err.get('Message')}")
    except _S3_ERRORS as exc:
        raise _fail(origin, "deleting under", origin.location.key(layout.title_root(title)), exc) from exc
    log.info("unpublished %s: %d objects", title, len(objects))
    return len(objects)
