"""Quality scores as records (``VmafScore``, ``FrameMetrics``, ``QualityReport``), the VMAF models we can
run, and how per-frame scores are pooled (harmonic mean, percentiles)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from vodflow.records import Record

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "MODEL_4K",
    "PSNR_CAP_DB",
    "FrameMetrics",
    "QualityReport",
    "VmafScore",
    "harmonic_mean",
    "percentile",
    "pick_model",
]

DEFAULT_MODEL = "vmaf_v0.6.1"
MODEL_4K = "vmaf_4k_v0.6.1"
# The models built into the libvmaf (2.3.0) of our ffmpeg 6.0; any other name fails inside ffmpeg.
MODELS = frozenset({DEFAULT_MODEL, "vmaf_v0.6.1neg", MODEL_4K})
# The 4K model is trained for 2160p viewed at 1.5 screen heights; above 1440p that is the closer match.
_4K_ABOVE_HEIGHT = 1440

# Identical frames have an MSE of 0 and an infinite PSNR, which JSON cannot carry and a mean cannot
# use. We report 100 dB instead, both from scikit-image and from ffmpeg's psnr filter (which prints
# "inf"). The largest finite 8-bit PSNR is 10*log10(255^2 * pixels): 95.7 dB at 320x180, 111 dB at 1080p,
# so the cap only touches frames whose squared errors sum to less than 14 code values^2 at 1080p.
PSNR_CAP_DB = 100.0


class VmafScore(Record):
    model: str
    subsample: int
    frames: int  # frames scored: len(per_frame)
    mean: float
    harmonic_mean: float  # 1 / mean(1 / (1 + x)) - 1, the VMAF project's definition
    p5: float  # 5th percentile of per_frame, linear interpolation between ranks
    min: float
    per_frame: list[float]
    seconds: float  # wall time of the ffmpeg run (shared by every score of one vmaf_many run)
    fps: float  # frames of the reference decoded and processed per wall second (all, whatever subsample)
    ssim: float | None = None  # mean of ssim_per_frame, when libvmaf's float_ssim was asked for
    ssim_per_frame: list[float] | None = None  # libvmaf's float_ssim (luma) of the same scored frames


class FrameMetrics(Record):
    frames: int  # frames scored
    subsample: int
    ssim_mean: float
    ssim_min: float
    psnr_mean: float  # mean of per-frame PSNR of the Y plane, each capped at PSNR_CAP_DB
    psnr_min: float
    ssim: list[float]
    psnr: list[float]
    seconds: float


class QualityReport(Record):
    reference: str
    distorted: str
    width: int  # reference size: what the distorted was scaled to
    height: int
    vmaf: VmafScore
    metrics: FrameMetrics | None


def pick_model(height: int) -> str:
    """Return the VMAF model for a reference ``height``: the 4K model above 1440p, else vmaf_v0.6.1."""
    return MODEL_4K if height > _4K_ABOVE_HEIGHT else DEFAULT_MODEL


def harmonic_mean(scores: Iterable[float]) -> float:
    """The VMAF project's harmonic mean, ``1 / mean(1 / (1 + x)) - 1``.

    The +1 keeps a frame scoring 0 from making the mean 0; the pooling still weighs the worst frames
    more than the plain mean does, and it is never above it.
    """
    xs = list(scores)
    return len(xs) / sum(1.0 / (1.0 + x) for x in xs) - 1.0


def percentile(scores: Iterable[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks (numpy's default)."""
    return float(np.percentile(np.asarray(list(scores), dtype=np.float64), q))
