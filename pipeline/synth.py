"""Synthetic source titles made by ffmpeg's own sources: the sample corpus and the tests' tiny media.

Each recipe scales with the requested size, so the 1080p sample and the tests' 320x180 clip show the
same content and behave alike under an encoder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pipeline.ffmpeg import run_ffmpeg

__all__ = ["Recipe", "excerpt", "synthesize"]

Recipe = Literal["pan", "testsrc2", "grain"]

# Mezzanine quality: good enough to stand in for a studio source, small enough to keep on a laptop.
_MEZZ_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
_MEZZ_AUDIO = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000"]


def _video_graph(recipe: Recipe, w: int, h: int, fps: int, seconds: float) -> tuple[str, int]:
    """Return (filter graph producing [v], CRF to store it at)."""
    if recipe == "pan":
        # A detailed still (a Mandelbrot render 1.5x wider than the frame) panned left to right once:
        # low motion, almost no new information per frame -> the easiest kind of title.
        return (
            f"mandelbrot=s={w * 3 // 2}x{h}:r={fps},select=eq(n\\,0),loop=loop=-1:size=1,"
            f"setpts=N/{fps}/TB,crop={w}:{h}:x='(iw-ow)*t/{seconds}':y=0,format=yuv420p[v]",
            16,
        )
    if recipe == "testsrc2":
        return f"testsrc2=s={w}x{h}:r={fps},format=yuv420p[v]", 16
    if recipe == "grain":
        # The whole picture rotates (every pixel moves, every frame) under strong temporal noise that
        # stands in for film grain: the hardest kind of title for a block-based encoder.
        return (
            f"testsrc2=s={w * 5 // 4}x{h * 5 // 4}:r={fps},rotate=a=0.6*t:ow={w}:oh={h},"
            f"noise=alls=18:allf=t+u,format=yuv420p[v]",
            22,
        )
    raise ValueError(f"unknown recipe {recipe!r}")


_TONES = {"pan": (220, 330), "testsrc2": (440, 550), "grain": (262, 392)}


def synthesize(
    out: str | os.PathLike[str],
    recipe: Recipe,
    *,
    width: int = 1920,
    height: int = 1080,
    seconds: float = 10.0,
    fps: int = 30,
    audio: bool = True,
    show_progress: bool = True,
) -> Path:
    """Write a synthetic title to ``out`` (H.264 + stereo AAC in MP4) and return its path.

    Raises ``ProcessError`` if ffmpeg fails.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph, crf = _video_graph(recipe, width, height, fps, seconds)
    maps = ["-map", "[v]"]
    if audio:
        left, right = _TONES[recipe]
        # Two tones at -20 dBFS: loud enough not to read as silence, far from clipping.
        graph += (
            f";aevalsrc='0.1*sin(2*PI*{left}*t)|0.1*sin(2*PI*{right}*t)':s=48000:d={seconds},"
            f"aformat=channel_layouts=stereo[a]"
        )
        maps += ["-map", "[a]"]
    tmp = out.with_name(f".{out.name}.part.mp4")
    run_ffmpeg(
        [
            "-y",
            "-filter_complex",
            graph,
            *maps,
            "-t",
            f"{seconds}",
            *_MEZZ_VIDEO,
            "-crf",
            str(crf),
            *(_MEZZ_AUDIO if audio else []),
            tmp,
        ],
        duration=seconds,
        label=f"sample {out.name}",
        show_progress=show_progress,
    )
    os.replace(tmp, out)
    return out


def excerpt(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    width: int,
    height: int,
    seconds: float,
    show_progress: bool = True,
) -> Path:
    """Write the first ``seconds`` of ``src`` scaled to ``width``x``height`` (audio as stereo AAC)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part.mp4")
    run_ffmpeg(
        [
            "-y",
            "-i",
            src,
            "-t",
            f"{seconds}",
            "-vf",
            f"scale={width}:{height}",
            "-ac",
            "2",
            *_MEZZ_VIDEO,
            "-crf",
            "16",
            *_MEZZ_AUDIO,
            tmp,
        ],
        duration=seconds,
        label=f"sample {out.name}",
        show_progress=show_progress,
    )
    os.replace(tmp, out)
    return out
