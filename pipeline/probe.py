"""Probing a media file with ffprobe into a ``MediaInfo`` record."""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pipeline.ffprobe import ffprobe
from pipeline.probe_colour import Colour, colour_from, colour_problem, wants_first_frame
from vodflow.errors import (
    BadColourMetadata,
    NoVideoStream,
    ProbeError,
    ProcessTimeout,
    UnsupportedMedia,
    UsageError,
)
from vodflow.records import Record

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE",
    "AudioStream",
    "Colour",
    "MediaInfo",
    "SubtitleStream",
    "VideoStream",
    "parse_rate",
    "probe",
    "require_honest_colour",
    "require_video",
]

# The largest frame the pipeline accepts: 8192 px a side and 8K UHD's pixel count. Beyond that no
# delivery format applies and a single decoded frame costs hundreds of MB.
MAX_SIDE = 8192
MAX_PIXELS = 7680 * 4320

HDRKind = Literal["sdr", "pq", "hlg"]
FieldOrder = Literal["progressive", "tt", "bb", "tb", "bt", "unknown"]

# A rate above this is a timebase, not a frame rate (Matroska reports 1000/1 for VFR content).
_MAX_PLAUSIBLE_FPS = 240.0
_PROBE_TIMEOUT_S = 120.0


def parse_rate(text: str | None) -> Fraction | None:
    """Parse an ffprobe rate ("30000/1001", "25", "0/0", "N/A") into a positive Fraction, or None."""
    if not text:
        return None
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f >= 0 else None  # NaN and negatives mean "unknown" here


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class VideoStream(Record):
    index: int
    codec: str
    profile: str | None = None
    width: int
    height: int
    sar: str = "1:1"
    dar: str | None = None
    frame_rate: str | None = None  # nominal, as a fraction string ("30000/1001")
    avg_frame_rate: str | None = None  # measured over the stream by the demuxer
    fps: float | None = None  # nominal, as a number
    vfr: bool = False  # nominal and average rates disagree by more than 1 %
    pix_fmt: str | None = None
    bit_depth: int = 8
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_matrix: str | None = None
    color_range: str | None = None
    hdr: HDRKind = "sdr"  # what the transfer tag says; ``colour`` holds the verdict and the HDR metadata
    colour: Colour = Colour()
    field_order: FieldOrder = "unknown"
    duration: float | None = None
    frames: int | None = None
    bit_rate: int | None = None  # bits per second

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")


class AudioStream(Record):
    index: int
    codec: str
    channels: int
    channel_layout: str | None = None
    sample_rate: int | None = None
    language: str = "und"
    title: str | None = None
    default: bool = False
    duration: float | None = None
    bit_rate: int | None = None


class SubtitleStream(Record):
    index: int
    codec: str
    language: str = "und"
    title: str | None = None
    default: bool = False
    forced: bool = False


class MediaInfo(Record):
    path: str
    container: str
    size_bytes: int
    duration: float | None  # seconds; None when neither container nor streams say
    bit_rate: int | None = None  # bits per second, whole file
    video: VideoStream | None = None
    audio: list[AudioStream] = []
    subtitles: list[SubtitleStream] = []

    @property
    def has_video(self) -> bool:
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)


def _bit_depth(stream: dict[str, Any]) -> int:
    raw = _int(stream.get("bits_per_raw_sample"))
    if raw and raw in (8, 10, 12, 16):
        return raw
    m = re.search(r"p(\d{2})(le|be)?$", stream.get("pix_fmt") or "")
    return int(m.group(1)) if m else 8


def _hdr(transfer: str | None) -> HDRKind:
    return {"smpte2084": "pq", "arib-std-b67": "hlg"}.get(transfer or "", "sdr")  # type: ignore[return-value]


