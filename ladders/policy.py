"""What a per-title analysis measures and how: ``AnalysisPolicy``, its default grids and the CRF floor."""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from pipeline.codecs import CODECS, DEFAULT_PRESET
from vodflow.records import Record

__all__ = ["CRF_MIN", "DEFAULT_CRFS", "DEFAULT_HEIGHTS", "AnalysisPolicy", "usable_cpus"]

DEFAULT_HEIGHTS: tuple[int, ...] = (2160, 1440, 1080, 720, 540, 432, 360, 270, 144)
# Three CRFs per codec, then adaptive ends (``AnalysisPolicy.extend``/``extend_down``): what fits the
# cost goal (analysis <= the final ladder's encode time) with the final preset. H.264 23..33 spans VMAF
# ~96.5 down to ~45-88 (by size) on the 60 s sample title; a fourth grid CRF (18) at every size cost a
# quarter of the analysis there and its probes were never on the hull except at the top size of hard
# titles, which the adaptive top now reaches on demand. The HEVC, AV1 and VP9 grids are the H.264 one
# moved to those encoders' scales (not measured here).
DEFAULT_CRFS: dict[str, tuple[float, ...]] = {
    "h264": (23, 28, 33),
    "hevc": (25, 30, 35),
    "av1": (35, 43, 51),
    "vp9": (32, 40, 48),
}
# The lowest CRF the adaptive top probes: below it the encoders head for lossless profiles (x264 CRF 0 is
# High 4:4:4 Predictive, which players do not take) and no ladder needs the bits.
CRF_MIN = 8.0
_BATCH_AREA = 1920 * 1080


