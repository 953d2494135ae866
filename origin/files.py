"""The local side of publishing: a package folder read as the files to send, each with its checksums,
its Content-Type and Cache-Control, and the upload phase it belongs to.

Phases go up in order, each verified before the next: media (init, segments, subtitles' cues, the
sprite), then media playlists (the quality sidecar and the sprite index with them), then the master
manifests and ``package.json``. Only files the package record lists are sent; an unlisted file, a
missing one or any symlink refuses the package (``NotAPackage``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from boto3.s3.transfer import TransferConfig
from s3transfer.utils import ChunksizeAdjuster

from origin.errors import NotAPackage
from packager import PACKAGE_RECORD, QUALITY_SIDECAR, Package, load_package
from vodflow.errors import MediaError

__all__ = [
    "IMMUTABLE",
    "MANIFEST",
    "MASTERS",
    "MEDIA",
    "PLAYLISTS",
    "POINTER",
    "LocalFile",
    "MiB",
    "package_version",
    "phases",
    "read_package",
]

MiB = 1024 * 1024

# Cache-Control of each kind of object
IMMUTABLE = "public, max-age=31536000, immutable"  # a version's media never changes under its key
MANIFEST = "public, max-age=10"  # manifests too, but players and edges should re-check them soon
POINTER = "no-cache"  # the pointer, the one object that changes: always revalidate

MEDIA, PLAYLISTS, MASTERS = 1, 2, 3  # upload phases, in order


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One package file to publish: its package path, local path, size, SHA-256 (hex), the ETag an S3
    origin reports for it when sent with our TransferConfig, its headers and upload phase."""

    rel: str
    path: Path
    size: int
    sha256: str
    etag: str
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
        return ctype, MANIFEST, MASTERS
    if rel == PACKAGE_RECORD:
        return "application/json", MANIFEST, MASTERS
    if rel == QUALITY_SIDECAR:
        # the per-segment VMAF sidecar (packager.sidecar): describes segments, goes up with the playlists
        return "application/json", MANIFEST, PLAYLISTS
    if p.suffix == ".m3u8":
        return "application/vnd.apple.mpegurl", MANIFEST, PLAYLISTS
    if p.suffix == ".vtt":
        # The sprite's index references the sprite: it goes up with the playlists; cues are media.
        index = pkg.thumbnails is not None and rel == pkg.thumbnails.index
        return "text/vtt", MANIFEST if index else IMMUTABLE, PLAYLISTS if index else MEDIA
    if p.suffix in (".jpg", ".jpeg"):
        return "image/jpeg", IMMUTABLE, MEDIA
    if p.suffix in (".mp4", ".m4s"):
        kinds = {s.id: s.kind for s in pkg.streams}
        kind = kinds.get(p.parent.name) if len(p.parts) >= 2 else None
        if kind is None and p.parts[0] in ("video", "audio"):
            kind = p.parts[0]
        return ("audio/mp4" if kind == "audio" else "video/mp4"), IMMUTABLE, MEDIA
    raise NotAPackage(f"{pkg.root}: {rel} is not a file type a package holds")


def read_package(package_dir: Path, transfer: TransferConfig) -> tuple[Package, list[LocalFile]]:
    """The package record of ``package_dir`` and every file it lists (``package.json`` included), sorted
    by path, hashed for ``transfer``. Raises ``NotAPackage`` (no such folder, no or a bad package record,
    a symlink, a file not listed or listed but missing, a file type a package does not hold)."""
    if not package_dir.is_dir():
        raise NotAPackage(f"{package_dir}: no such folder")
    record = package_dir / PACKAGE_RECORD
    if not record.is_file():
        raise NotAPackage(f"{package_dir}: not a package (no package.json; make one with `vodflow package`)")
    try:
        pkg = load_package(package_dir)
    except MediaError as exc:
        raise NotAPackage(str(exc)) from None
    listed = set(pkg.files) | {PACKAGE_RECORD}
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
        files.append(LocalFile(rel, path, path.stat().st_size, sha, etag, ctype, cache, phase))
    return pkg, files


def package_version(files: Iterable[LocalFile]) -> str:
    """The version ID of a package: a hash of every path and its SHA-256 (same content, same version)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.rel):
        h.update(f"{f.rel}\0{f.sha256}\n".encode())
    return h.hexdigest()[:20]


def phases(files: list[LocalFile]) -> Iterator[list[LocalFile]]:
    """``files`` in upload phases, in the order they go up (media, playlists, masters)."""
    for phase in (MEDIA, PLAYLISTS, MASTERS):
        yield [f for f in files if f.phase == phase]
