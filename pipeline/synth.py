"""Synthetic source titles made by ffmpeg's own sources: the sample corpus and the tests' tiny media.

Each recipe scales with the requested size, so the 1080p sample and the tests' 320x180 clip show the
same content and behave alike under an encoder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.ffmpeg import run_ffmpeg
from vodflow.errors import UsageError

__all__ = ["Recipe", "Scene", "excerpt", "join_scenes", "synthesize"]

Recipe = Literal["pan", "testsrc2", "grain"]

# Mezzanine quality: good enough to stand in for a studio source, small enough to keep on a laptop.
_MEZZ_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
_MEZZ_AUDIO = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000"]


def _write(out: Path, args: list, seconds: float, show_progress: bool) -> Path:
    """Run ffmpeg with ``args`` writing a temporary file beside ``out``, then rename it to ``out``.

    A crash or an interrupted run never leaves a half-written file under the final name.
    """
    tmp = out.with_name(f".{out.name}.part.mp4")
    run_ffmpeg([*args, tmp], duration=seconds, label=f"sample {out.name}", show_progress=show_progress)
    os.replace(tmp, out)
    return out


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
    raise UsageError(f"unknown recipe {recipe!r}: choose from pan, testsrc2, grain")


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
    return _write(
        out,
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
        ],
        seconds,
        show_progress,
    )


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
    return _write(
        out,
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
        ],
        seconds,
        show_progress,
    )


@dataclass(frozen=True, slots=True)
class Scene:
    """The first ``seconds`` of ``source``, optionally mirrored, as one shot of a joined title."""

    source: Path
    seconds: float
    mirrored: bool = False


def join_scenes(
    scenes: Sequence[Scene],
    out: str | os.PathLike[str],
    *,
    width: int,
    height: int,
    fps: int,
    show_progress: bool = True,
) -> Path:
    """Write ``scenes`` one after another as one title (H.264 + stereo AAC, ``width``x``height`` at
    ``fps`` CFR) to ``out`` and return its path. Every scene needs an audio stream; raises
    ``ProcessError`` if ffmpeg fails.
    """
    out = Path(out)
    inputs: list[str] = []
    graph: list[str] = []
    for i, sc in enumerate(scenes):
        inputs += ["-t", f"{sc.seconds:.6f}", "-i", str(sc.source)]
        # Every scene as the title's one format: square pixels, one constant rate, 8-bit 4:2:0.
        video = f"scale={width}:{height}:flags=lanczos,setsar=1,fps={fps},format=yuv420p"
        video += ",hflip" if sc.mirrored else ""
        graph.append(f"[{i}:v]{video},trim=duration={sc.seconds:.6f},setpts=PTS-STARTPTS[v{i}]")
        # 5.1 mixed down; every scene's audio padded or cut to its video's length.
        graph.append(
            f"[{i}:a]aformat=sample_rates=48000:channel_layouts=stereo,"
            f"apad,atrim=duration={sc.seconds:.6f},asetpts=PTS-STARTPTS[a{i}]"
        )
    n = len(scenes)
    graph.append("".join(f"[v{i}][a{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=1[v][a]")
    total = sum(sc.seconds for sc in scenes)
    return _write(
        out,
        [
            "-y",
            *inputs,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[v]",
            "-map",
            "[a]",
            *_MEZZ_VIDEO,
            "-crf",
            "18",
            *_MEZZ_AUDIO,
            "-ac",
            "2",
        ],
        total,
        show_progress,
    )
