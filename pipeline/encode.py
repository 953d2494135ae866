"""Encoding a title's renditions: one ffmpeg process per codec decodes the source once and writes every rung.

Every rung of a title shares one constant frame rate (the source's nominal rate) and closed GOPs of
exactly ``round(gop_seconds * fps)`` frames, with scene-cut keyframes disabled in every encoder, so
keyframes fall on the same instants in every rung of every codec and a player can switch at any segment
boundary. Interlaced sources are deinterlaced (bwdif, one frame per frame); variable-rate sources
become constant-rate at their nominal rate. A rung with an odd size is rounded down to even, and a rung
larger than the source is encoded (upscaled) anyway; both come back as warnings, not errors.

Audio renditions (AAC and Opus, stereo, 48 kHz) come from a process of their own: it demuxes the file
again but decodes no video, which costs a file read next to a video decode; in exchange the audio files
do not depend on which video codecs a call asks for, and a video failure never leaves audio half-made.
Every audio stream of the source (one per language, typically) gets every audio rendition, downmixed
to the rendition's channel count; with one stream the file is ``aac_128k.mp4``, with several each name
gains the stream's language (``aac_128k_eng.mp4``, ``aac_128k_fra.mp4``; ``_a2`` style when a language
repeats or is unknown) and ``EncodedFile.language`` says which.

Outputs are written into a hidden staging folder inside ``out_dir`` and moved to their final names only
when every rendition is finished and measured; on any failure the staging folder is removed, so the
output folder never holds a half-made file.

Rate control (``RateControl.mode``) per codec:

=========== ==================================== ==================================== =========================
codec       crf                                  capped_crf                           bitrate
=========== ==================================== ==================================== =========================
h264/hevc   ``-crf``                             ``-crf -maxrate -bufsize`` (VBV)     ``-b:v`` [+ VBV cap]
av1         ``-crf``                             ``-crf -maxrate -bufsize`` (SVT mbr) ``-b:v`` (VBR; no cap)
vp9         ``-crf -b:v 0`` (constant quality)   ``-crf -b:v MAX`` (constrained q.)   ``-b:v`` (VBR; no cap)
=========== ==================================== ==================================== =========================

x264/x265 hold a true VBV cap. SVT-AV1 caps CRF with ``mbr`` (we pass ``mbr-overshoot-pct=10``; its
buffer size applies to CBR only) and refuses a cap in VBR. libvpx bounds the *average* in constrained
quality and has no VBV outside CBR. So a capped *bitrate* rung is refused for AV1 and VP9; capped CRF
works for all four, tightest for H.264/HEVC.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import ValidationError, model_validator

from pipeline.codecs import CRF_MAX, Codec
from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import MAX_SIDE, AudioStream, MediaInfo, parse_rate, probe, require_video
from vodflow import tools
from vodflow.errors import (
    DecodeError,
    EncoderOptionError,
    ProbeError,
    ProcessError,
    UnsupportedMedia,
    UsageError,
)
from vodflow.process import run
from vodflow.records import Record

__all__ = [
    "DEFAULT_AUDIO",
    "DEFAULT_PRESET",
    "ENCODERS",
    "AudioRendition",
    "EncodeResult",
    "EncodedFile",
    "RateControl",
    "Rendition",
    "audio_args",
    "encode",
    "parse_rung",
    "video_args",
]

log = logging.getLogger(__name__)

# The ffmpeg encoder behind each codec.
ENCODERS: dict[str, str] = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
AUDIO_ENCODERS: dict[str, str] = {"aac": "aac", "opus": "libopus"}

# x264/x265 preset names; SVT-AV1 preset numbers (-2 slowest .. 13 fastest); libvpx cpu-used (0 .. 8).
DEFAULT_PRESET: dict[str, str] = {"h264": "medium", "hevc": "medium", "av1": "8", "vp9": "4"}
_X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_PRESET_RANGE = {"av1": range(-2, 14), "vp9": range(0, 9)}
# What the encoders in our ffmpeg build accept (x265 and libvpx are 8-bit builds there).
_PIX_FMTS = {
    "h264": ("yuv420p", "yuv420p10le"),
    "hevc": ("yuv420p",),
    "av1": ("yuv420p", "yuv420p10le"),
    "vp9": ("yuv420p",),
}
_PROFILES = {
    "h264": ("baseline", "main", "high", "high10"),
    "hevc": ("main", "mainstillpicture"),
    "av1": ("main", "high", "professional"),
    "vp9": ("0", "1", "2", "3"),
}

# A decoded title shorter than its container claims by more than this is a broken or lying file.
_SHORTFALL_SECONDS = 2.0
_SHORTFALL_FRACTION = 0.05
_MEASURE_TIMEOUT_S = 300.0
# An MP4 whose sample tables list more bytes than this times its size was cut short (a healthy file
# lists a little less than its size: the index and headers take the rest).
_TRUNCATED_RATIO = 1.05

# Encoder-side lines that mean "I did not do what the arguments asked" (ffmpeg's own "has not been used
# for any stream" is caught by run_ffmpeg): bad x264/x265/SVT parameter strings, a VBV cap dropped, a
# pixel format silently replaced.
_ENCODER_CONTEXT = re.compile(r"^(\[(lib\w+|aac|enc:[^\]]*) @|x26[45] \[|Svt\[|\[vost#)")
_OPTION_PROBLEM = re.compile(
    r"Error parsing option|Unknown option|Invalid value for|Incompatible pixel format|, ignored\b"
)
# Both at once, so run_ffmpeg stops the encode on the first such line instead of finishing it.
_ENCODER_OPTION_PROBLEM = re.compile(f"{_ENCODER_CONTEXT.pattern}.*(?:{_OPTION_PROBLEM.pattern})")
_LEVEL_TAG = re.compile(r"\[(error|fatal)\]")
# Lines from the demuxer or a decoder: the input is at fault, not our arguments.
_INPUT_CONTEXT = re.compile(r"\[(in#|vist#|aist#|dec:)")


# --- specs ----------------------------------------------------------------------------------------


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
            if c in ("h264", "hevc") and self.preset not in _X26X_PRESETS:
                raise ValueError(f"{c} preset {self.preset!r} is not one of {', '.join(_X26X_PRESETS)}")
            if c in _PRESET_RANGE and not (
                re.fullmatch(r"-?\d+", self.preset) and int(self.preset) in _PRESET_RANGE[c]
            ):
                r = _PRESET_RANGE[c]
                raise ValueError(f"{c} preset {self.preset!r} is not a number in {r.start}..{r.stop - 1}")
        crf = self.rate.crf
        if crf is not None:
            if crf > CRF_MAX[c]:
                raise ValueError(f"{c} crf {crf:g} is above {CRF_MAX[c]:g}")
            if c in ("av1", "vp9") and crf != int(crf):
                raise ValueError(f"{c} crf must be a whole number, not {crf:g}")
        if c in ("av1", "vp9") and self.rate.mode == "bitrate" and self.rate.maxrate_kbps is not None:
            raise ValueError(f"{c} cannot cap a target bitrate (no VBV outside CRF): use crfN@MAXk instead")
        if self.pix_fmt not in _PIX_FMTS[c]:
            raise ValueError(f"{c} pix_fmt {self.pix_fmt!r} is not one of {', '.join(_PIX_FMTS[c])}")
        if self.profile is not None and self.profile not in _PROFILES[c]:
            raise ValueError(f"{c} profile {self.profile!r} is not one of {', '.join(_PROFILES[c])}")
        if self.level is not None and not re.fullmatch(r"\d(\.\d)?", self.level):
            raise ValueError(f"level {self.level!r} is not like 4 or 4.1")
        return self

    @property
    def name(self) -> str:
        """Unique per rung of a title, used for file names: ``h264_1280x720_3000k``."""
        return f"{self.codec}_{self.width}x{self.height}_{self.rate.label}"

    @property
    def effective_preset(self) -> str:
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


class EncodeResult(Record):
    """Every rendition of one title; ``warnings`` are one-line notes the caller should show."""

    source: str
    frame_rate: str  # the one constant rate of every video rung, e.g. "30000/1001"
    gop_frames: int
    video: list[EncodedFile]
    audio: list[EncodedFile]
    warnings: list[str]
    seconds: float


# --- parsing a rung spec --------------------------------------------------------------------------

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


# --- ffmpeg arguments -----------------------------------------------------------------------------


def video_args(r: Rendition, *, gop_frames: int) -> list[str]:
    """The encoder arguments of one rung (after ``-map``): codec, preset, fixed closed GOP, rate control."""
    rc = r.rate
    args = ["-c:v", ENCODERS[r.codec]]
    # Every encoder gets the same fixed keyframe interval; each also needs its own switch to stop
    # placing extra keyframes at scene cuts, or keyframes would drift apart between rungs and codecs.
    if r.codec == "h264":
        args += ["-preset", r.effective_preset, "-g", str(gop_frames)]
        args += ["-sc_threshold", "0", "-flags", "+cgop"]  # no scene-cut I-frames; closed GOPs
        args += ["-profile:v", r.profile] if r.profile else []
        args += ["-level:v", r.level] if r.level else []
    elif r.codec == "hevc":
        x265 = ["scenecut=0", "open-gop=0"]  # IDR at every GOP start, none in between
        if r.level:
            x265.append(f"level-idc={r.level}")  # libx265 ignores ffmpeg's generic -level
        args += ["-preset", r.effective_preset, "-g", str(gop_frames), "-x265-params", ":".join(x265)]
        args += ["-tag:v", "hvc1"]  # the sample entry Apple players require for HEVC in MP4
        args += ["-profile:v", r.profile] if r.profile else []
    elif r.codec == "av1":
        # ffmpeg maps -g to SVT's keyint; irefresh-type=2 makes each keyframe a closed-GOP key frame.
        svt = ["irefresh-type=2", "scd=0"]
        if rc.maxrate_kbps is not None:
            svt.append("mbr-overshoot-pct=10")
        if r.level:
            svt.append(f"level={r.level.replace('.', '')}")  # SVT wants 41 for level 4.1
        args += ["-preset", r.effective_preset, "-g", str(gop_frames), "-svtav1-params", ":".join(svt)]
        args += ["-profile:v", r.profile] if r.profile else []
    else:  # vp9
        args += ["-deadline", "good", "-cpu-used", r.effective_preset, "-row-mt", "1"]
        # libvpx places a keyframe anywhere between kf-min-dist and kf-max-dist: equal means fixed.
        args += ["-g", str(gop_frames), "-keyint_min", str(gop_frames)]
        args += ["-profile:v", r.profile] if r.profile else []
        args += ["-level", r.level] if r.level else []

    if rc.mode == "bitrate":
        args += ["-b:v", f"{rc.bitrate_kbps}k"]
    else:
        args += ["-crf", f"{rc.crf:g}"]
    if r.codec == "vp9" and rc.mode != "bitrate":
        # libvpx: crf with -b:v 0 is constant quality; crf with -b:v N is constrained quality, where N
        # bounds the average rate. libvpx has no VBV outside CBR (-maxrate/-bufsize change nothing),
        # so this is its capped CRF.
        args += ["-b:v", f"{rc.maxrate_kbps}k" if rc.maxrate_kbps else "0"]
    elif r.codec == "av1" and rc.maxrate_kbps is not None:
        # ffmpeg maps -maxrate to SVT's mbr (capped CRF). SVT lets the cap leak by mbr-overshoot-pct,
        # 50 % by default; 10 holds it. -bufsize would only set SVT's buf-sz, which is for CBR.
        args += ["-maxrate", f"{rc.maxrate_kbps}k"]
    elif rc.maxrate_kbps is not None:
        args += ["-maxrate", f"{rc.maxrate_kbps}k", "-bufsize", f"{rc.bufsize_kbits}k"]  # x264/x265 VBV
    args += ["-pix_fmt", r.pix_fmt]
    return args


def audio_args(a: AudioRendition) -> list[str]:
    """The encoder arguments of one audio rendition: codec, bitrate, channel count (downmix), rate."""
    args = ["-c:a", AUDIO_ENCODERS[a.codec], "-b:a", f"{a.bitrate_kbps}k"]
    if a.codec == "opus":
        # libopus' default unconstrained VBR overshoots 96k by half on tonal content; constrained VBR
        # keeps the rate a manifest can promise.
        args += ["-vbr", "constrained"]
    # A 5.1 source is downmixed by swresample's standard matrix.
    return [*args, "-ac", str(a.channels), "-ar", str(a.sample_rate)]


@dataclass(frozen=True, slots=True)
class _Title:
    """What every rung of one title shares."""

    src: Path
    info: MediaInfo
    fps: Fraction
    gop_frames: int
    deinterlace: bool

    @property
    def stream(self) -> str:
        assert self.info.video is not None
        return f"0:{self.info.video.index}"


# Rendition files are plain MP4 (no fragments): the packager cuts CMAF segments at the aligned keyframes.
_OUTPUT_TAIL = ["-map_metadata", "-1", "-map_chapters", "-1", "-f", "mp4"]


def _video_command(title: _Title, jobs: Sequence[tuple[Rendition, Path]]) -> list[str]:
    chain = []
    if title.deinterlace:
        chain.append("bwdif=mode=send_frame:parity=auto:deint=all")  # one frame per frame: rate unchanged
    chain.append(f"fps={title.fps}")  # one constant rate for every rung; VFR sources become CFR here
    chain.append(f"split={len(jobs)}" + "".join(f"[s{i}]" for i in range(len(jobs))))
    graph = [f"[{title.stream}]" + ",".join(chain)]
    for i, (r, _) in enumerate(jobs):
        graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=lanczos,setsar=1,format={r.pix_fmt}[v{i}]")
    args = ["-xerror", "-i", str(title.src), "-filter_complex", ";".join(graph)]
    for i, (r, path) in enumerate(jobs):
        args += ["-map", f"[v{i}]", *video_args(r, gop_frames=title.gop_frames), "-an", "-sn", "-dn"]
        args += [*_OUTPUT_TAIL, str(path)]
    return args


def _audio_suffixes(streams: Sequence[AudioStream]) -> list[str]:
    """File-name suffix per source audio stream: none for one stream, else its language (``_eng``),
    or its position (``_a2``) where the language is unknown or shared."""
    if len(streams) == 1:
        return [""]
    langs = [s.language for s in streams]
    return [f"_{lang}" if lang != "und" and langs.count(lang) == 1 else f"_a{i + 1}" for i, lang in enumerate(langs)]


def _audio_command(title: _Title, jobs: Sequence[tuple[AudioRendition, AudioStream, Path]]) -> list[str]:
    args = ["-xerror", "-i", str(title.src)]
    for a, stream, path in jobs:
        args += ["-map", f"0:{stream.index}", *audio_args(a), "-vn", "-sn", "-dn"]
        args += ["-metadata:s:a:0", f"language={stream.language}", *_OUTPUT_TAIL, str(path)]
    return args


# --- running and judging ffmpeg -------------------------------------------------------------------


def _strip_prefixes(line: str) -> str:
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip()).strip()


def _run(title: _Title, args: list[str], label: str, show_progress: bool) -> float:
    """Run one ffmpeg encode and return its wall seconds.

    Raises ``DecodeError`` when the demuxer or a decoder reported an error (``-xerror`` makes the first
    one stop the run), ``EncoderOptionError`` when an encoder ignored or rejected one of our options,
    and ``ProcessError`` with the first error line otherwise.
    """
    lines: list[str] = []
    try:
        done = run_ffmpeg(
            args,
            duration=title.info.duration,
            label=label,
            on_stderr=lines.append,
            show_progress=show_progress,
            fatal=[_ENCODER_OPTION_PROBLEM],
        )
    except EncoderOptionError:
        raise
    except ProcessError as exc:
        _judge(title, lines, exc)
        raise
    _judge(title, lines, None)
    return done.seconds


def _judge(title: _Title, lines: list[str], exc: ProcessError | None) -> None:
    """Turn the error lines of an ffmpeg run into the one error that explains them, if any."""
    errors = [ln for ln in lines if _LEVEL_TAG.search(ln)]
    if not errors:
        return
    # Decoder contexts are named after the codec ("[h264 @ ...]"), demuxer and decoder threads carry
    # in#/ist#/dec: tags; anything that is not an encoder's line points at the input.
    from_input = [ln for ln in errors if not _ENCODER_CONTEXT.search(ln)]
    if any(_INPUT_CONTEXT.search(ln) for ln in errors) or (exc is None and from_input):
        raise DecodeError(title.src, f"decoding failed: {_strip_prefixes((from_input or errors)[0])}") from exc
    raise ProcessError(
        f"ffmpeg failed encoding {title.src}: {_strip_prefixes(errors[0])}",
        argv=exc.argv if exc else [],
        returncode=exc.returncode if exc else 0,
        stderr_tail=lines[-15:],
    ) from exc


@dataclass(frozen=True, slots=True)
class _Measured:
    duration: float
    frames: int
    size_bytes: int
    bitrate_kbps: float
    peak_bitrate_kbps: float
    width: int | None
    height: int | None
    channels: int | None
    sample_rate: int | None


def _measure(path: Path, window_seconds: float) -> _Measured:
    """Measure a one-stream file from its packets: duration, frames, average and GOP-window peak bitrate."""
    argv = [
        tools.find(tools.Tool.FFPROBE),
        "-v",
        "error",
        "-select_streams",
        "0",
        "-show_entries",
        "packet=pts_time,duration_time,size:stream=width,height,channels,sample_rate",
        "-of",
        "json",
        path,
    ]
    doc = json.loads(run(argv, timeout=_MEASURE_TIMEOUT_S).stdout or "{}")
    stream = (doc.get("streams") or [{}])[0]
    packets = [
        (float(p["pts_time"]), float(p.get("duration_time") or 0), int(p["size"]))
        for p in doc.get("packets") or []
        if p.get("pts_time") not in (None, "N/A")
    ]
    size = path.stat().st_size
    if not packets:
        return _Measured(0.0, 0, size, 0.0, 0.0, None, None, None, None)
    start = min(p[0] for p in packets)
    end = max(p[0] + p[1] for p in packets)
    duration = max(end - start, 1e-6)
    total = sum(p[2] for p in packets)
    windows: dict[int, int] = {}
    for pts, _, nbytes in packets:
        k = int((pts - start) / window_seconds + 1e-6)
        windows[k] = windows.get(k, 0) + nbytes
    # Every window counts as a full window (a file shorter than one as its length): a short last
    # segment holding one audio packet must not pass for the peak.
    peak = max(windows.values()) * 8 / 1000 / min(window_seconds, duration)

    def _int(key: str) -> int | None:
        v = stream.get(key)
        return int(v) if v not in (None, "N/A") else None

    return _Measured(
        duration=duration,
        frames=len(packets),
        size_bytes=size,
        bitrate_kbps=total * 8 / 1000 / duration,
        peak_bitrate_kbps=peak,
        width=_int("width"),
        height=_int("height"),
        channels=_int("channels"),
        sample_rate=_int("sample_rate"),
    )


# --- the stage ------------------------------------------------------------------------------------


def _check_header(src: Path, info: MediaInfo) -> None:
    """Refuse, from the probe alone, a file whose header promises media it does not hold.

    Raises ``ProbeError`` for an MP4/MOV whose sample tables list more bytes than the file has (cut
    short after a front index), or a container duration far beyond what every stream says it holds.
    The decode during the encode catches what a header cannot show (``DecodeError``).
    """
    streams = [s for s in (info.video, *info.audio) if s is not None]
    if any(k in info.container for k in ("mp4", "mov")) and all(s.bit_rate and s.duration for s in streams):
        # MP4 stream bit rates come from the sample tables: bytes listed over duration.
        listed = sum(s.bit_rate * s.duration / 8 for s in streams)  # type: ignore[operator]
        if listed > _TRUNCATED_RATIO * info.size_bytes:
            raise ProbeError(
                src,
                f"truncated MP4: its index lists {listed / 1e3:.0f} kB of samples but the file holds "
                f"{info.size_bytes / 1e3:.0f} kB",
            )
    held = [s.duration for s in streams if s.duration]
    claimed = info.duration
    if claimed and held and claimed - max(held) > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * claimed):
        raise ProbeError(
            src,
            f"the container claims {claimed:.1f} s but its streams hold {max(held):.1f} s "
            "(truncated file or lying header)",
        )


def _plan(src: Path, info: MediaInfo, renditions: Sequence[Rendition]) -> tuple[_Title, list[Rendition], list[str]]:
    """Check the source and the rungs together; return the title settings, the rungs as they will be
    encoded (even sizes) and the warnings so far."""
    v = require_video(info)
    _check_header(src, info)
    rate = parse_rate(v.frame_rate) or parse_rate(v.avg_frame_rate)
    if rate is None:
        raise UnsupportedMedia(src, "video stream has no frame rate")
    if not renditions:
        raise UsageError("encode needs at least one rendition")
    gops = {r.gop_seconds for r in renditions}
    if len(gops) > 1:
        raise UsageError(f"every rung of a title needs the same gop_seconds (keyframes aligned), got {sorted(gops)}")
    gop_frames = max(1, round(gops.pop() * rate))
    warnings: list[str] = []
    if v.vfr:
        warnings.append(f"{src}: variable frame rate; encoded at a constant {float(rate):g} fps")
    if v.interlaced:
        warnings.append(f"{src}: interlaced ({v.field_order}); deinterlaced with bwdif")
    if v.hdr != "sdr":
        warnings.append(f"{src}: {v.hdr.upper()} source encoded without tone mapping; colours will be off")
    sar = parse_rate((v.sar or "1:1").replace(":", "/")) or Fraction(1)
    display_aspect = v.width * sar / v.height
    rungs: list[Rendition] = []
    for r in renditions:
        w, h = r.width // 2 * 2, r.height // 2 * 2
        if (w, h) != (r.width, r.height):
            warnings.append(f"{r.name}: odd frame size {r.width}x{r.height} rounded down to {w}x{h}")
            r = r.model_copy(update={"width": w, "height": h})
        if w > v.width or h > v.height:
            warnings.append(f"{r.name}: upscales the {v.width}x{v.height} source")
        if abs(Fraction(w, h) / display_aspect - 1) > 0.02:
            warnings.append(f"{r.name}: aspect {w}:{h} differs from the source's {float(display_aspect):.3f}")
        rungs.append(r)
    names = [r.name for r in rungs]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise UsageError(f"two rungs would write the same file: {', '.join(dupes)}")
    title = _Title(src=src, info=info, fps=rate, gop_frames=gop_frames, deinterlace=v.interlaced)
    return title, rungs, warnings


def _check_duration(title: _Title, measured: _Measured, what: str, claimed: float | None) -> None:
    """Video is held to the container's duration (a lying container must fail), audio to its stream's."""
    if claimed is None:
        return
    shortfall = claimed - measured.duration
    if shortfall > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * claimed):
        raise DecodeError(
            title.src,
            f"the container claims {claimed:.1f} s but only {measured.duration:.1f} s of {what} decoded "
            "(truncated or lying file)",
        )


def encode(
    src: str | os.PathLike[str],
    renditions: Sequence[Rendition],
    out_dir: str | os.PathLike[str],
    *,
    audio: Sequence[AudioRendition] = DEFAULT_AUDIO,
    show_progress: bool = True,
    decode_once: bool = True,
) -> EncodeResult:
    """Encode ``renditions`` (and ``audio``) of ``src`` into ``out_dir`` as ``<rendition.name>.mp4``.

    One ffmpeg process per codec decodes the source once and writes all of that codec's rungs
    (``decode_once=False`` runs one process per rung instead: the benchmark's baseline). Audio comes from
    one more process; without an audio stream it is skipped with a warning.

    Returns an ``EncodeResult``. Raises ``UsageError`` (missing path, directory, bad rung set),
    ``ProbeError``/``NoVideoStream``/``UnsupportedMedia`` (input refused before encoding, including a
    header that promises more media than the file holds),
    ``DecodeError`` (decoder errors, or far less media than the container claims),
    ``EncoderOptionError`` (ffmpeg ignored one of our options) and ``ProcessError``. On any error no
    output of this call is left in ``out_dir``.
    """
    started = time.monotonic()
    src_path = Path(src)
    info = probe(src_path)
    title, rungs, warnings = _plan(src_path, info, renditions)
    if audio and not info.audio:
        warnings.append(f"{src_path}: no audio stream; audio renditions skipped")
        audio = ()
    for w in warnings:
        log.debug("%s", w)  # returned in the result; the caller decides how to show them

    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".encode-"))
    moved: list[Path] = []
    try:
        video = _encode_video(title, rungs, staging, out, decode_once=decode_once, show_progress=show_progress)
        audio_files = _encode_audio(title, audio, staging, out, show_progress=show_progress)
        for f in [*video, *audio_files]:
            final = out / Path(f.path).name
            os.replace(staging / final.name, final)
            moved.append(final)
    except BaseException:
        for p in moved:
            p.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return EncodeResult(
        source=str(src_path),
        frame_rate=str(title.fps),
        gop_frames=title.gop_frames,
        video=video,
        audio=audio_files,
        warnings=warnings,
        seconds=time.monotonic() - started,
    )


def _encode_video(
    title: _Title, rungs: list[Rendition], staging: Path, out: Path, *, decode_once: bool, show_progress: bool
) -> list[EncodedFile]:
    by_codec: dict[str, list[Rendition]] = {}
    for r in rungs:
        by_codec.setdefault(r.codec, []).append(r)
    groups = [g for rs in by_codec.values() for g in ([rs] if decode_once else [[r] for r in rs])]
    files: dict[str, EncodedFile] = {}
    for group in groups:
        jobs = [(r, staging / f"{r.name}.mp4") for r in group]
        label = f"encode {group[0].codec} x{len(group)}" if len(group) > 1 else f"encode {group[0].name}"
        seconds = _run(title, _video_command(title, jobs), label, show_progress)
        for r, path in jobs:
            files[r.name] = _video_file(title, r, path, out / path.name, seconds)
    return [files[r.name] for r in rungs]


def _video_file(title: _Title, r: Rendition, path: Path, stored: Path, seconds: float) -> EncodedFile:
    """Measure the video rendition at ``path`` (held to the title's duration) as it will be at ``stored``."""
    m = _measure(path, title.gop_frames / title.fps)
    _check_duration(title, m, "video", title.info.duration)
    return EncodedFile(
        kind="video",
        rendition=r,
        path=str(stored),
        width=m.width,
        height=m.height,
        duration=m.duration,
        frames=m.frames,
        bitrate_kbps=m.bitrate_kbps,
        peak_bitrate_kbps=m.peak_bitrate_kbps,
        size_bytes=m.size_bytes,
        encode_seconds=seconds,
    )


def _encode_audio(
    title: _Title, audio: Sequence[AudioRendition], staging: Path, out: Path, *, show_progress: bool
) -> list[EncodedFile]:
    if not audio:
        return []
    names = [a.name for a in audio]
    if len(set(names)) != len(names):
        raise UsageError(f"two audio renditions would write the same file: {', '.join(names)}")
    streams = title.info.audio
    jobs = [
        (a, stream, staging / f"{a.name}{suffix}.mp4")
        for stream, suffix in zip(streams, _audio_suffixes(streams), strict=True)
        for a in audio
    ]
    seconds = _run(title, _audio_command(title, jobs), f"encode audio x{len(jobs)}", show_progress)
    files = []
    for a, stream, path in jobs:
        m = _measure(path, title.gop_frames / title.fps)
        _check_duration(title, m, "audio", stream.duration)
        files.append(
            EncodedFile(
                kind="audio",
                rendition=a,
                path=str(out / path.name),
                duration=m.duration,
                channels=m.channels,
                sample_rate=m.sample_rate,
                bitrate_kbps=m.bitrate_kbps,
                peak_bitrate_kbps=m.peak_bitrate_kbps,
                size_bytes=m.size_bytes,
                encode_seconds=seconds,
                language=stream.language,
                source_stream=stream.index,
            )
        )
    return files
