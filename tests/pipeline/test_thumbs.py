"""Trick-play sprites from real frames, including titles shorter than one thumbnail interval."""

from __future__ import annotations

import pytest

from pipeline.thumbs import sprite
from vodflow.errors import UsageError


@pytest.mark.parametrize(("every", "count"), [(0.5, 4), (4.0, 1)])
def test_a_sprite_has_a_tile_per_interval_even_for_a_title_shorter_than_one(tiny, tmp_path, every, count):
    sp = sprite(tiny["testsrc2"], tmp_path / "s.jpg", duration=2.0, every=every, tile_width=80, columns=10)
    assert sp.count == count and sp.columns == count and sp.rows == 1
    assert (sp.tile_width, sp.tile_height) == (80, 46)  # 320x180 scaled to 80 wide, even height
    assert (tmp_path / "s.jpg").stat().st_size > 0


def test_nonsense_geometry_is_refused(tiny, tmp_path):
    with pytest.raises(UsageError):
        sprite(tiny["testsrc2"], tmp_path / "s.jpg", duration=2.0, every=0)
