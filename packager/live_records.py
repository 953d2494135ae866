"""The records of a live channel's state (parts, segments, renditions) and the file names ffmpeg's dash
muxer writes for them, per encoder run (see :mod:`packager.live_state` for how runs map to msns)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.live import GROWING_SUFFIX, run_file_names

__all__ = ["TMP", "LiveSegment", "Part", "Rendition", "init_name", "run_file_names", "segment_name"]

TMP = GROWING_SUFFIX  # what ffmpeg appends to a segment's name while it writes it
SEGMENT = re.compile(r"seg-(?P<rep>[^-]+)(?:-r(?P<run>\d+))?-(?P<n>\d+)\.m4s")


def init_name(rep_id: str, run: int) -> str:
    """The init segment's file name of representation ``rep_id`` in encoder run ``run``."""
    return run_file_names(run)[0].replace("$RepresentationID$", rep_id)


def segment_name(rep_id: str, run: int, number: int) -> str:
    """The (final) file name of ffmpeg's segment ``number`` of ``rep_id`` in encoder run ``run``."""
    return run_file_names(run)[1].replace("$RepresentationID$", rep_id).replace("$Number$", str(number))


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

    ``path`` is where its bytes are now (the ``.tmp`` name while ffmpeg writes it); ``init_uri`` the
    init segment of its encoder run ``run``. Its bytes are ``size`` long from offset 0 (the parts).
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
