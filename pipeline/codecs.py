"""The video codecs vodflow encodes, and what each encoder allows: written once, read by every room."""

from __future__ import annotations

from typing import Literal, get_args

from vodflow.errors import UsageError

__all__ = ["CODECS", "CRF_MAX", "Codec", "parse_codecs"]

Codec = Literal["h264", "hevc", "av1", "vp9"]
CODECS: tuple[str, ...] = get_args(Codec)
# The highest CRF each encoder takes (x264/x265 0..51, SVT-AV1 and libvpx 0..63).
CRF_MAX: dict[str, float] = {"h264": 51.0, "hevc": 51.0, "av1": 63.0, "vp9": 63.0}


def parse_codecs(text: str, *, option: str = "--codecs") -> list[str]:
    """``"h264, VP9"`` → ``["h264", "vp9"]``; raises ``UsageError`` (naming ``option``) when the list is empty
    or names a codec outside ``CODECS``."""
    codecs = [c.strip().lower() for c in text.split(",") if c.strip()]
    if not codecs or any(c not in CODECS for c in codecs):
        raise UsageError(f"{option} {text!r}: choose from {', '.join(CODECS)} (comma-separated)")
    return codecs
