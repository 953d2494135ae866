"""The video codecs vodflow encodes, and what each encoder allows: written once, read by every room."""

from __future__ import annotations

from typing import Literal, get_args

from vodflow.errors import UsageError

__all__ = [
    "AUDIO_ENCODERS",
    "CODECS",
    "CRF_MAX",
    "CRF_STEP",
    "DEFAULT_PRESET",
    "ENCODERS",
    "PIX_FMTS",
    "PRESET_RANGE",
    "PROFILES",
    "X26X_PRESETS",
    "Codec",
    "parse_codecs",
]

Codec = Literal["h264", "hevc", "av1", "vp9"]
CODECS: tuple[str, ...] = get_args(Codec)
# The highest CRF each encoder takes (x264/x265 0..51, SVT-AV1 and libvpx 0..63).
CRF_MAX: dict[str, float] = {"h264": 51.0, "hevc": 51.0, "av1": 63.0, "vp9": 63.0}
# The finest CRF step each takes: x264/x265 take fractions, SVT-AV1 and libvpx whole numbers only.
CRF_STEP: dict[str, float] = {"h264": 0.1, "hevc": 0.1, "av1": 1.0, "vp9": 1.0}

# The ffmpeg encoder behind each codec.
ENCODERS: dict[str, str] = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
AUDIO_ENCODERS: dict[str, str] = {"aac": "aac", "opus": "libopus"}

# x264/x265 preset names; SVT-AV1 preset numbers (-2 slowest .. 13 fastest); libvpx cpu-used (0 .. 8).
DEFAULT_PRESET: dict[str, str] = {"h264": "medium", "hevc": "medium", "av1": "8", "vp9": "4"}
X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
PRESET_RANGE = {"av1": range(-2, 14), "vp9": range(0, 9)}
# What the encoders in our ffmpeg build accept (x265 and libvpx are 8-bit builds there).
PIX_FMTS = {
    "h264": ("yuv420p", "yuv420p10le"),
    "hevc": ("yuv420p",),
    "av1": ("yuv420p", "yuv420p10le"),
    "vp9": ("yuv420p",),
}
PROFILES = {
    "h264": ("baseline", "main", "high", "high10"),
    "hevc": ("main", "mainstillpicture"),
    "av1": ("main", "high", "professional"),
    "vp9": ("0", "1", "2", "3"),
}


def parse_codecs(text: str, *, option: str = "--codecs") -> list[str]:
    """``"h264, VP9"`` → ``["h264", "vp9"]``; raises ``UsageError`` (naming ``option``) when the list is empty
    or names a codec outside ``CODECS``."""
    codecs = [c.strip().lower() for c in text.split(",") if c.strip()]
    if not codecs or any(c not in CODECS for c in codecs):
        raise UsageError(f"{option} {text!r}: choose from {', '.join(CODECS)} (comma-separated)")
    return codecs
