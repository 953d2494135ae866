"""Trick-play thumbnails: one JPEG sprite of evenly spaced frames, tiled in a grid."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from pipeline.ffprobe import ffprobe
from vodflow.errors import UsageError
from vodflow.records import Record

__all__ = ["Sprite", "sprite"]


class Sprite(Record):
    """A sprite sheet: ``count`` tiles of ``tile_width`` x ``tile_height``, row by row, ``columns`` wide;
    tile ``i`` shows the frame at ``i * every`` seconds."""

    path: str
    every: float
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int


def sprite(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    duration: float,
    every: float = 2.0,
    tile_width: int = 160,
    columns: int = 10,
) -> Sprite:
    """Write a JPEG sprite of ``src``'s frames every ``every`` seconds to ``out`` and return its geometry.

    Raises ``UsageError`` for a non-positive interval or width, ``ProcessError`` if ffmpeg fails,
    ``ProbeError`` if ffprobe cannot read the sprite.
    """
    if every <= 0 or tile_width < 16 or columns < 1 or duration <= 0:
        raise UsageError(f"thumbnails need a positive interval, width >= 16 and columns (got {every}, {tile_width})")
    count = max(1, math.ceil(duration / every - 1e-6))
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The first frame, then the first frame at least `every` seconds after the last one picked; tile
    # flushes a partial last sheet. (fps=1/every emitted nothing for a title shorter than `every`.)
    pick = f"select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{every})'"
    vf = f"{pick},scale={tile_width}:-2:flags=bicubic,tile={cols}x{rows}"
    run_ffmpeg(
        ["-y", "-i", os.fspath(src), "-an", "-sn", "-vf", vf, "-frames:v", "1", "-q:v", "5", os.fspath(out)],
        duration=duration,
        label="thumbnails",
        show_progress=False,
    )
    s = ffprobe(out, "-show_entries", "stream=width,height")["streams"][0]
    return Sprite(
        path=str(out),
        every=every,
        count=count,
        columns=cols,
        rows=rows,
        tile_width=int(s["width"]) // cols,
        tile_height=int(s["height"]) // rows,
    )
