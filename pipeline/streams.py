"""What the packager needs ffprobe/ffmpeg to say about a packaged stream: its codec facts, its keyframe
times, and a full decode (frame hashes and decoder errors), from a file, a ``concat:`` of an init segment
and media segments, or an HLS playlist URL.

These are the packager's eyes: ``packager/`` never runs ffmpeg itself (only ``pipeline/`` does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from pipeline.ffprobe import ffprobe
from vodflow import tools
from vodflow.errors import ProbeError
from vodflow.process import run
from vodflow.records import Record

__all__ = ["Decoded", "StreamFacts", "concat_url", "decode", "decoder_tool", "keyframe_times", "stream_facts"]

_TIMEOUT_S = 600.0
# ffmpeg prints these at level "error" for one bad frame and goes on; each one counts.
_NOISE = re.compile(r"^\s*$")


class StreamFacts(Record):
    """ffprobe's view of a stream: what a CODECS string must agree with."""

    codec: str  # ffprobe codec_name: h264, hevc, vp9, av1, aac, opus, webvtt
    tag: str | None = None  # sample entry: avc1, hvc1, hev1, vp09, av01, mp4a, Opus
    profile: str | None = None
    level: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: str | None = None
    pix_fmt: str | None = None
    channels: int | None = None
    sample_rate: int | None = None

    @property
    def bit_depth(self) -> int:
        m = re.search(r"p(\d{2})(le|be)?$", self.pix_fmt or "")
        return int(m.group(1)) if m else 8


class Decoded(Record):
    """A full decode: frames out, one MD5 per frame (in order), and every error line ffmpeg printed."""

    frames: int
    md5s: list[str]
    errors: list[str]

    @property
    def clean(self) -> bool:
        return not self.errors


def concat_url(paths: Sequence[str | os.PathLike[str]]) -> str:
    """A ``concat:`` URL that reads an init segment and media segments as one fragmented MP4."""
    return "concat:" + "|".join(os.fspath(p) for p in paths)


def decoder_tool(codec: str) -> tools.Tool:
    """The FFmpeg build that can decode ``codec``: the 8.1 build has no AV1 decoder, 6.0 has libdav1d."""
    return tools.Tool.FFMPEG_VMAF if codec == "av1" else tools.Tool.FFMPEG


def stream_facts(url: str) -> StreamFacts:
    """ffprobe's facts about the first stream of ``url``; raises ``ProbeError`` if it has none."""
    doc = ffprobe(
        url,
        "-show_entries",
        "stream=codec_name,codec_tag_string,profile,level,width,height,r_frame_rate,pix_fmt,channels,sample_rate",
        timeout=_TIMEOUT_S,
    )
    streams = doc.get("streams") or []
    if not streams:
        raise ProbeError(url, "no stream")
    s = streams[0]

    def num(key: str) -> int | None:
        v = s.get(key)
        return int(v) if v not in (None, "N/A") and str(v).lstrip("-").isdigit() else None

    level = num("level")
    return StreamFacts(
        codec=s.get("codec_name") or "unknown",
        tag=s.get("codec_tag_string"),
        profile=s.get("profile") if s.get("profile") not in (None, "unknown") else None,
        level=level if level is not None and level >= 0 else None,
        width=num("width"),
        height=num("height"),
        frame_rate=s.get("r_frame_rate") if s.get("r_frame_rate") not in (None, "0/0") else None,
        pix_fmt=s.get("pix_fmt"),
        channels=num("channels"),
        sample_rate=num("sample_rate"),
    )


def keyframe_times(url: str) -> list[float]:
    """Presentation times (s) of the keyframes of ``url``'s first stream, in order; raises ``ProbeError``
    when ffprobe cannot read it."""
    doc = ffprobe(url, "-select_streams", "0", "-show_entries", "packet=pts_time,flags", timeout=_TIMEOUT_S)
    return sorted(
        float(p["pts_time"])
        for p in doc.get("packets") or []
        if "K" in (p.get("flags") or "") and p.get("pts_time") not in (None, "N/A")
    )


def decode(
    url: str,
    *,
    codec: str = "",
    key: str | None = None,
    input_args: Sequence[str] = (),
) -> Decoded:
    """Decode ``url``'s first stream to the end and return frame MD5s and the error lines.

    ``key`` (32 hex digits) is handed to the MP4 demuxer (``-decryption_key``) for CENC/cbcs segments;
    HLS playlists fetch their own keys. ffmpeg exits 0 even when it decodes garbage, so the caller judges
    by ``errors``, ``frames`` and the hashes, never by an exit code; a non-zero exit adds an error line.
    Raises ``ProcessError`` only when ffmpeg cannot run at all.
    """
    argv: list[str | os.PathLike[str]] = [tools.find(decoder_tool(codec)), "-hide_banner", "-nostdin"]
    argv += ["-loglevel", "error"]
    if key:
        argv += ["-decryption_key", key]
    argv += [*input_args, "-i", url, "-map", "0:0", "-f", "framemd5", "-"]
    done = run(argv, timeout=_TIMEOUT_S, check=False)
    errors = [ln.strip() for ln in done.stderr_lines if not _NOISE.match(ln)]
    if done.returncode != 0 and not errors:
        errors.append(f"ffmpeg exited with code {done.returncode}")
    md5s = [ln.rsplit(",", 1)[-1].strip() for ln in done.stdout.splitlines() if ln and not ln.startswith("#")]
    return Decoded(frames=len(md5s), md5s=md5s, errors=errors)
