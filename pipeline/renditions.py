"""The records of an encode: what a rung asks for (``RateControl``, ``Rendition``, ``AudioRendition``),
what one title's rungs share while they are encoded (``TitleSpec``), and what came out (``EncodedFile``,
``EncodeResult``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from pipeline.codecs import CRF_MAX, CRF_STEP, DEFAULT_PRESET, PIX_FMTS, PRESET_RANGE, PROFILES, X26X_PRESETS, Codec
from pipeline.probe import MAX_SIDE, MediaInfo
from vodflow.records import Record

__all__ = [
    "DEFAULT_AUDIO",
    "ENCODE_RECORD",
    "AudioRendition",
    "EncodeResult",
    "EncodedFile",
    "RateControl",
    "Rendition",
    "TitleSpec",
]


class RateControl(Record):
    """How a rung spends bits.

    ``crf``: constant quality. ``capped_crf``: constant quality under a VBV cap of ``maxrate_kbps`` with
    a ``bufsize_kbits`` buffer (default twice the cap): the delivery default, so a manifest's BANDWIDTH
    is a real bound. ``bitrate``: a target average, optionally capped by ``maxrate_kbps``.
    """

    mode: Literal["crf", "capped_crf", "bitrate"]
    crf: float | None = None
    bitrate_kbps: int | None = None
    maxrate_kbps: int | None = None
    bufsize_kbits: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_bufsize(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("maxrate_kbps") and not data.get("bufsize_kbits"):
            data = {**data, "bufsize_kbits": 2 * int(data["maxrate_kbps"])}
        return data

    @model_validator(mode="after")
    def _check(self) -> RateControl:
        for field in ("bitrate_kbps", "maxrate_kbps", "bufsize_kbits"):
            value = getattr(self, field)
            if value is not None and value <= 0:
                raise ValueError(f"{field} must be positive, not {value}")
        if self.crf is not None and self.crf < 0:
            raise ValueError(f"crf must be 0 or more, not {self.crf:g}")
        if self.mode in ("crf", "capped_crf") and self.crf is None:
            raise ValueError(f"{self.mode} rate control needs a crf value")
        if self.mode in ("crf", "capped_crf") and self.bitrate_kbps is not None:
            raise ValueError(f"{self.mode} rate control takes no target bitrate (use maxrate_kbps for a cap)")
        if self.mode == "crf" and self.maxrate_kbps is not None:
            raise ValueError("crf rate control takes no maxrate: use mode capped_crf")
        if self.mode == "capped_crf" and self.maxrate_kbps is None:
            raise ValueError("capped_crf rate control needs maxrate_kbps")
        if self.mode == "bitrate":
            if self.bitrate_kbps is None:
                raise ValueError("bitrate rate control needs bitrate_kbps")
            if self.crf is not None:
                raise ValueError("bitrate rate control takes no crf")
            if self.maxrate_kbps is not None and self.maxrate_kbps < self.bitrate_kbps:
                raise ValueError(f"maxrate {self.maxrate_kbps}k is below the target bitrate {self.bitrate_kbps}k")
        if self.bufsize_kbits is not None and self.maxrate_kbps is None:
            raise ValueError("bufsize_kbits needs maxrate_kbps")
        return self

    @property
    def label(self) -> str:
        """Short text for file names: ``3000k``, ``3000kmax4500k``, ``crf23``, ``crf23max3000k``."""
        base = f"{self.bitrate_kbps}k" if self.mode == "bitrate" else f"crf{self.crf:g}"
        return base + (f"max{self.maxrate_kbps}k" if self.maxrate_kbps is not None else "")


class Rendition(Record):
    """One video rung: codec, frame size, rate control and the encoder settings that shape it."""

    codec: Codec
    width: int
    height: int
    rate: RateControl
    preset: str | None = None  # None: DEFAULT_PRESET for the codec
    gop_seconds: float = 2.0
    profile: str | None = None
    level: str | None = None  # "4.1"
    pix_fmt: str = "yuv420p"

    @model_validator(mode="after")
    def _check(self) -> Rendition:
        c = self.codec
        for side, value in (("width", self.width), ("height", self.height)):
            if not 16 <= value <= MAX_SIDE:
                raise ValueError(f"{side} {value} is outside 16..{MAX_SIDE}")
        if not 0 < self.gop_seconds <= 20:
            raise ValueError(f"gop_seconds {self.gop_seconds:g} is outside (0, 20]")
        if self.preset is not None:
            if c in ("h264", "hevc") and self.preset not in X26X_PRESETS:
                raise ValueError(f"{c} preset {self.preset!r} is not one of {', '.join(X26X_PRESETS)}")
            if c in PRESET_RANGE and not (re.fullmatch(r"-?\d+", self.preset) and int(self.preset) in PRESET_RANGE[c]):
                r = PRESET_RANGE[c]
                raise ValueError(f"{c} preset {self.preset!r} is not a number in {r.start}..{r.stop - 1}")
        crf = self.rate.crf
        if crf is not None:
            if crf > CRF_MAX[c]:
                raise ValueError(f"{c} crf {crf:g} is above {CRF_MAX[c]:g}")
            if CRF_STEP[c] >= 1 and crf != int(crf):
                raise ValueError(f"{c} crf must be a whole number, not {crf:g}")
        if c in ("av1", "vp9") and self.rate.mode == "bitrate" and self.rate.maxrate_kbps is not None:
            raise ValueError(f"{c} cannot cap a target bitrate (no VBV outside CRF): use crfN@MAXk instead")
        if self.pix_fmt not in PIX_FMTS[c]:
            raise ValueError(f"{c} pix_fmt {self.pix_fmt!r} is not one of {', '.join(PIX_FMTS[c])}")
        if self.profile is not None and self.profile not in PROFILES[c]:
            raise ValueError(f"{c} profile {self.profile!r} is not one of {', '.join(PROFILES[c])}")
        if self.level is not None and not re.fullmatch(r"\d(\.\d)?", self.level):
            raise ValueError(f"level {self.level!r} is not like 4 or 4.1")
        return self

    @property
    def name(self) -> str:
        """Unique per rung of a title, used for file names: ``h264_1280x720_3000k``."""
        return f"{self.codec}_{self.width}x{self.height}_{self.rate.label}"

    @property
    def effective_preset(self) -> str:
        """The preset this rung is encoded with: its own, or ``DEFAULT_PRESET`` for its codec."""
        return self.preset if self.preset is not None else DEFAULT_PRESET[self.codec]


class AudioRendition(Record):
    """One audio rendition, made of every audio stream of the source, each mixed to ``channels``."""

    codec: Literal["aac", "opus"]
    bitrate_kbps: int
    channels: int = 2
    sample_rate: int = 48000

    @model_validator(mode="after")
    def _check(self) -> AudioRendition:
        if not 8 <= self.bitrate_kbps <= 1024:
            raise ValueError(f"audio bitrate {self.bitrate_kbps}k is outside 8..1024k")
        if self.channels not in (1, 2, 6):
            raise ValueError(f"channels {self.channels} is not 1, 2 or 6")
        if self.codec == "opus" and self.sample_rate != 48000:
            raise ValueError("Opus is always 48000 Hz")
        return self

    @property
    def name(self) -> str:
        """``aac_128k``; channel count and rate appended when not stereo 48 kHz."""
        extra = ("" if self.channels == 2 else f"_{self.channels}ch") + (
            "" if self.sample_rate == 48000 else f"_{self.sample_rate // 1000}khz"
        )
        return f"{self.codec}_{self.bitrate_kbps}k{extra}"


DEFAULT_AUDIO: tuple[AudioRendition, ...] = (
    AudioRendition(codec="aac", bitrate_kbps=128),
    AudioRendition(codec="opus", bitrate_kbps=96),
)


class EncodedFile(Record):
    """A finished rendition file and what ffprobe measured in it.

    ``peak_bitrate_kbps`` is the highest bitrate over GOP-aligned windows (the segments a packager will
    cut); ``encode_seconds`` is the wall time of the ffmpeg process that wrote the file, shared by every
    rung that process wrote.
    """

    kind: Literal["video", "audio"]
    rendition: Rendition | AudioRendition
    path: str
    width: int | None = None
    height: int | None = None
    duration: float
    frames: int | None = None
    channels: int | None = None
    sample_rate: int | None = None
    bitrate_kbps: float
    peak_bitrate_kbps: float
    size_bytes: int
    encode_seconds: float
    language: str | None = None  # audio: the source stream's language ("und" when it has none)
    source_stream: int | None = None  # audio: the source stream index it was made from


ENCODE_RECORD = "encode.json"  # the EncodeResult beside the renditions it lists (what package reads)


class EncodeResult(Record):
    """Every rendition of one title; ``warnings`` are one-line notes the caller should show."""

    source: str
    frame_rate: str  # the one constant rate of every video rung, e.g. "30000/1001"
    gop_frames: int
    video: list[EncodedFile]
    audio: list[EncodedFile]
    warnings: list[str]
    seconds: float


@dataclass(frozen=True, slots=True)
class TitleSpec:
    """What every rung of one title shares while it is encoded: the source, its probe, the one constant
    frame rate, the GOP length in frames and whether to deinterlace."""

    src: Path
    info: MediaInfo
    fps: Fraction
    gop_frames: int
    deinterlace: bool

    @property
    def stream(self) -> str:
        """The ffmpeg stream specifier of the source's video stream (``0:<index>``)."""
        assert self.info.video is not None
        return f"0:{self.info.video.index}"
