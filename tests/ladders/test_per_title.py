"""``per_title``: the one call the CLI, the flow and the benches make for a per-title ladder."""

from __future__ import annotations

from ladders.model import LadderPolicy
from ladders.per_title import per_title
from ladders.policy import AnalysisPolicy

SMALL = AnalysisPolicy(
    heights=(180, 90),
    crfs={"h264": (30, 36), "vp9": (40, 50)},
    presets={"h264": "veryfast", "vp9": "8"},
    subsample=2,
    extend=0,
    extend_down=1,
)


def test_h264_is_analysed_for_a_newer_codec_the_rungs_are_the_asked_ones_and_the_top_is_aimed(
    tiny, tmp_path, monkeypatch
):
    monkeypatch.setenv("VODFLOW_CACHE", str(tmp_path))
    points, ladder = per_title(tiny["grain"], ["vp9"], LadderPolicy(target_vmaf=99.0), SMALL, show_progress=False)
    assert points.codecs == ["h264", "vp9"]  # the reference a VP9 rung must beat
    assert {r.codec for r in ladder.rungs} <= {"vp9"}
    # Aimed at 99 + 1: the top size's lowest grid CRF scores under it (H.264 CRF 30 about 84, VP9 CRF 40
    # about 95 here), so one CRF down was probed for each.
    assert {p.crf for p in points.for_codec("h264") if p.height == 180} == {24, 30, 36}
    assert {p.crf for p in points.for_codec("vp9") if p.height == 180} == {30, 40, 50}
    # Aimed at 80 + 1, which those probes reach: the grid alone (the policy's own top, 96, would not be).
    low, _ = per_title(tiny["grain"], ["h264"], LadderPolicy(target_vmaf=80.0), SMALL, show_progress=False)
    assert {p.crf for p in low.for_codec("h264") if p.height == 180} == {30, 36}
    assert SMALL.top_vmaf > max(p.vmaf for p in low.for_codec("h264"))
