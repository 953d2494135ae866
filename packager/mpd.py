"""A small typed model of a static DASH MPD (what Shaka Packager writes), read with ElementTree.

Why not an MPD library: ``mpegdash`` is not installable here and its model stops at attributes; what
validation needs is the segment list a SegmentTimeline expands to, which is a few lines on top of
ElementTree. Only the subset we write is modelled: one Period, SegmentTemplate with
SegmentTimeline (or @duration), ContentProtection.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from vodflow.errors import MediaError

__all__ = [
    "MPD",
    "AdaptationSet",
    "Representation",
    "SegmentRef",
    "parse_duration",
    "parse_mpd",
    "read_mpd",
    "set_bandwidths",
]

NS = {"mpd": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?")


def parse_duration(text: str) -> float:
    """ISO 8601 duration (``PT1M2.5S``) in seconds; raises ``ValueError``."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """One media segment a SegmentTemplate expands to."""

    url: str
    start: float
    duration: float


@dataclass(frozen=True, slots=True)
class Representation:
    id: str
    bandwidth: int
    codecs: str
    mime_type: str
    width: int | None
    height: int | None
    initialization: str | None
    segments: list[SegmentRef]


@dataclass(frozen=True, slots=True)
class AdaptationSet:
    content_type: str
    lang: str | None
    default_kids: list[str]
    pssh_systems: list[str]
    representations: list[Representation] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MPD:
    type: str
    duration: float | None
    adaptation_sets: list[AdaptationSet]

    @property
    def representations(self) -> list[Representation]:
        return [r for a in self.adaptation_sets for r in a.representations]


def _expand(rep: ET.Element, tmpl: ET.Element, total: float | None) -> list[SegmentRef]:
    scale = int(tmpl.get("timescale", "1"))
    number = int(tmpl.get("startNumber", "1"))
    media = tmpl.get("media", "")
    rep_id = rep.get("id", "")

    def url(n: int, t: int) -> str:
        return media.replace("$RepresentationID$", rep_id).replace("$Number$", str(n)).replace("$Time$", str(t))

    out: list[SegmentRef] = []
    timeline = tmpl.find("mpd:SegmentTimeline", NS)
    if timeline is not None:
        t = 0
        for s in timeline.findall("mpd:S", NS):
            t = int(s.get("t", t))
            d = int(s.get("d", "0"))
            for _ in range(int(s.get("r", "0")) + 1):
                out.append(SegmentRef(url(number, t), t / scale, d / scale))
                number += 1
                t += d
    elif tmpl.get("duration") and total:
        d = int(tmpl.get("duration", "0")) / scale
        i = 0
        while i * d < total - 1e-9:
            out.append(SegmentRef(url(number + i, round(i * d * scale)), i * d, min(d, total - i * d)))
            i += 1
    return out


def read_mpd(path: str | os.PathLike[str]) -> MPD:
    """Parse the MPD file at ``path``; raises ``MediaError`` naming it when it is not a readable MPD."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise MediaError(path, f"not a readable MPD ({exc})") from None
    return parse_mpd(text, where=path)


def parse_mpd(text: str | bytes, *, where: str | os.PathLike[str] = "MPD") -> MPD:
    """Parse an MPD document (e.g. one fetched over HTTP); returns the ``MPD``. Raises ``MediaError``
    naming ``where`` (its path or URL) when it is not an MPD."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MediaError(where, f"not a readable MPD ({exc})") from None
    if root.tag != f"{{{NS['mpd']}}}MPD":
        raise MediaError(where, "not an MPD (root element is not urn:mpeg:dash:schema:mpd:2011 MPD)")
    try:
        total = parse_duration(duration) if (duration := root.get("mediaPresentationDuration")) else None
    except ValueError as exc:
        raise MediaError(where, f"not a readable MPD ({exc})") from None
    sets = []
    for aset in root.iterfind("mpd:Period/mpd:AdaptationSet", NS):
        kids, systems = [], []
        for cp in aset.findall("mpd:ContentProtection", NS):
            if kid := cp.get(f"{{{NS['cenc']}}}default_KID"):
                kids.append(kid.replace("-", "").lower())
            scheme = cp.get("schemeIdUri", "")
            if scheme.startswith("urn:uuid:"):
                systems.append(scheme.removeprefix("urn:uuid:").lower())
        reps = []
        for rep in aset.findall("mpd:Representation", NS):
            tmpl = rep.find("mpd:SegmentTemplate", NS)
            if tmpl is None:
                tmpl = aset.find("mpd:SegmentTemplate", NS)
            w, h = rep.get("width") or aset.get("width"), rep.get("height") or aset.get("height")
            reps.append(
                Representation(
                    id=rep.get("id", ""),
                    bandwidth=int(rep.get("bandwidth", "0")),
                    codecs=rep.get("codecs") or aset.get("codecs") or "",
                    mime_type=rep.get("mimeType") or aset.get("mimeType") or "",
                    width=int(w) if w else None,
                    height=int(h) if h else None,
                    initialization=tmpl.get("initialization") if tmpl is not None else None,
                    segments=_expand(rep, tmpl, total) if tmpl is not None else [],
                )
            )
        sets.append(AdaptationSet(aset.get("contentType", ""), aset.get("lang"), kids, systems, reps))
    return MPD(root.get("type", "static"), total, sets)


def set_bandwidths(path: str | os.PathLike[str], bandwidth_by_id: dict[str, int]) -> None:
    """Rewrite ``@bandwidth`` of the Representations named in ``bandwidth_by_id`` in place.

    A text substitution on the ``<Representation id=...>`` start tags keeps the rest of Shaka's file
    byte for byte (ElementTree would rename every namespace prefix).
    """
    path = Path(path)
    text = path.read_text()

    def sub(m: re.Match[str]) -> str:
        tag = m.group(0)
        rid = re.search(r'\bid="([^"]*)"', tag)
        if rid is None or rid.group(1) not in bandwidth_by_id:
            return tag
        return re.sub(r'\bbandwidth="\d+"', f'bandwidth="{bandwidth_by_id[rid.group(1)]}"', tag)

    path.write_text(re.sub(r"<Representation\b[^>]*>", sub, text))