def _video(s: dict[str, Any], frame: dict[str, Any] | None, frame_read: bool | None) -> VideoStream:
    r = parse_rate(s.get("r_frame_rate"))
    avg = parse_rate(s.get("avg_frame_rate"))
    nominal = r if r is not None and r <= _MAX_PLAUSIBLE_FPS else avg
    vfr = bool(r and avg and abs(float(r) - float(avg)) / float(r) > 0.01) or (r is not None and r > _MAX_PLAUSIBLE_FPS)
    field = s.get("field_order") or "unknown"
    tags = s.get("tags") or {}
    return VideoStream(
        index=s["index"],
        codec=s.get("codec_name") or "unknown",
        profile=s.get("profile"),
        width=_int(s.get("width")) or 0,
        height=_int(s.get("height")) or 0,
        sar=s.get("sample_aspect_ratio") if s.get("sample_aspect_ratio") not in (None, "0:1", "N/A") else "1:1",
        dar=s.get("display_aspect_ratio"),
        frame_rate=str(nominal) if nominal else None,
        avg_frame_rate=str(avg) if avg else None,
        fps=round(float(nominal), 6) if nominal else None,
        vfr=vfr,
        pix_fmt=s.get("pix_fmt"),
        bit_depth=_bit_depth(s),
        color_primaries=s.get("color_primaries"),
        color_transfer=s.get("color_transfer"),
        color_matrix=s.get("color_space"),
        color_range=s.get("color_range"),
        hdr=_hdr(s.get("color_transfer")),
        colour=colour_from(s, _bit_depth(s), frame, frame_read=frame_read),
        field_order=field if field in ("progressive", "tt", "bb", "tb", "bt") else "unknown",
        duration=_float(s.get("duration")) or _tag_duration(tags),
        frames=_int(s.get("nb_frames")),
        bit_rate=_int(s.get("bit_rate")),
    )


def _tag_duration(tags: dict[str, str]) -> float | None:
    # Matroska keeps per-stream durations in a DURATION tag ("00:00:10.000000000").
    text = tags.get("DURATION") or tags.get("duration")
    if not text:
        return None
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None


def _audio(s: dict[str, Any]) -> AudioStream:
    tags = s.get("tags") or {}
    return AudioStream(
        index=s["index"],
        codec=s.get("codec_name") or "unknown",
        channels=_int(s.get("channels")) or 0,
        channel_layout=s.get("channel_layout"),
        sample_rate=_int(s.get("sample_rate")),
        language=tags.get("language") or "und",
        title=tags.get("title"),
        default=bool((s.get("disposition") or {}).get("default")),
        duration=_float(s.get("duration")) or _tag_duration(tags),
        bit_rate=_int(s.get("bit_rate")),
    )


def _subtitle(s: dict[str, Any]) -> SubtitleStream:
    tags = s.get("tags") or {}
    disp = s.get("disposition") or {}
    return SubtitleStream(
        index=s["index"],
        codec=s.get("codec_name") or "unknown",
        language=tags.get("language") or "und",
        title=tags.get("title"),
        default=bool(disp.get("default")),
        forced=bool(disp.get("forced")),
    )


def _video_stream(streams: list[dict[str, Any]]) -> dict[str, Any] | None:
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]  # cover art is not the video
    return videos[0] if videos else None


def parse_ffprobe(
    path: str, size: int, doc: dict[str, Any], first_frame: dict[str, Any] | None = None, frame_read: bool | None = None
) -> MediaInfo:
    """Build a ``MediaInfo`` from ffprobe's JSON (``-show_format -show_streams``) and, for an HDR video, its
    first frame (``-show_frames -read_intervals %+#1``; ``frame_read`` False when ffprobe could not decode it)."""
    streams = doc.get("streams") or []
    fmt = doc.get("format") or {}
    vs = _video_stream(streams)
    video = _video(vs, first_frame, frame_read) if vs is not None else None
    audio = [_audio(s) for s in streams if s.get("codec_type") == "audio"]
    subs = [_subtitle(s) for s in streams if s.get("codec_type") == "subtitle"]
    duration = _float(fmt.get("duration"))
    if duration is None:
        known = [d for d in ([video.duration] if video else []) + [a.duration for a in audio] if d]
        duration = max(known) if known else None
    return MediaInfo(
        path=path,
        container=fmt.get("format_name") or "unknown",
        size_bytes=size,
        duration=duration,
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=audio,
        subtitles=subs,
    )


_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"styp", b"sidx", b"moof"}


