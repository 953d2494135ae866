"""Parsing a rung spec (``CODEC:WxH:RATE``, as the CLI and the benchmarks take it) into a ``Rendition``."""

from __future__ import annotations

import re

from pydantic import ValidationError

from pipeline.renditions import Rendition
from vodflow.errors import UsageError

__all__ = ["parse_rung"]

_CODEC_ALIASES = {"h264": "h264", "avc": "h264", "hevc": "hevc", "h265": "hevc", "av1": "av1", "vp9": "vp9"}
_RUNG = re.compile(r"(?P<codec>\w+):(?P<w>\d+)x(?P<h>\d+):(?P<rate>[^:]+)")
_KBPS = r"(\d+(?:\.\d+)?)([kKmM])"


def _kbps(num: str, unit: str) -> int:
    return round(float(num) * (1000 if unit in "mM" else 1))


def parse_rung(spec: str) -> Rendition:
    """Parse ``CODEC:WxH:RATE`` into a ``Rendition``.

    RATE is ``3000k`` (a plain target average bitrate, no cap), ``3000k@4500k`` (that target capped at
    4500 kb/s), ``crf23`` (constant quality) or ``crf23@3000k`` (capped CRF: VBV maxrate 3000 kb/s with a
    buffer of twice that). ``M`` works as well as ``k`` (``3.5M``). Raises ``UsageError`` with one line.
    """
    m = _RUNG.fullmatch(spec.strip())
    codec = _CODEC_ALIASES.get(m.group("codec").lower()) if m else None
    if m is None or codec is None:
        raise UsageError(
            f"bad rung {spec!r}: expected CODEC:WxH:RATE with CODEC h264, hevc, av1 or vp9 "
            "(e.g. h264:1280x720:3000k, hevc:1920x1080:crf24@4500k)"
        )
    rate_text = m.group("rate")
    if r := re.fullmatch(rf"crf(\d+(?:\.\d+)?)(?:@{_KBPS})?", rate_text, re.IGNORECASE):
        crf = float(r.group(1))
        cap = _kbps(r.group(2), r.group(3)) if r.group(2) else None
        rate = {"mode": "capped_crf" if cap else "crf", "crf": crf, "maxrate_kbps": cap}
    elif r := re.fullmatch(rf"{_KBPS}(?:@{_KBPS})?", rate_text):
        cap = _kbps(r.group(3), r.group(4)) if r.group(3) else None
        rate = {"mode": "bitrate", "bitrate_kbps": _kbps(r.group(1), r.group(2)), "maxrate_kbps": cap}
    else:
        raise UsageError(f"bad rung {spec!r}: RATE must look like 3000k, 3000k@4500k, crf23 or crf23@3000k")
    try:
        return Rendition(codec=codec, width=int(m.group("w")), height=int(m.group("h")), rate=rate)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"bad rung {spec!r}: {first}") from None
