"""The records of a package: ``Package`` (saved as ``package.json``) and its ``Stream``s and ``Segment``s,
and the names of the files at a package's root (``PACKAGE_RECORD``, ``QUALITY_SIDECAR``, ``DASH_MANIFEST``,
``HLS_MASTER``), written here once for the packager, publish, the edge and the player.

Paths are relative to the package root, with ``/`` separators, as a player or the edge sees them.
Bandwidths are bits per second measured from the segment files as written (after any encryption).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pipeline.thumbs import Sprite
from vodflow.errors import MediaError
from vodflow.records import Record

__all__ = [
    "DASH_MANIFEST",
    "DASH_NUMBER_MANIFEST",
    "HLS_MASTER",
    "PACKAGE_RECORD",
    "QUALITY_SIDECAR",
    "Encryption",
    "Package",
    "Segment",
    "Stream",
    "Thumbnails",
    "load_package",
    "parse_package",
]

PACKAGE_RECORD = "package.json"  # the Package record
QUALITY_SIDECAR = "quality.json"  # the per-segment VMAF sidecar (packager.sidecar), when scored
DASH_MANIFEST = "manifest.mpd"  # the DASH MPD (not written for aes128); a live channel's SegmentTimeline MPD
DASH_NUMBER_MANIFEST = "manifest-number.mpd"  # a live channel's MPD with SegmentTemplate $Number$ + @duration
HLS_MASTER = "master.m3u8"  # the HLS master playlist

Encryption = Literal["none", "cenc", "cbcs", "aes128"]


class Segment(Record):
    """One media segment: its file, size in bytes, start and duration in seconds."""

    path: str
    size: int
    start: float
    duration: float


class Stream(Record):
    """One packaged stream (a DASH Representation, an HLS media playlist)."""

    id: str  # the folder under video/, audio/ or text/
    kind: Literal["video", "audio", "text"]
    codec: str  # h264, hevc, vp9, av1, aac, opus, webvtt
    codecs: str  # RFC 6381, as in CODECS / @codecs: avc1.64001f, hvc1.1.6.L93.90, mp4a.40.2, wvtt
    source: str  # the rendition file, or the subtitle file / "source.mp4#stream" it was made from
    language: str | None = None  # ISO 639 as Shaka writes it (2 letters where one exists)
    default: bool = False
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    channels: int | None = None
    init: str | None = None
    playlist: str
    iframe_playlist: str | None = None
    segments: list[Segment]
    duration: float
    bandwidth: int  # peak over segments: max(bits / duration)
    average_bandwidth: int  # all bits / all seconds
    track_class: str | None = None  # which key encrypts it: audio, sd, hd, uhd (None: clear)
    key_id: str | None = None


class Thumbnails(Sprite):
    """The trick-play sprite (``path``, relative to the package) and its WebVTT index (``#xywh=`` cues)."""

    index: str


class Package(Record):
    """A packaged title. Never holds a key: only key IDs (``key_ids``: track class -> kid hex)."""

    title: str
    root: str
    encryption: Encryption
    segment_seconds: float
    gop_seconds: float
    duration: float
    dash: str | None  # DASH_MANIFEST, None for aes128 (HLS only)
    hls: str  # HLS_MASTER
    key_uri: str | None = None  # the template used for HLS key URIs (cbcs, aes128)
    key_ids: dict[str, str] = {}
    streams: list[Stream]
    thumbnails: Thumbnails | None = None
    files: list[str]
    total_bytes: int
    rendition_bytes: int
    packager_argv: list[str]
    seconds: float

    def stream(self, stream_id: str) -> Stream:
        """The stream with this id; raises ``KeyError``."""
        for s in self.streams:
            if s.id == stream_id:
                return s
        raise KeyError(stream_id)


def parse_package(text: str | bytes, *, where: str | os.PathLike[str] = PACKAGE_RECORD) -> Package:
    """The ``Package`` in a ``package.json`` document (e.g. fetched over HTTP). Raises ``MediaError``
    naming ``where`` when it is not a package record."""
    try:
        return Package.from_json(text)
    except ValueError as exc:
        raise MediaError(where, f"not a package record ({str(exc).splitlines()[0]})") from None


def load_package(root: str | os.PathLike[str]) -> Package:
    """The ``Package`` saved in the package folder ``root``. Raises ``FileNotFoundError`` when there is no
    ``package.json`` and ``MediaError`` naming it when it is not a package record."""
    path = Path(root) / PACKAGE_RECORD
    return parse_package(path.read_bytes(), where=path)