def _explain(stderr: list[str], path: Path) -> str:
    lines = [ln.strip() for ln in stderr if ln.strip()]
    text = " ".join(lines)
    if "moov atom not found" in text:
        with path.open("rb") as fh:
            head = fh.read(8)
        # The MP4 demuxer is picked by the file name; a file that does not even start with a box is
        # something else named .mp4, not a cut MP4.
        if head[4:8] not in _ISO_BOXES:
            return "not a media file (no MP4 header: wrong content for its .mp4 name?)"
        return "truncated or unfinished MP4 (moov atom not found)"
    if "Invalid data found when processing input" in text:
        return "not a media file ffprobe can read (invalid data)"
    last = lines[-1] if lines else "ffprobe failed"
    return re.sub(r"^\[[^\]]+\]\s*", "", last.split(": ", 1)[-1] if ": " in last else last)


def check_input(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if it names a non-empty regular file; raise a one-line error saying why not."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    if p.is_dir():
        raise UsageError(f"{p}: is a directory, not a media file")
    if not p.is_file():
        raise UsageError(f"{p}: not a regular file")
    if p.stat().st_size == 0:
        raise ProbeError(p, "empty file (0 bytes)")
    return p


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Probe ``path`` and return its ``MediaInfo``.

    Raises ``UsageError`` for a missing path or a directory, ``ProbeError`` for an empty file, a file
    that is not media, a truncated one, or one with neither audio nor video.
    """
    p = check_input(path)
    try:
        doc = ffprobe(
            p, "-show_format", "-show_streams", timeout=_PROBE_TIMEOUT_S, explain=lambda lines: _explain(lines, p)
        )
    except ProcessTimeout as exc:
        raise ProbeError(p, _explain(exc.stderr_tail, p)) from exc
    vs = _video_stream(doc.get("streams") or [])
    frame, frame_read = None, None
    if vs is not None and wants_first_frame(vs):
        frame, frame_read = _first_frame(p, vs["index"])
    info = parse_ffprobe(str(p), p.stat().st_size, doc, frame, frame_read)
    if info.video is None and not info.audio:
        raise ProbeError(p, "no audio or video streams")
    return info


def _first_frame(p: Path, index: int) -> tuple[dict[str, Any] | None, bool]:
    """The first decoded frame of stream ``index`` (its side data: mastering display, light level), and
    whether ffprobe could decode one (8.1's has no software AV1 decoder)."""
    args = ["-select_streams", str(index), "-show_frames", "-read_intervals", "%+#1"]
    try:
        doc = ffprobe(p, *args, "-show_entries", "frame=stream_index:frame_side_data", timeout=_PROBE_TIMEOUT_S)
    except (ProbeError, ProcessTimeout):
        return None, False
    frames = doc.get("frames") or []
    return (frames[0], True) if frames else (None, False)


def require_video(info: MediaInfo) -> VideoStream:
    """Return ``info``'s video stream if the pipeline can work on it.

    Raises ``NoVideoStream`` for a file without video and ``UnsupportedMedia`` for a frame size
    outside 16 px .. ``MAX_SIDE`` a side or above ``MAX_PIXELS``.
    """
    v = info.video
    if v is None:
        raise NoVideoStream(info.path, "no video stream (audio only?)")
    if v.width < 16 or v.height < 16:
        raise UnsupportedMedia(info.path, f"frame size {v.width}x{v.height} is too small (16x16 at least)")
    if max(v.width, v.height) > MAX_SIDE or v.width * v.height > MAX_PIXELS:
        raise UnsupportedMedia(
            info.path, f"frame size {v.width}x{v.height} is too large (at most {MAX_SIDE} px a side, 8K UHD in area)"
        )
    return v


def require_honest_colour(info: MediaInfo) -> None:
    """Refuse a source whose colour tags or HDR metadata lie (``probe_colour.colour_problem``): raises
    ``BadColourMetadata`` naming the file and the lie. A source, not a rendition: QA and encode call it."""
    if info.video is not None and (problem := colour_problem(info.video.colour)):
        raise BadColourMetadata(info.path, problem)
