from __future__ import annotations

import pytest

from ladders.fixed import fixed
from pipeline.probe import MediaInfo, VideoStream
from vodflow.errors import NoVideoStream


def _sizes(ladder):
    return [(r.width, r.height) for r in ladder.rungs]


def _info(width, height, *, sar="1:1", dar=None):
    video = VideoStream(index=0, codec="h264", width=width, height=height, sar=sar, dar=dar)
    return MediaInfo(path="/media/title.mp4", container="mov,mp4", size_bytes=1000, duration=60.0, video=video)


def test_16x9_1080p_source():
    ladder = fixed((1920, 1080))
    assert ladder.kind == "fixed" and ladder.source == "1920x1080" and ladder.policy is None
    assert _sizes(ladder) == [(426, 240), (854, 480), (1280, 720), (1920, 1080)]
    assert [r.bitrate_kbps for r in ladder.rungs] == [300, 1050, 3000, 5800]
    for r in ladder.rungs:
        assert r.codec == "h264" and r.predicted_vmaf is None
        assert r.rate.mode == "bitrate" and r.rate.bitrate_kbps == r.bitrate_kbps
        assert r.rate.maxrate_kbps == 2 * r.rate.bitrate_kbps  # Apple HLS: peak <= 200 % of average
        assert r.rate.bufsize_kbits == 2 * r.rate.maxrate_kbps
        r.rendition()  # the encoder accepts it


def test_rungs_above_a_720p_source_keep_their_bitrate_at_its_size():
    # Capped at the source, not cut: the 1080p rung's 5.8 Mb/s is spent on 720p pictures.
    ladder = fixed((1280, 720))
    assert _sizes(ladder) == [(426, 240), (854, 480), (1280, 720), (1280, 720)]
    assert [r.bitrate_kbps for r in ladder.rungs] == [300, 1050, 3000, 5800]
    assert len({r.rendition().name for r in ladder.rungs}) == 4  # distinct files
    assert _sizes(fixed((1280, 720), above_source="drop")) == [(426, 240), (854, 480), (1280, 720)]


def test_4k_rung_only_for_4k_sources():
    uhd = fixed((3840, 2160))
    assert _sizes(uhd)[-1] == (3840, 2160) and uhd.rungs[-1].bitrate_kbps == 15250
    assert len(uhd.rungs) == 5
    assert _sizes(fixed((2560, 1440)))[-1] == (1920, 1080)  # 1440p: not enough for the 4K rung
    # A 2.4:1 scope film in 4K fills the 4K box's width: the rung is its own size.
    assert _sizes(fixed((3840, 1600)))[-2:] == [(1920, 800), (3840, 1600)]


def test_odd_853x479_source_keeps_its_480p_rung_at_its_own_size():
    ladder = fixed((853, 479), above_source="drop")
    assert _sizes(ladder) == [(426, 240), (852, 478)]
    assert [r.bitrate_kbps for r in ladder.rungs] == [300, 1050]
    for r in ladder.rungs:
        r.rendition()


def test_a_slightly_cropped_1080p_source_keeps_its_1080p_rung():
    assert _sizes(fixed((1916, 1076)))[-1] == (1916, 1076)


def test_4x3_sources():
    assert _sizes(fixed((1440, 1080))) == [(320, 240), (640, 480), (960, 720), (1440, 1080)]
    assert _sizes(fixed((640, 480), above_source="drop")) == [(320, 240), (640, 480)]
    assert _sizes(fixed((640, 480))) == [(320, 240), (640, 480), (640, 480), (640, 480)]


def test_anamorphic_source_follows_its_display_aspect_ratio():
    # PAL 16:9: 720x576 stored, 1024x576 shown; 720p would upscale it, so 480p is the top.
    ladder = fixed(_info(720, 576, sar="64:45", dar="16:9"), above_source="drop")
    assert ladder.source == "/media/title.mp4"
    assert _sizes(ladder) == [(426, 240), (854, 480)]
    # Without a DAR the SAR gives it.
    assert _sizes(fixed(_info(720, 576, sar="64:45"), above_source="drop")) == [(426, 240), (854, 480)]
    # Capped: the 720p and 1080p rungs are the source's whole display size, 1024x576.
    assert _sizes(fixed(_info(720, 576, sar="64:45", dar="16:9")))[-2:] == [(1024, 576), (1024, 576)]


def test_a_source_below_240p_keeps_one_rung_at_its_size():
    ladder = fixed((320, 180), above_source="drop")
    assert _sizes(ladder) == [(320, 180)] and ladder.rungs[0].bitrate_kbps == 300
    assert [r.bitrate_kbps for r in fixed((320, 180)).rungs] == [300, 1050, 3000, 5800]


def test_av1_and_vp9_get_a_plain_target_bitrate():
    for codec in ("av1", "vp9"):
        ladder = fixed((1920, 1080), codec=codec)
        assert {r.codec for r in ladder.rungs} == {codec}
        assert all(r.rate.mode == "bitrate" and r.rate.maxrate_kbps is None for r in ladder.rungs)
        for r in ladder.rungs:
            r.rendition()  # a capped bitrate would be refused here
    assert all(r.rate.maxrate_kbps for r in fixed((1920, 1080), codec="hevc").rungs)


def test_bad_sources_are_refused():
    audio_only = MediaInfo(path="/media/a.m4a", container="mov,mp4", size_bytes=10, duration=1.0)
    with pytest.raises(NoVideoStream):
        fixed(audio_only)
    with pytest.raises(ValueError, match="too small"):
        fixed((8, 8))
