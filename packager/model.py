"""The records of a package: ``Package`` (saved as ``package.json``) and its ``Stream``s and ``Segment``s.

Paths are relative to the package root, with ``/`` separators, as a player or the edge sees them.
Bandwidths are bits per second measured from the segment files as written (after any encryption).
"""

from __future__ import annotations

from typing import Literal

from pipeline.thumbs import Sprite
from vodflow.records import Record

__all__ = ["Encryption", "Package", "Segment", "Stream", "Thumbnails"]

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
    dash: str | None  # "manifest.mpd", None for aes128 (HLS only)
    hls: str  # "master.m3u8"
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
