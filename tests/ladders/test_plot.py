from __future__ import annotations

import struct

import pytest

from ladders.fixed import fixed
from ladders.model import LadderPolicy
from ladders.plot import plot
from ladders.select import select
from tests.ladders import model_points, rd_points

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png_of_the_right_size(tmp_path):
    points = rd_points(model_points("h264") + model_points("av1", gain=0.6))
    ladder = select(points, LadderPolicy(max_rungs=8))
    measured = [r.model_copy(update={"measured_vmaf": r.predicted_vmaf - 0.8, "measured_kbps": r.bitrate_kbps * 1.05})
                for r in ladder.rungs[-2:]]  # fmt: skip
    ladder = ladder.model_copy(update={"rungs": [*ladder.rungs[:-2], *measured]})
    reference = fixed((1920, 1080), codec="av1")
    reference = reference.model_copy(
        update={"rungs": [reference.rungs[0].model_copy(update={"measured_vmaf": 60.0}), *reference.rungs[1:]]}
    )
    out = plot(points, ladder, tmp_path / "plots" / "title_av1.png", fixed=reference, codec="av1")
    assert out == tmp_path / "plots" / "title_av1.png"
    assert out.stat().st_size > 10_000
    assert _png_size(out) == (1000, 600)
    assert [p.name for p in out.parent.iterdir()] == ["title_av1.png"]  # no temporary file left behind


def test_plot_without_a_ladder_and_for_a_missing_codec(tmp_path):
    points = rd_points(model_points("h264"))
    out = plot(points, None, tmp_path / "hull.png")
    assert _png_size(out) == (1000, 600)
    with pytest.raises(ValueError, match="no vp9 points"):
        plot(points, None, tmp_path / "vp9.png", codec="vp9")
    assert not (tmp_path / "vp9.png").exists()
