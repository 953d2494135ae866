"""Subtitles to WebVTT: from a sidecar ``.srt``/``.vtt`` or from a subtitle stream inside a media file."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from vodflow.errors import MediaError, ProcessError, UsageError

__all__ = ["to_webvtt"]


def to_webvtt(src: str | os.PathLike[str], out: str | os.PathLike[str], *, stream: int | None = None) -> Path:
    """Convert ``src`` (a subtitle file, or stream index ``stream`` of a media file) to WebVTT at ``out``.

    Returns ``out``. Raises ``UsageError`` if ``src`` does not exist and ``MediaError`` (naming ``src``)
    when ffmpeg cannot read subtitles from it.
    """
    src = Path(src)
    if not src.is_file():
        raise UsageError(f"{src}: no such subtitle file")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = ["-y", "-i", str(src), "-map", f"0:{stream}" if stream is not None else "0:s:0"]
    args += ["-c:s", "webvtt", "-f", "webvtt", str(out)]
    try:
        run_ffmpeg(args, label="subtitles", show_progress=False)
    except ProcessError as exc:
        raise MediaError(src, f"cannot read subtitles: {str(exc).split(': ', 1)[-1]}") from None
    if not out.read_text(errors="replace").startswith("WEBVTT"):
        raise MediaError(src, "subtitles converted to something that is not WebVTT")
    return out
