"""Chunked encoding in one process: frame-exact chunks, joins that keep every frame and the GOP grid.

Lossless H.264 (crf 0) makes "the same frames" checkable bit for bit: a chunk that started one frame
early or late, or a seam that dropped or doubled a frame, changes the decoded frame hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.chunks import encode_chunk, encode_chunked, join_chunks, plan_chunks
from pipeline.encode import encode
from pipeline.renditions import RateControl, Rendition
from pipeline.streams import decode, keyframe_times
from tests import media
from vodflow.errors import ProbeError, UsageError

GOP = 0.4  # 10 frames at 25 fps, 12 at 30


def lossless(w: int = 160, h: int = 90) -> Rendition:
    return Rendition(
        codec="h264", width=w, height=h, preset="veryfast", gop_seconds=GOP, rate=RateControl(mode="crf", crf=0)
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("chunk-src")
    return {
        # A single source keyframe (x264's default GOP is 250): every chunk decodes from the start.
        "cfr": media.clip(d, "cfr.mp4", fps=25, seconds=6),
        "vfr": media.vfr(d),
        "interlaced": media.interlaced(d),
    }


@pytest.mark.parametrize("kind", ["cfr", "vfr", "interlaced"])
def test_joined_chunks_are_the_whole_title_encode_frame_for_frame(sources, tmp_path, kind):
    src = sources[kind]
    whole = encode(src, [lossless()], tmp_path / "whole", audio=(), show_progress=False)
    chunked = encode_chunked(src, [lossless()], tmp_path / "chunked", audio=(), chunk_seconds=0.8)
    a, b = whole.video[0], chunked.video[0]
    assert len(plan_chunks(src, [lossless()], chunk_seconds=0.8).starts) >= 2
    da, db = decode(a.path), decode(b.path)
    assert da.clean and db.clean
    assert db.frames == da.frames == a.frames == b.frames
    assert db.md5s == da.md5s
    assert keyframe_times(b.path) == pytest.approx(keyframe_times(a.path), abs=1e-6)
    assert (chunked.frame_rate, chunked.gop_frames) == (whole.frame_rate, whole.gop_frames)
    assert [f.name for f in (tmp_path / "chunked").iterdir()] == [Path(b.path).name]  # no work files left


def test_plan_cuts_at_whole_gops_and_gives_the_rest_to_the_last_chunk(sources):
    plan = plan_chunks(sources["cfr"], [lossless()], chunk_seconds=1.1)  # 150 frames, GOP 10
    assert plan.gop_frames == 10 and plan.chunk_frames == 30  # 27.5 frames rounded to 3 GOPs
    assert plan.starts == [0, 30, 60, 90, 120]
    assert plan.frames(0) == 30 and plan.frames(4) is None
    plan = plan_chunks(sources["cfr"], [lossless()], chunk_seconds=2.8)  # 70 frames: 150 = 70 + 80
    assert plan.starts == [0, 70]
    assert plan_chunks(sources["cfr"], [lossless()], chunk_seconds=100).starts == [0]
    with pytest.raises(UsageError):
        plan_chunks(sources["cfr"], [lossless()], chunk_seconds=0)


def test_a_chunk_holds_exactly_its_frames_from_a_keyframe(sources, tmp_path):
    plan = plan_chunks(sources["cfr"], [lossless(), lossless(96, 54)], chunk_seconds=1.2)
    made = encode_chunk(plan, 2, tmp_path)
    assert set(made) == {r.name for r in plan.renditions}
    for path in made.values():
        assert decode(str(path)).frames == 30
        assert keyframe_times(str(path)) == pytest.approx([0.0, 0.4, 0.8])
    with pytest.raises(UsageError):
        encode_chunk(plan, len(plan.starts), tmp_path)


def test_join_refuses_chunks_it_cannot_copy_together(sources, tmp_path):
    big, small = lossless(), lossless(96, 54)
    plan = plan_chunks(sources["cfr"], [big, small], chunk_seconds=2.8)
    c0, c1 = encode_chunk(plan, 0, tmp_path), encode_chunk(plan, 1, tmp_path)
    with pytest.raises(ProbeError, match="different codec headers"):
        join_chunks(plan, big, [c0[big.name], c1[small.name]], tmp_path / "mixed.mp4")
    with pytest.raises(UsageError, match="1 chunks given"):
        join_chunks(plan, big, [c0[big.name]], tmp_path / "short.mp4")
    joined = join_chunks(plan, big, [c0[big.name], c1[big.name]], tmp_path / "ok.mp4")
    assert joined.frames == 150 and joined.width == 160
