"""Sending package files to the origin and checking what it stored.

Each file is one PUT below the multipart threshold (one request, an MD5 ETag we can predict) carrying
our SHA-256, so the origin refuses bytes that differ from the file's; above it, multipart with a SHA-256
per part. After each phase the stored objects are listed and compared (ETag, else SHA-256 metadata).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from boto3.s3.transfer import TransferConfig, create_transfer_manager

from origin.config import Origin
from origin.errors import ChecksumMismatch
from origin.files import LocalFile, MiB
from origin.store import S3_ERRORS, Store

__all__ = ["DEFAULT_TRANSFER", "matches", "send", "verify"]

# Segments are 10 kB - 5 MB: each is one PUT (one request, an MD5 ETag we can predict). Eight at once
# keep a link busy without flooding a small origin; anything above 16 MiB (a long single-file rendition,
# a huge sprite) goes multipart in 8 MiB parts so a failed part is retried alone.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=16 * MiB, multipart_chunksize=8 * MiB, max_concurrency=8, use_threads=True
)


def matches(store: Store, key: str, listed: dict | None, f: LocalFile) -> bool:
    """True when the stored object (its listing entry ``listed``, None: not stored) is this file: same
    size and ETag, or (other ETag schemes) same SHA-256 metadata. Raises ``OriginUnreachable``."""
    if listed is None or listed.get("Size") != f.size:
        return False
    if listed.get("ETag", "").strip('"') == f.etag:
        return True
    head = store.head(key)
    return head is not None and head.get("Metadata", {}).get("sha256") == f.sha256


def send(client, origin: Origin, files: Sequence[LocalFile], root: str, transfer: TransferConfig) -> None:
    """Send ``files`` under ``root`` through the boto3 ``client`` concurrently (bounded by ``transfer``);
    raises ``OriginUnreachable`` at the first failure (the origin refusing our checksum included)."""
    store = Store(origin, client=client)
    with create_transfer_manager(client, transfer) as tm:
        futures = []
        for f in files:
            extra = {"ContentType": f.content_type, "CacheControl": f.cache_control, "Metadata": {"sha256": f.sha256}}
            if f.size < transfer.multipart_threshold:
                # Our own SHA-256: the origin refuses the PUT if the bytes it received hash otherwise.
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(f.sha256)).decode()
            else:
                extra["ChecksumAlgorithm"] = "SHA256"  # per part, checked by the origin part by part
            futures.append((f, tm.upload(str(f.path), store.bucket, f"{root}/{f.rel}", extra_args=extra)))
        for f, fut in futures:
            try:
                fut.result()
            except S3_ERRORS as exc:
                raise store.error("uploading", f"{root}/{f.rel}", exc) from exc


def verify(store: Store, files: Sequence[LocalFile], root: str) -> dict[str, dict]:
    """Every object stored under ``root`` (key → listing entry), once each of ``files`` is found there
    with its bytes. Raises ``ChecksumMismatch`` (missing, or other bytes) or ``OriginUnreachable``."""
    stored = store.list(f"{root}/")
    for f in files:
        key = f"{root}/{f.rel}"
        if key not in stored:
            raise ChecksumMismatch(f"s3://{store.bucket}/{key}: missing right after its upload")
        if not matches(store, key, stored[key], f):
            raise ChecksumMismatch(
                f"s3://{store.bucket}/{key}: the origin holds other bytes than {f.path} "
                f"(ETag {stored[key].get('ETag')}, expected {f.etag})"
            )
    return stored
