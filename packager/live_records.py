"""The records of a live channel's state (parts, segments, renditions) and the file names ffmpeg's dash
muxer writes for them, per encoder run (see :mod:`packager.live_state` for how runs map to msns)."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from packager.mpd import NS
from pipeline.live import GROWING_SUFFIX, run_file_names

__all__ = [
    "LIVE_KEYS",
    "LIVE_LICENSE",
    "TMP",
    "LiveProtection",
    "LiveSegment",
    "Part",
    "Rendition",
    "encoder_settings",
    "init_name",
    "run_file_names",
    "segment_name",
]

TMP = GROWING_SUFFIX  # what ffmpeg appends to a segment's name while it writes it
CBCS_FOLDER = "cbcs"  # a cbcs channel's encrypted copies of the encoder's (clear) segment files
LIVE_LICENSE = "license"  # a channel's ClearKey licence endpoint, next to its playlists and MPDs
LIVE_KEYS = "key"  # the folder of a channel's raw keys (HLS identity key format): key/<kid>
SEGMENT = re.compile(r"seg-(?P<rep>[^-]+)(?:-r(?P<run>\d+))?-(?P<n>\d+)\.m4s")


def init_name(rep_id: str, run: int) -> str:
    """The init segment's file name of representation ``rep_id`` in encoder run ``run``."""
    return run_file_names(run)[0].replace("$RepresentationID$", rep_id)


def segment_name(rep_id: str, run: int, number: int) -> str:
    """The (final) file name of ffmpeg's segment ``number`` of ``rep_id`` in encoder run ``run``."""
    return run_file_names(run)[1].replace("$RepresentationID$", rep_id).replace("$Number$", str(number))


def encoder_settings(mpd_path: str | os.PathLike[str]) -> tuple[str | None, float | None]:
    """``(UTCTiming URL, Latency@target in seconds)`` of the MPD ffmpeg wrote, each ``None`` when it has none
    (what the encoder was told: ``pipeline.live.live_argv``'s ``utc_timing_url`` and ``target_latency_s``).
    An unreadable file gives ``(None, None)``; ``packager.mpd.read_mpd`` reports those."""
    try:
        root = ET.parse(mpd_path).getroot()
    except (OSError, ET.ParseError):
        return None, None
    timing = root.find("mpd:UTCTiming", NS)
    latency = root.find("mpd:ServiceDescription/mpd:Latency", NS)
    try:
        target = float(latency.get("target", "")) / 1000 if latency is not None else None
    except ValueError:
        target = None
    return (timing.get("value") if timing is not None else None), target


@dataclass(frozen=True, slots=True)
class Part:
    """An LL-HLS partial segment: ``length`` bytes from ``offset`` of the segment file ``uri``."""

    uri: str
    offset: int
    length: int
    duration_s: float
    independent: bool

    @property
    def byterange(self) -> str:
        """The part's ``BYTERANGE`` attribute value, ``length@offset``."""
        return f"{self.length}@{self.offset}"


@dataclass(frozen=True, slots=True)
class LiveSegment:
    """A media segment of a rendition; ``complete`` once no more parts will come.

    ``path`` is where its bytes are now (the ``.tmp`` name while ffmpeg writes it; a cbcs channel's
    encrypted copy, ``source`` being ffmpeg's clear file); ``init_uri`` the
    init segment of its encoder run ``run``. Its bytes are ``size`` long from offset 0 (the parts).
    ``number`` is ffmpeg's ``$Number$`` in its run (the name's ``n``); ``start`` the presentation time of
    its first sample (the first ``prft``'s media time, else the ``tfdt``; negative for AAC's priming
    samples) and ``timescale`` its track's: what a DASH SegmentTimeline states.
    """

    msn: int
    uri: str
    duration_s: float
    program_date_time: datetime
    parts: tuple[Part, ...]
    complete: bool
    discontinuity: bool
    path: Path
    run: int
    init_uri: str
    number: int = 0
    start: int = 0
    timescale: int = 1
    source: Path | None = None  # the encoder's file (``.tmp`` while it grows); ``path`` unless cbcs copies it

    @property
    def ticks(self) -> int:
        """The duration in ``timescale`` units (the sum of its samples' durations)."""
        return round(self.duration_s * self.timescale)

    @property
    def size(self) -> int:
        """The bytes the segment holds so far (its parts, back to back from 0)."""
        return sum(p.length for p in self.parts)


@dataclass(frozen=True, slots=True)
class Rendition:
    """One representation of the channel; ``name`` names its playlists (``<name>.m3u8``)."""

    name: str
    bandwidth: int
    codecs: str
    resolution: tuple[int, int] | None
    kind: str  # "video" or "audio"
    rep_id: str  # ffmpeg's $RepresentationID$


@dataclass(frozen=True, slots=True)
class LiveProtection:
    """How a channel's segments are encrypted: ``scheme`` (``cenc``: AES-CTR, ``cbcs``: AES-CBC 1:9
    pattern), one key for every rendition, known here by its ID only (``kid``, 32 hex digits); the key
    itself stays in the key store and is served by the edge. ``key_uri`` is the HLS key URI relative to
    the channel's playlists (the edge's ``key/<kid>`` route)."""

    scheme: str
    kid: str

    @property
    def key_uri(self) -> str:
        """The relative URI of the 16 raw key bytes (HLS ``identity`` key format)."""
        return f"{LIVE_KEYS}/{self.kid}"

    @property
    def kid_uuid(self) -> str:
        """The key ID as a UUID (``8-4-4-4-12``), as ``cenc:default_KID`` writes it."""
        k = self.kid
        return f"{k[:8]}-{k[8:12]}-{k[12:16]}-{k[16:20]}-{k[20:]}"
