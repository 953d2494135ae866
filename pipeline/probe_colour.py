"""The colour of a video stream: its tags, its bit depth and its HDR metadata, as ffprobe 8.1 shows them.

ffprobe reports the tags (``color_primaries``, ``color_transfer``, ``color_space``) and the sample format
on the stream. The HDR10 metadata (SMPTE ST 2086 mastering display, CTA-861.3 content light level) sits
in the stream's ``side_data_list`` when the container carries it (an MP4 ``mdcv``/``clli`` box, Matroska
colour elements) and in the first frame's ``side_data_list`` when only the bitstream does (HEVC SEI, AV1
metadata OBUs): ``colour_from`` reads both, the stream's first. Mastering values stay the rationals
ffprobe prints (``"34000/50000"``, ``"10000000/10000"``); ``Fraction`` gives their value.

``colour_problem`` names the tags that lie (HDR transfer on 8-bit samples, PQ with BT.709 primaries,
mastering luminance 0 or min at or above max); ``colour_gaps`` names the metadata an HDR10 source lacks.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from vodflow.records import Record

__all__ = [
    "Colour",
    "DynamicRange",
    "MasteringDisplay",
    "colour_from",
    "colour_gaps",
    "colour_problem",
    "describe",
    "wants_first_frame",
]

DynamicRange = Literal["sdr", "hdr10", "hlg"]

PQ = "smpte2084"
HLG = "arib-std-b67"
_RANGE: dict[str, DynamicRange] = {PQ: "hdr10", HLG: "hlg"}
_MASTERING = "Mastering display metadata"
_LIGHT_LEVEL = "Content light level metadata"
_POINTS = ("red_x", "red_y", "green_x", "green_y", "blue_x", "blue_y", "white_point_x", "white_point_y")


class MasteringDisplay(Record):
    """SMPTE ST 2086 as ffprobe prints it: chromaticities and luminances as exact rationals ("34000/50000").

    ffprobe leaves out the luminances when the bitstream says 0 for them; they are None here then.
    """

    red_x: str
    red_y: str
    green_x: str
    green_y: str
    blue_x: str
    blue_y: str
    white_point_x: str
    white_point_y: str
    min_luminance: str | None = None  # cd/m²
    max_luminance: str | None = None  # cd/m²

    def value(self, name: str) -> Fraction | None:
        """The field ``name`` as a Fraction (None when ffprobe gave none)."""
        text = getattr(self, name)
        return None if text is None else Fraction(text)


class Colour(Record):
    """A video stream's colour: dynamic range, bit depth, the three tags and the HDR metadata found."""

    dynamic_range: DynamicRange = "sdr"
    bit_depth: int = 8
    primaries: str | None = None
    transfer: str | None = None
    matrix: str | None = None
    mastering: MasteringDisplay | None = None
    max_cll: int | None = None  # MaxCLL, cd/m²; 0 in the bitstream means "not known"
    max_fall: int | None = None  # MaxFALL, cd/m²
    metadata_from: Literal["stream", "frame"] | None = None  # where the side data was found
    first_frame_read: bool | None = None  # None: not looked at (SDR transfer); False: ffprobe could not decode it


def _side_data(entries: list[dict[str, Any]] | None, kind: str) -> dict[str, Any] | None:
    return next((e for e in entries or [] if e.get("side_data_type") == kind), None)


def _mastering(entry: dict[str, Any] | None) -> MasteringDisplay | None:
    if entry is None or any(entry.get(k) in (None, "") for k in _POINTS):
        return None
    values = {k: str(entry[k]) for k in _POINTS}
    for k in ("min_luminance", "max_luminance"):
        if entry.get(k) not in (None, ""):
            values[k] = str(entry[k])
    return MasteringDisplay(**values)


