"""The fixed reference ladder every per-title ladder is measured against.

Five rungs, named for a 16:9 frame: 2160p 15.25 Mb/s, 1080p 5.8, 720p 3.0, 480p 1.05 and 240p 0.3 (the
4K rung and bitrates of the common "one ladder for every title" practice). Each rung is the source's
picture (display aspect ratio kept) scaled to fit that rung's 16:9 box, so a 16:9 source gets 1920x1080,
1280x720, 854x480 and 426x240, a 4:3 source 1440x1080, 960x720, 640x480 and 320x240, and a 2.39:1 film
1920x804 and so on. Sizes are rounded to the nearest even number: 480p is 854 wide (exact 16:9 is
853.3), as YouTube and most players expect, not 852.

The reference is capped at the source's size, not cut at it: a rung whose box is larger than the
source is encoded at the source's own size and keeps its bitrate, so a 720p source gets 720p at 5.8
and at 3.0 Mb/s. That is what a fixed ladder does to such a title (the issue's measurements: it pays
4-5.8 Mb/s on sub-1080p sources for VMAF 99.9) and the bill per-title encoding is meant to cut.
``above_source="drop"`` leaves those rungs out instead (a rung exists only when the source fills its
box to within ``SOURCE_SLACK``, so a 1916x1076 crop or an 853x479 file keeps its 1080p or 480p rung at
its own size); a source smaller than the 240p box then keeps that one rung at its own size, so a
ladder is never empty. The 4K rung is a UHD-only rung either way: it exists only for sources of about
2160 lines (or 3840 columns) and more, as the reference ladder's HD part (1080p down) is what every HD
title gets.

Rate control is a target average bitrate. For H.264 and HEVC it carries a peak cap of
``PEAK_RATIO`` x the average (Apple's HLS Authoring Specification: a VOD rendition's peak bitrate should
be at most 200 % of its average) with the encoder's default buffer of twice the cap, the same buffer
shape as per-title rungs. AV1 and VP9 get a plain average: our encoders cannot cap a target bitrate
(see ``pipeline.encode``). The bitrates are the same for every codec: the point of the reference is
that it does not adapt, to the title or to the codec.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Literal

from ladders.errors import FrameTooSmall
from ladders.model import Ladder, Rung
from pipeline.codecs import Codec
from pipeline.probe import MediaInfo, require_video
from pipeline.renditions import RateControl

__all__ = ["PEAK_RATIO", "REFERENCE_RUNGS", "SOURCE_SLACK", "fixed", "fixed_ladder"]

# (box height, nominal average kb/s), highest first; every box is 16:9.
REFERENCE_RUNGS: tuple[tuple[int, int], ...] = ((2160, 15250), (1080, 5800), (720, 3000), (480, 1050), (240, 300))
PEAK_RATIO = 2.0
# A source this close to a rung's box (5 %: 54 lines of 1080) still gets that rung, at its own size.
SOURCE_SLACK = 0.05
_CAPPED = ("h264", "hevc")
_HD_TOP = 1080  # the reference's rungs up to this box are every title's; above it, UHD sources' only


def _ratio(text: str | None) -> Fraction | None:
    try:
        num, den = (int(x) for x in (text or "").split(":"))
    except ValueError:
        return None
    return Fraction(num, den) if num > 0 and den > 0 else None


def _display_size(source: MediaInfo | tuple[int, int]) -> tuple[str, float, float]:
    """Name, display width and height (square pixels) of the source."""
    if isinstance(source, MediaInfo):
        v = require_video(source)
        dar = _ratio(v.dar) or Fraction(v.width, v.height) * (_ratio(v.sar) or 1)
        return source.path, v.height * float(dar), float(v.height)
    width, height = source
    if width < 16 or height < 16:
        raise FrameTooSmall(f"source size {width}x{height} is too small (16x16 at least)")
    return f"{width}x{height}", float(width), float(height)


def _even(x: float, limit: float) -> int:
    """Nearest even number to ``x``, but not above ``limit`` (the source's size) and at least 16."""
    n = 2 * math.floor(x / 2 + 0.5)
    if n > limit:
        n = 2 * math.floor(limit / 2)
    return max(16, n)


def fixed(
    source: MediaInfo | tuple[int, int],
    *,
    codec: Codec = "h264",
    above_source: Literal["cap", "drop"] = "cap",
) -> Ladder:
    """Return the fixed reference ladder for ``source`` (a probed file, or a ``(width, height)``).

    Rungs are in ascending bitrate, sized to the source's display aspect ratio and capped at its size
    (see the module docstring for the rules; ``above_source`` says what happens to rungs larger than the
    source). Raises ``NoVideoStream``/``UnsupportedMedia`` for a
    ``MediaInfo`` without usable video and ``FrameTooSmall`` for a size below 16x16.
    """
    name, width, height = _display_size(source)
    rungs = []
    for box_h, kbps in REFERENCE_RUNGS:
        scale = min(box_h * 16 / 9 / width, box_h / height)
        too_big = scale > 1 + SOURCE_SLACK
        if too_big and box_h > _HD_TOP:
            continue  # the UHD rung is for UHD sources only
        if too_big and above_source == "drop" and (rungs or box_h != REFERENCE_RUNGS[-1][0]):
            continue
        scale = min(scale, 1.0)
        rate = (
            RateControl(mode="bitrate", bitrate_kbps=kbps, maxrate_kbps=round(PEAK_RATIO * kbps))
            if codec in _CAPPED
            else RateControl(mode="bitrate", bitrate_kbps=kbps)
        )
        rungs.append(
            Rung(
                codec=codec,
                width=_even(width * scale, width),
                height=_even(height * scale, height),
                rate=rate,
                bitrate_kbps=float(kbps),
            )
        )
    return Ladder(source=name, kind="fixed", rungs=rungs[::-1])


def fixed_ladder(
    source: MediaInfo | tuple[int, int], codecs: Sequence[Codec] = ("h264",), *, name: str | None = None
) -> Ladder:
    """Return one fixed ladder holding the reference rungs of every codec in ``codecs``, in that order.

    Each codec's rungs are ``fixed(source, codec=...)``'s; ``name`` is the ladder's ``source`` (default:
    as ``fixed`` names it). Raises what ``fixed`` raises.
    """
    ladders = [fixed(source, codec=c) for c in codecs]
    rungs = [r for ladder in ladders for r in ladder.rungs]
    return Ladder(source=name if name is not None else _display_size(source)[0], kind="fixed", rungs=rungs)
