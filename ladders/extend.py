"""The adaptive ends of a per-title analysis: which probes one more round adds where the hull needs them.

After the CRF grid, each round adds one CRF only at the sizes that own an end of a codec's hull: up,
where a size's cheapest probe is still above the ladder's floor; down (the adaptive top), where its best
probe is still under the top rung's target. See ``AnalysisPolicy`` for the limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from ladders.hull import hull
from ladders.model import RDPoint
from ladders.policy import CRF_MIN, AnalysisPolicy
from ladders.probes import ProbeEncode
from pipeline.codecs import CRF_MAX

__all__ = ["extensions"]


def extensions(
    codec: str, probes: Sequence[ProbeEncode], points: dict[ProbeEncode, RDPoint], policy: AnalysisPolicy
) -> list[ProbeEncode]:
    """The probes one more round of the adaptive ends adds for ``codec``, per size on the hull:

    - low end: the next CRF up where the highest-CRF probe is on the hull and above the floor, but within
      ``policy.extend_within`` times it (at most ``policy.extend`` past the grid);
    - top: the next CRF down where the lowest-CRF probe is on the hull and under ``policy.top_vmaf`` (at
      most ``policy.extend_down`` below the grid, never under ``CRF_MIN``)."""
    mine = [p for p in probes if p.codec == codec]
    on_hull = {(q.width, q.height, q.crf) for q in hull(points[p] for p in mine).points}
    grid = policy.crfs_for(codec)
    up, down = policy.crf_step_for(codec), policy.crf_step_down_for(codec)
    out = []
    for size in dict.fromkeys((p.width, p.height) for p in mine):
        own = [p for p in mine if (p.width, p.height) == size]
        last = max(own, key=lambda p: p.crf)
        point = points[last]
        near_floor = policy.floor_kbps < point.bitrate_kbps <= policy.extend_within * policy.floor_kbps
        room = sum(p.crf > grid[-1] for p in own) < policy.extend
        if (*size, last.crf) in on_hull and near_floor and room and last.crf + up <= CRF_MAX[codec]:
            out.append(ProbeEncode(codec, last.width, last.height, last.crf + up, last.preset))
        first = min(own, key=lambda p: p.crf)
        room = sum(p.crf < grid[0] for p in own) < policy.extend_down
        short = points[first].vmaf < policy.top_vmaf
        if (*size, first.crf) in on_hull and short and room and first.crf - down >= CRF_MIN:
            out.append(ProbeEncode(codec, first.width, first.height, first.crf - down, first.preset))
    return out