def usable_cpus() -> int:
    """The number of CPUs this process may use (its affinity, not the machine's count), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # what this process may use, not what the machine has
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class AnalysisPolicy(Record):
    """What ``analyze`` measures and how; every field that changes a measurement is in the cache key.

    The defaults keep analysis within the cost of the title's final H.264 ladder encode (x264 medium,
    decode once, 5 capped-CRF rungs 1080p..240p) on a 60 s 1080p title: 0.81-0.86 of its wall time on
    2 cores (``samples.make_long_title``). Against full-title, every-frame measurements of the same
    (size, CRF) encodes, the points' VMAF was off by -1.15 to +0.57 (5 points, 1080p CRF 23 to 270p
    CRF 33) and their bitrate by -12 % to +14 %. Measured on the way:

    * probe preset: x264 veryfast probes score 0.8-20 VMAF below medium at the same size and CRF, the
      gap growing with CRF and changing with size, so no few-point per-title mapping holds 2 VMAF;
      probes use the final preset.
    * excerpts (frames of the full-title encode, so placement alone): 3 x 2 s moved a point's mean
      VMAF by up to 1.0 (1.8 at a point scoring 35), 4 x 2 s by up to 1.0, 6 x 2 s by up to 0.4, at 1x,
      1.33x and 2x the cost. Encoding an excerpt on its own scores 0.1-2 lower than the same frames
      inside the title (x264's lookahead ends with the excerpt; its first frame is a keyframe).
    * subsample: every 10th frame instead of every frame moved those means by 0.3-0.7 more (0.9 at
      the point scoring 35), and halves the cost of VMAF against every 5th.
    * CRF step: interpolating linearly across a step of 10 missed the measured middle point by -0.8
      to -2.9 VMAF (the curve is concave), so the step stays 5 (about a quarter of that); a fifth
      H.264 CRF (38) put the cost at 1.0x the final encode.
    * SSIM from libvmaf in the same pass adds about a fifth to VMAF's cost; a scikit-image pass would
      decode everything again.
    """

    # Probe heights, capped at the source's; widths keep the source's display aspect (even numbers).
    heights: tuple[int, ...] = DEFAULT_HEIGHTS
    # CRFs per codec (AV1 and VP9 take whole numbers only); a codec missing here uses DEFAULT_CRFS.
    crfs: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    # Adaptive low end: a size whose highest-CRF probe is on the codec's hull and still above
    # floor_kbps gets the next CRF up (the grid's last step), up to `extend` more per size, so the hull
    # reaches the ladder's bottom through the sizes that are best there instead of jumping to the
    # smallest one (hard titles); a title whose grid already reaches it pays nothing.
    floor_kbps: float = Field(150.0, gt=0)
    extend: int = Field(3, ge=0)
    # ... but only near the bottom: a size whose cheapest probe is above extend_within x floor_kbps has
    # smaller sizes' probes below it on the hull already (1080p CRF 38 on the 60 s title cost an eighth
    # of the analysis and was never a rung).
    extend_within: float = Field(4.0, ge=1)
    # Adaptive top: a size whose lowest-CRF probe is on the codec's hull and scores under top_vmaf gets
    # the next CRF down (the grid's first step), up to `extend_down` more per size, so the hull brackets
    # the ladder's top rung (``aiming``: its target + 1) on hard titles, and easy ones pay nothing for
    # qualities no rung will have.
    top_vmaf: float = Field(96.0, gt=0, le=100)
    extend_down: int = Field(2, ge=0)
    # Probe preset per codec; missing: the final encode's (pipeline.codecs.DEFAULT_PRESET).
    presets: dict[str, str] = Field(default_factory=dict)
    gop_seconds: float = Field(2.0, gt=0)  # as the final encode's, so probes have its keyframes
    # A title up to whole_below seconds is analysed whole; a longer one through excerpts, each one GOP
    # long by default (an excerpt shorter than a GOP would carry more than its share of keyframes).
    whole_below: float = Field(10.0, ge=0)
    excerpts: int = Field(3, ge=1)
    excerpt_seconds: float = Field(2.0, gt=0)
    # Excerpts start on the final encode's GOP grid and are encoded one GOP early (that GOP is then left
    # out of the bits and the VMAF), so each probe has the keyframes and the rate-control history its
    # frames have inside the title. Measured on the 60 s title at 720p CRF 30: a cold excerpt scored 0.4-3.0 VMAF
    # under the same frames in the full encode; aligned and warmed up, -0.2..+0.1.
    warm_up: bool = True
    subsample: int = Field(10, ge=1)  # VMAF on every Nth frame
    ssim: bool = True  # libvmaf's float_ssim, in the same pass as VMAF
    model: str | None = None  # None: pipeline.scores.pick_model of the source height
    jobs: int | None = Field(None, ge=1)  # concurrent ffmpeg processes; None: the CPUs we may use
    # Probes scored by one ffmpeg (the reference is decoded once per batch) at a 1080p reference; fewer
    # above (each libvmaf holds its own full-size frames: 12 at 1080p took 2.4 GB).
    vmaf_batch: int = Field(12, ge=1)

    def batch_for(self, width: int, height: int) -> int:
        """Probes per VMAF process for a ``width`` x ``height`` reference: ``vmaf_batch`` scaled by area."""
        return max(1, min(self.vmaf_batch, self.vmaf_batch * _BATCH_AREA // (width * height)))

    @model_validator(mode="after")
    def _check(self) -> AnalysisPolicy:
        # Plain ValueErrors on purpose: pydantic turns them into the ValidationError the constructor raises.
        if not self.heights or any(h < 16 for h in self.heights):
            raise ValueError("heights must be a non-empty list of heights of at least 16")
        for codec, crfs in self.crfs.items():
            if codec not in CODECS:
                raise ValueError(f"crfs for unknown codec {codec!r}")
            if not crfs:
                raise ValueError(f"no CRF for {codec}")
        for codec in self.presets:
            if codec not in CODECS:
                raise ValueError(f"preset for unknown codec {codec!r}")
        return self

    def crfs_for(self, codec: str) -> tuple[float, ...]:
        """The CRF grid for ``codec``, ascending: this policy's, else ``DEFAULT_CRFS``'."""
        return tuple(sorted(float(c) for c in self.crfs.get(codec, DEFAULT_CRFS[codec])))

    def crf_step_for(self, codec: str) -> float:
        """How far an extension moves past the grid's highest CRF: the grid's last step (5 by default)."""
        crfs = self.crfs_for(codec)
        return crfs[-1] - crfs[-2] if len(crfs) > 1 else 5.0

    def crf_step_down_for(self, codec: str) -> float:
        """How far the adaptive top moves below the grid's lowest CRF: the grid's first step."""
        crfs = self.crfs_for(codec)
        return crfs[1] - crfs[0] if len(crfs) > 1 else 5.0

    def aiming(self, target_vmaf: float) -> AnalysisPolicy:
        """This policy with its adaptive top set for a ladder whose top rung aims at ``target_vmaf``: one
        point above it, so the top rung's CRF is interpolated between probes rather than extrapolated."""
        return self.model_copy(update={"top_vmaf": min(100.0, target_vmaf + 1.0)})

    def preset_for(self, codec: str) -> str:
        """The probe preset for ``codec``: this policy's, else the final encode's."""
        return self.presets.get(codec, DEFAULT_PRESET[codec])

    @property
    def workers(self) -> int:
        """Concurrent ffmpeg processes: ``jobs``, else every CPU this process may use."""
        return self.jobs or usable_cpus()
