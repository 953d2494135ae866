"""Per-frame VMAF to per-segment VMAF, worked by hand."""

from __future__ import annotations

import pytest

from pipeline.segment_quality import per_segment


def test_frames_average_within_their_segment():
    # 1 fps, 2 s segments starting at 0, 2, 4; frames at 0..5
    scores = [10, 20, 30, 50, 60, 60]
    assert per_segment(scores, [0, 1, 2, 3, 4, 5], [0, 2, 4]) == [15, 40, 60]


def test_a_segment_without_scored_frames_takes_the_previous_score():
    # every 3rd frame of a 1 fps title: frames at 0, 3, 6 for segments at 0, 2, 4, 6
    assert per_segment([80, 90, 70], [0, 3, 6], [0, 2, 4, 6]) == [80, 90, 90, 70]


def test_lengths_must_agree():
    with pytest.raises(ValueError):
        per_segment([1, 2], [0], [0])
