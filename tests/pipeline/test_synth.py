import pytest

from pipeline.probe import probe
from pipeline.synth import Scene, join_scenes


def test_join_scenes_makes_one_constant_rate_title_of_the_given_shots(tiny, tmp_path):
    scenes = [Scene(tiny["pan"], 1.0), Scene(tiny["bbb"], 1.5, mirrored=True), Scene(tiny["grain"], 0.5)]
    info = probe(join_scenes(scenes, tmp_path / "joined.mp4", width=320, height=180, fps=30, show_progress=False))
    assert info.duration == pytest.approx(3.0, abs=0.05)
    v = info.video
    assert (v.width, v.height, v.fps, v.vfr) == (320, 180, 30, False)  # bbb's 25 fps converted
    assert v.frames == 90
    assert [(a.channels, a.sample_rate) for a in info.audio] == [(2, 48000)]
    assert not list(tmp_path.glob(".*part*"))
