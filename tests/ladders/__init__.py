"""Ladder tests, and the synthetic rate-quality model they share.

Per resolution, VMAF saturates with log bitrate: ``VMAF = cap * (1 - exp(-B * log2(kbps / zero)))``,
where ``cap`` is the best a resolution can look on a 1080p display after upscaling and ``zero`` the
bitrate at which it shows nothing. Bitrate halves every 6 CRF steps for x264/x265 and every 8 for
SVT-AV1/VP9. A codec ``gain`` of 0.6 means it needs 60 % of H.264's bits for the same VMAF.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from ladders.model import RDPoint, RDPoints
from pipeline.codecs import Codec

# height: (width, cap, zero kb/s, kb/s at the reference CRF)
RESOLUTIONS: dict[int, tuple[int, float, float, float]] = {
    1080: (1920, 99.0, 100.0, 4500.0),
    720: (1280, 96.0, 60.0, 2300.0),
    540: (960, 92.0, 40.0, 1400.0),
    360: (640, 84.0, 22.0, 700.0),
    240: (426, 72.0, 12.0, 330.0),
}
B = 0.55
_REF_CRF = {"h264": 23, "hevc": 23, "av1": 35, "vp9": 35}
_CRF_PER_HALVING = {"h264": 6, "hevc": 6, "av1": 8, "vp9": 8}
CRFS = {"h264": range(14, 47, 4), "hevc": range(14, 47, 4), "av1": range(20, 61, 5), "vp9": range(20, 61, 5)}


def model_kbps(codec: Codec, height: int, crf: float, gain: float = 1.0) -> float:
    """Bitrate of an encode at ``crf``."""
    return gain * RESOLUTIONS[height][3] * 2 ** (-(crf - _REF_CRF[codec]) / _CRF_PER_HALVING[codec])


def model_vmaf(height: int, kbps: float, gain: float = 1.0) -> float:
    """VMAF of an encode of ``kbps`` at ``height`` by a codec needing ``gain`` x H.264's bits."""
    _, cap, zero, _ = RESOLUTIONS[height]
    return max(0.0, cap * (1 - math.exp(-B * math.log2(kbps / gain / zero))))


def rd_point(codec: Codec, height: int, crf: float, kbps: float, vmaf: float) -> RDPoint:
    return RDPoint(
        codec=codec,
        width=RESOLUTIONS[height][0] if height in RESOLUTIONS else round(height * 16 / 9 / 2) * 2,
        height=height,
        crf=crf,
        preset="medium",
        bitrate_kbps=kbps,
        vmaf=vmaf,
        vmaf_hm=vmaf,
        vmaf_p5=vmaf,
    )


def model_points(
    codec: Codec = "h264",
    *,
    heights: Iterable[int] = RESOLUTIONS,
    gain: float | Callable[[int], float] = 1.0,
    crfs: Iterable[float] | None = None,
) -> list[RDPoint]:
    """Probe points of the model: every height at every CRF of ``crfs`` (default: the codec's grid)."""
    out = []
    for h in heights:
        g = gain(h) if callable(gain) else gain
        for crf in CRFS[codec] if crfs is None else crfs:
            kbps = model_kbps(codec, h, crf, g)
            out.append(rd_point(codec, h, crf, kbps, model_vmaf(h, kbps, g)))
    return out


def rd_points(points: list[RDPoint], *, source: str = "title.mp4") -> RDPoints:
    return RDPoints(
        source=source,
        source_hash="0" * 16,
        width=max(p.width for p in points),
        height=max(p.height for p in points),
        fps=24.0,
        duration=60.0,
        excerpts=[(0.0, 60.0)],
        codecs=list(dict.fromkeys(p.codec for p in points)),
        points=points,
        seconds=0.0,
    )
