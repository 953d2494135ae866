"""A title's sample: where its excerpts sit (``excerpts``, ``place``) and cutting them (``cut``).

An excerpt starts on the final encode's GOP grid and carries the GOP before it as a warm-up lead (see
``AnalysisPolicy.warm_up``); the raw frames are written by ``pipeline.excerpts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ladders.policy import AnalysisPolicy
from pipeline.excerpts import cut_raw, drop_frames
from pipeline.probe import MediaInfo, require_video

__all__ = ["Excerpt", "cut", "excerpts", "place"]


@dataclass(frozen=True, slots=True)
class Excerpt:
    """One stretch of a title that probes encode, or the whole title (``frames == 0``)."""

    start: float  # seconds
    frames: int  # 0: the whole title, uncut
    lead: int = 0  # frames encoded before it (warm-up) and then cut away

    @property
    def whole(self) -> bool:
        return self.frames == 0

    @property
    def name(self) -> str:
        if self.whole:
            return "whole"
        return f"{self.start:.3f}s+{self.frames}f" + (f"-{self.lead}f" if self.lead else "")


def excerpts(duration: float, fps: float, policy: AnalysisPolicy) -> list[tuple[float, float]]:
    """(start, length) in seconds of each excerpt ``policy`` takes from a title: one (0, duration) when
    the title is analysed whole; else one excerpt centred in each of ``policy.excerpts`` equal parts,
    starting on a frame."""
    return [(e.start, duration if e.whole else e.frames / fps) for e in place(duration, fps, policy)]


def place(duration: float, fps: float, policy: AnalysisPolicy) -> list[Excerpt]:
    """The excerpts ``policy`` takes from a title of ``duration`` seconds at ``fps``, in title order:
    ``[Excerpt(0.0, 0)]`` (the whole title) when it is short, else one per equal part (see ``excerpts``)."""
    frames = max(1, round(policy.excerpt_seconds * fps))
    length = frames / fps
    if duration <= policy.whole_below or duration <= policy.excerpts * length:
        return [Excerpt(0.0, 0)]
    gop = max(1, round(policy.gop_seconds * fps))
    total = int(duration * fps + 1e-6)
    part = duration / policy.excerpts
    out = []
    for i in range(policy.excerpts):
        start = round(((i + 0.5) * part - length / 2) * fps)
        start = min(max(0, start), total - frames)
        if policy.warm_up:
            # On the final encode's GOP grid (keyframes at multiples of gop from the title's start).
            start = min(round(start / gop) * gop, (total - frames) // gop * gop)
        lead = min(gop, start) if policy.warm_up else 0
        out.append(Excerpt(start / fps, frames, lead))
    return out


def cut(src: Path, info: MediaInfo, fps: Fraction, excerpt: Excerpt, out: Path, ref: Path) -> None:
    """Write ``excerpt`` of ``src`` as raw frames: with its warm-up lead to ``out`` (the probes' source)
    and, when it has a lead, without it to ``ref`` (their VMAF reference, made once for every codec).

    Raises ``NoVideoStream`` as ``require_video`` and what ``pipeline.excerpts`` raises for a failed cut.
    """
    v = require_video(info)
    cut_raw(
        src,
        out,
        video=v,
        start=excerpt.start - excerpt.lead / float(fps),
        frames=excerpt.frames + excerpt.lead,
        fps=fps,
        label=f"excerpt {excerpt.name}",
    )
    if excerpt.lead:
        drop_frames(out, ref, skip=excerpt.lead, label=f"reference of {out.name}")