def _count(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def colour_from(
    stream: dict[str, Any], bit_depth: int, frame: dict[str, Any] | None = None, *, frame_read: bool | None = None
) -> Colour:
    """The ``Colour`` of an ffprobe video ``stream`` with ``bit_depth``-bit samples; ``frame`` is its first
    frame (``-show_frames -read_intervals %+#1``) when it was read."""
    transfer = stream.get("color_transfer")
    found: dict[str, dict[str, Any]] = {}
    where: Literal["stream", "frame"] | None = None
    for origin, entries in (("stream", stream.get("side_data_list")), ("frame", (frame or {}).get("side_data_list"))):
        for kind in (_MASTERING, _LIGHT_LEVEL):
            entry = _side_data(entries, kind)
            if entry is not None and kind not in found:
                found[kind] = entry
                where = where or origin  # type: ignore[assignment]
    light = found.get(_LIGHT_LEVEL) or {}
    return Colour(
        dynamic_range=_RANGE.get(transfer or "", "sdr"),
        bit_depth=bit_depth,
        primaries=stream.get("color_primaries"),
        transfer=transfer,
        matrix=stream.get("color_space"),
        mastering=_mastering(found.get(_MASTERING)),
        max_cll=_count(light.get("max_content")),
        max_fall=_count(light.get("max_average")),
        metadata_from=where,
        first_frame_read=frame_read,
    )


def wants_first_frame(stream: dict[str, Any]) -> bool:
    """True when the HDR metadata may be in the first frame only: an HDR transfer without both side data in
    the stream."""
    if stream.get("color_transfer") not in _RANGE:
        return False
    entries = stream.get("side_data_list")
    return _side_data(entries, _MASTERING) is None or _side_data(entries, _LIGHT_LEVEL) is None


def _transfer_name(c: Colour) -> str:
    return {"hdr10": "PQ", "hlg": "HLG"}.get(c.dynamic_range, "SDR") + f" transfer ({c.transfer})"


def colour_problem(c: Colour) -> str | None:
    """What in ``c`` lies (tags that contradict the samples or each other), on one line; None if nothing."""
    if c.dynamic_range != "sdr" and c.bit_depth < 10:
        return f"{_transfer_name(c)} on {c.bit_depth}-bit samples: HDR needs 10-bit, the tags lie"
    if c.dynamic_range == "hdr10" and c.primaries == "bt709":
        return "PQ transfer with BT.709 primaries: HDR10 is BT.2020, the tags contradict each other"
    m = c.mastering
    if m is not None:
        top, bottom = m.value("max_luminance"), m.value("min_luminance")
        if not top:
            return "mastering display max luminance is 0 (ffprobe shows no luminance): the metadata lies"
        if bottom is not None and bottom >= top:
            return (
                f"mastering display min luminance {float(bottom):g} cd/m² is not below its max "
                f"{float(top):g} cd/m²: the metadata lies"
            )
    return None


def colour_gaps(c: Colour) -> list[str]:
    """What an HDR10 source lacks (mastering display, MaxCLL/MaxFALL); ``[]`` for complete or non-PQ ones."""
    if c.dynamic_range != "hdr10":
        return []
    looked = "in the stream or its first frame" if c.first_frame_read else "in the stream (first frame not decodable)"
    gaps = []
    if c.mastering is None:
        gaps.append(f"no mastering display metadata (SMPTE ST 2086) {looked}")
    if not c.max_cll and not c.max_fall:
        said = " (both 0: not known)" if c.max_cll == 0 else ""
        gaps.append(f"no MaxCLL/MaxFALL content light level{said} {looked}")
    return gaps


def describe(c: Colour) -> str:
    """One line: the verdict and what metadata ``c`` has ("HDR10 (PQ, bt2020, bt2020nc, 10-bit; ...)")."""
    tags = f"{c.primaries or 'unspecified'} primaries, {c.transfer or 'unspecified'} transfer, "
    tags += f"{c.matrix or 'unspecified'} matrix, {c.bit_depth}-bit"
    if c.dynamic_range == "sdr":
        return f"{c.bit_depth}-bit SDR ({tags})"
    name = "HDR10" if c.dynamic_range == "hdr10" else "HLG"
    extra = []
    if m := c.mastering:
        top, bottom = m.value("max_luminance"), m.value("min_luminance")
        lum = f"{float(top):g}/{float(bottom or 0):g} cd/m² max/min" if top else "no luminance"
        extra.append(f"mastering display {lum}")
    if c.max_cll or c.max_fall:
        extra.append(f"MaxCLL {c.max_cll} MaxFALL {c.max_fall}")
    return f"{name} ({tags}{'; ' + ', '.join(extra) if extra else ''})"
