"""A title's per-title ladder in one call: analysis aimed at the ladder's target, then selection."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ladders.analyze import analyze
from ladders.model import Ladder, LadderPolicy, RDPoints
from ladders.policy import AnalysisPolicy
from ladders.select import select
from pipeline.codecs import Codec

__all__ = ["per_title"]


def per_title(
    source: str | os.PathLike[str],
    codecs: Sequence[Codec],
    policy: LadderPolicy,
    analysis: AnalysisPolicy | None = None,
    *,
    show_progress: bool = True,
) -> tuple[RDPoints, Ladder]:
    """Analyse ``source`` and select its ladder for ``codecs``; → (the measured points, the ladder).

    H.264 is always analysed (a newer codec's rung must beat H.264 at its bitrate to be kept) and keeps
    rungs only when ``codecs`` names it. The analysis (default ``AnalysisPolicy()``) aims its adaptive top
    at ``policy.target_vmaf``, so the hull brackets the top rung. Raises what ``analyze`` and ``select``
    raise."""
    analysed: list[Codec] = ["h264", *[c for c in codecs if c != "h264"]]
    aimed = (analysis or AnalysisPolicy()).aiming(policy.target_vmaf)
    points = analyze(source, analysed, aimed, show_progress=show_progress)
    ladder = select(points, policy, codecs=analysed)
    return points, ladder.model_copy(update={"rungs": [r for r in ladder.rungs if r.codec in codecs]})
