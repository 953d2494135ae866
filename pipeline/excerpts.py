"""Cutting excerpts of a title as raw frames: the sources and references of per-title probe encodes.

``cut_raw`` writes a stretch of a title's video as raw frames at a constant rate; ``drop_frames`` writes
a raw excerpt without its first frames. ``ladders.analyze`` places the excerpts and calls these.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import VideoStream

__all__ = ["cut_raw", "drop_frames"]


def cut_raw(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    video: VideoStream,
    start: float,
    frames: int,
    fps: Fraction,
    label: str | None = None,
) -> Path:
    """Write ``frames`` frames of ``src``'s ``video`` stream from ``start`` seconds on, at the constant
    rate ``fps``, as raw frames (NUT, 4:2:0 at the stream's bit depth) to ``out``; return ``out``.

    Raises ``ProcessError``/``ProcessTimeout``/``EncoderOptionError`` as ``run_ffmpeg``.
    """
    src, out = Path(src), Path(out)
    pix_fmt = "yuv420p10le" if video.bit_depth > 8 else "yuv420p"
    run_ffmpeg(
        [
            "-y",
            # Input seeking: fast to the keyframe before, then decoded and dropped up to the start (exact).
            "-ss",
            f"{start:.6f}",
            "-i",
            str(src),
            "-map",
            f"0:{video.index}",
            # The final encode's constant rate, so the excerpt holds the frames a rung would.
            "-vf",
            f"fps={fps}",
            "-frames:v",
            str(frames),
            # Raw frames: the probes and their reference see the source's pixels, and decoding them again
            # (once per encode, once per VMAF batch) costs nothing; a lossless H.264 copy took 30 ms a
            # 1080p frame to decode. Two seconds of 1080p are 187 MB, in a temporary folder.
            *["-c:v", "rawvideo", "-pix_fmt", pix_fmt, "-f", "nut"],
            "-an",
            "-sn",
            "-dn",
            str(out),
        ],
        duration=frames / float(fps),
        label=label or f"excerpt of {src.name}",
        show_progress=False,
    )
    return out


def drop_frames(
    src: str | os.PathLike[str], out: str | os.PathLike[str], *, skip: int, label: str | None = None
) -> Path:
    """Write the raw video of ``src`` (a ``cut_raw`` excerpt) without its first ``skip`` frames to
    ``out``, timestamps starting at 0; return ``out``.

    Raises ``ProcessError``/``ProcessTimeout``/``EncoderOptionError`` as ``run_ffmpeg``.
    """
    src, out = Path(src), Path(out)
    run_ffmpeg(
        [
            "-y",
            "-i",
            str(src),
            "-map",
            "0:v:0",
            "-vf",
            f"trim=start_frame={skip},setpts=PTS-STARTPTS",
            "-c:v",
            "rawvideo",
            "-f",
            "nut",
            str(out),
        ],
        label=label or f"reference of {src.name}",
        show_progress=False,
    )
    return out
