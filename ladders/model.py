"""The records of per-title ladder work: rate-quality points, hulls, rungs and ladders."""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field

from pipeline.codecs import Codec
from pipeline.renditions import DEFAULT_AUDIO, AudioRendition, RateControl, Rendition
from vodflow.records import Record

__all__ = ["Hull", "Ladder", "LadderPolicy", "RDPoint", "RDPoints", "Rung"]

# The highest CRF each encoder takes (x264/x265: 51; SVT-AV1 and libvpx-vp9: 63).


class RDPoint(Record):
    """One probe encode: a codec at a resolution and a CRF, its bitrate and its measured quality."""

    codec: Codec
    width: int
    height: int
    crf: float
    preset: str
    bitrate_kbps: float  # average over everything analysed (all excerpts)
    vmaf: float  # mean over the scored frames of all excerpts
    vmaf_hm: float  # harmonic mean (VMAF project's definition)
    vmaf_p5: float  # 5th percentile of per-frame scores
    ssim: float | None = None  # mean luma SSIM
    encode_seconds: float = 0.0

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def log_rate(self) -> float:
        return math.log2(self.bitrate_kbps)


class RDPoints(Record):
    """Everything ``ladders.analyze`` measured for one title, for every codec asked for."""

    source: str
    source_hash: str  # content hash of the source bytes (the cache key's first half)
    width: int
    height: int
    fps: float
    duration: float  # of the whole title
    excerpts: list[tuple[float, float]]  # (start, length) in seconds; one (0, duration) when whole
    codecs: list[Codec]
    points: list[RDPoint]
    seconds: float  # wall time of the analysis that produced this (0 when every point came from cache)

    def for_codec(self, codec: Codec) -> list[RDPoint]:
        return [p for p in self.points if p.codec == codec]


class Hull(Record):
    """The upper convex hull of one codec's points in (log2 bitrate, VMAF), by ascending bitrate.

    Between two hull points quality is linear in log-rate; outside the hull's range nothing is known.
    """

    codec: Codec
    points: list[RDPoint]

    def vmaf_at(self, kbps: float) -> float:
        """VMAF the hull predicts at ``kbps`` (clamped to the hull's ends)."""
        pts = self.points
        x = math.log2(kbps)
        if x <= pts[0].log_rate:
            return pts[0].vmaf
        for a, b in itertools.pairwise(pts):
            if x <= b.log_rate:
                return a.vmaf + (b.vmaf - a.vmaf) * (x - a.log_rate) / (b.log_rate - a.log_rate)
        return pts[-1].vmaf

    def kbps_at(self, vmaf: float) -> float | None:
        """Bitrate the hull needs for ``vmaf``; None when the hull never reaches it."""
        pts = self.points
        if vmaf <= pts[0].vmaf:
            return pts[0].bitrate_kbps
        for a, b in itertools.pairwise(pts):
            if vmaf <= b.vmaf:
                return 2 ** (a.log_rate + (b.log_rate - a.log_rate) * (vmaf - a.vmaf) / (b.vmaf - a.vmaf))
        return None


class LadderPolicy(Record):
    """How a ladder is chosen from a hull (``ladders.select``)."""

    target_vmaf: float = 95.0  # top rung: about where a 1080p viewer stops seeing differences
    min_kbps: float = 150.0  # bottom rung: what still streams on a poor mobile link
    min_vmaf: float | None = None  # optional quality floor for the bottom rung
    vmaf_step: float = 6.0  # about one just-noticeable difference between neighbouring rungs
    min_ratio: float = 1.5  # neighbouring rungs at least this far apart in bitrate...
    max_ratio: float = 2.0  # ...and at most this far (larger gaps make switches visible)
    max_rungs: int = Field(6, ge=1)
    # Capped CRF: the CRF sets quality, the VBV cap bounds the peaks a manifest must announce.
    maxrate_ratio: float = Field(1.5, ge=1.0)  # maxrate = ratio x predicted average bitrate
    # Per-codec overrides. SVT-AV1 enforces its cap (mbr) over a far shorter window than x264's VBV
    # buffer: at 1.5x a pan's CRF 43 encode lost 16 % of its bits and 2.8 VMAF against the same CRF
    # uncapped, at 2x 0.1 VMAF, at 2.5x nothing; so AV1 rungs get 2.5x and stay what analysis predicted.
    codec_maxrate_ratio: dict[str, float] = Field(default_factory=lambda: {"av1": 2.5})
    bufsize_ratio: float = Field(2.0, gt=0)  # bufsize = ratio x maxrate
    # A rung of a newer codec must beat the H.264 hull at its bitrate by at least this much VMAF.
    codec_gain_vmaf: float = 0.0

    def maxrate_ratio_for(self, codec: str) -> float:
        """The maxrate / predicted-average ratio for ``codec``'s rungs."""
        return self.codec_maxrate_ratio.get(codec, self.maxrate_ratio)


class Rung(Record):
    """One rung of a ladder: what to encode, and what it is predicted (and later measured) to give."""

    codec: Codec
    width: int
    height: int
    rate: RateControl
    bitrate_kbps: float  # predicted (per-title) or nominal (fixed) average bitrate
    predicted_vmaf: float | None = None
    measured_vmaf: float | None = None
    measured_kbps: float | None = None

    def rendition(self, *, gop_seconds: float = 2.0, preset: str | None = None) -> Rendition:
        """The ``pipeline.renditions.Rendition`` that encodes this rung."""
        return Rendition(
            codec=self.codec,
            width=self.width,
            height=self.height,
            rate=self.rate,
            gop_seconds=gop_seconds,
            preset=preset,
        )


class Ladder(Record):
    """Rungs for every codec of a title (ascending bitrate within a codec) and its audio renditions."""

    source: str
    kind: Literal["per-title", "fixed"]
    rungs: list[Rung]
    audio: list[AudioRendition] = list(DEFAULT_AUDIO)
    policy: LadderPolicy | None = None  # per-title ladders: how they were chosen

    def for_codec(self, codec: Codec) -> list[Rung]:
        return [r for r in self.rungs if r.codec == codec]

    @property
    def codecs(self) -> list[Codec]:
        return list(dict.fromkeys(r.codec for r in self.rungs))
