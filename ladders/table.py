"""A ladder as rows of a table: what ``vodflow ladder``/``encode`` print and the flow's ladder artifact shows."""

from __future__ import annotations

from ladders.model import Ladder
from vodflow.tables import fmt

__all__ = ["LADDER_HEADER", "ladder_rows"]

LADDER_HEADER = ("codec", "size", "crf", "max kb/s", "kb/s", "VMAF", "measured kb/s", "measured VMAF")


def ladder_rows(ladder: Ladder) -> list[tuple]:
    """One row per rung, under ``LADDER_HEADER``: predicted beside measured ("-" where not measured)."""
    return [
        (
            r.codec,
            f"{r.width}x{r.height}",
            r.rate.crf if r.rate.crf is not None else "-",
            r.rate.maxrate_kbps or "-",
            fmt(r.bitrate_kbps, 0),
            fmt(r.predicted_vmaf),
            fmt(r.measured_kbps, 0),
            fmt(r.measured_vmaf),
        )
        for r in ladder.rungs
    ]
