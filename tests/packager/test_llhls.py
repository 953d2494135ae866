"""LL-HLS and plain HLS playlists of a live channel folder written by the real ffmpeg dash muxer: read
back with m3u8, with growing segments (copied in pieces), an encoder restart, the end, and a real-time run."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import m3u8
import pytest

from packager import cmaf
from packager.llhls import ChannelState, playlist_name
from packager.mpd import read_mpd
from tests.packager.live_media import dash_args, live_folder
from tests.wait import wait_for
from vodflow import tools
from vodflow.process import spawn, stop

VIDEO, SMALL, AUDIO = "video-0", "video-1", "audio-2"
LL_TAGS = ("#EXT-X-PART", "#EXT-X-PRELOAD-HINT", "#EXT-X-SERVER-CONTROL", "#EXT-X-RENDITION-REPORT")


@pytest.fixture(scope="module")
def run0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return live_folder(tmp_path_factory.mktemp("llhls") / "run0", seconds=14)  # 7 segments


@pytest.fixture
def state(run0: Path) -> ChannelState:
    s = ChannelState(run0)
    assert s.refresh()
    return s


def _load(text: str) -> m3u8.M3U8:
    return m3u8.loads(text)


def _range(part: m3u8.PartialSegment) -> tuple[int, int]:
    length, _, offset = part.byterange.strip('"').partition("@")
    return int(offset), int(length)


def test_renditions_come_from_ffmpegs_mpd(state: ChannelState) -> None:
    assert [(r.name, r.kind, r.codecs, r.bandwidth, r.resolution) for r in state.renditions] == [
        (VIDEO, "video", "avc1.64000c", 200000, (160, 90)),
        (SMALL, "video", "avc1.64000b", 100000, (96, 54)),
        (AUDIO, "audio", "mp4a.40.2", 64000, None),
    ]


def test_ll_media_playlist(state: ChannelState, run0: Path) -> None:
    text = state.media_playlist(VIDEO)
    pl = _load(text)
    assert "#EXT-X-VERSION:9" in text and pl.version == 9
    assert pl.target_duration == 2
    assert pl.server_control.can_block_reload == "YES"
    assert pl.part_inf.part_target == state.part_target_s and 0.5 <= state.part_target_s <= 1.0
    assert pl.server_control.part_hold_back >= 3 * pl.part_inf.part_target
    # A window of 6 whole segments out of the 7 written, each dated.
    assert pl.media_sequence == 2 and [s.uri for s in pl.segments] == [f"seg-0-{n}.m4s" for n in range(2, 8)]
    assert all(s.program_date_time is not None for s in pl.segments)
    dates = [s.program_date_time for s in pl.segments]
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(dates))
    with_parts = [s for s in pl.segments if s.parts]
    assert len(with_parts) == 3  # the last three target durations
    for seg in with_parts:
        ranges = [_range(p) for p in seg.parts]
        assert ranges[0][0] == 0 and all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(ranges))
        assert sum(length for _, length in ranges) == (run0 / seg.uri).stat().st_size
        assert sum(p.duration for p in seg.parts) == pytest.approx(seg.duration, abs=1e-3)
        assert [p.independent for p in seg.parts] == ["YES", None, None, None]
        assert {p.uri for p in seg.parts} == {seg.uri}
    assert 'BYTERANGE="' in text  # a quoted-string in EXT-X-PART
    hint = pl.preload_hint
    assert (hint.hint_type, hint.uri, hint.byterange_start) == ("PART", "seg-0-8.m4s", 0)
    reports = {r.uri: (r.last_msn, r.last_part) for r in pl.rendition_reports}
    assert reports == {playlist_name(SMALL): (7, 3), playlist_name(AUDIO): state.last(AUDIO)}
    assert "#EXT-X-ENDLIST" not in text


def test_plain_media_playlist_has_no_ll_tags(state: ChannelState) -> None:
    text = state.media_playlist(VIDEO, low_latency=False)
    assert not any(tag in text for tag in LL_TAGS) and "#EXT-X-PART-INF" not in text
    pl = _load(text)
    ll = _load(state.media_playlist(VIDEO))
    assert [(s.uri, s.duration, s.program_date_time) for s in pl.segments] == [
        (s.uri, s.duration, s.program_date_time) for s in ll.segments
    ]
    assert pl.segment_map[0].uri == "init-0.m4s"


def _variant(p: m3u8.Playlist) -> tuple[object, ...]:
    return p.uri, p.stream_info.codecs, p.stream_info.bandwidth, p.stream_info.resolution


def test_master_playlists(state: ChannelState) -> None:
    for low_latency in (True, False):
        pl = _load(state.master_playlist(low_latency=low_latency))
        variants = [_variant(p) for p in pl.playlists]
        assert variants == [
            (playlist_name(VIDEO, low_latency=low_latency), "avc1.64000c,mp4a.40.2", 264000, (160, 90)),
            (playlist_name(SMALL, low_latency=low_latency), "avc1.64000b,mp4a.40.2", 164000, (96, 54)),
        ]
        assert [(m.type, m.group_id, m.uri) for m in pl.media] == [
            ("AUDIO", "audio", playlist_name(AUDIO, low_latency=low_latency))
        ]
        assert all(p.stream_info.audio == "audio" for p in pl.playlists)


def test_program_date_time(run0: Path, tmp_path: Path) -> None:
    # The first prft's wall clock less its chunk's duration (ffmpeg stamps a chunk when it is written, after
    # its last frame), even when a start is given.
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    found = ChannelState(run0, start=start)
    found.refresh()
    first = cmaf.scan(run0 / "seg-0-1.m4s", timescale=cmaf.timescale(run0 / "init-0.m4s"))[0]
    dates = [s.program_date_time.timestamp() for s in found.segments(VIDEO)]
    shot = first.wallclock_s - first.media_time / cmaf.timescale(run0 / "init-0.m4s") - first.duration_s
    assert dates == pytest.approx([shot + 2 * i for i in range(7)], abs=1e-3)
    # Segments without prft boxes: the start given + decode time / timescale.
    given = ChannelState(live_folder(tmp_path / "noprft", seconds=4, prft=False), start=start)
    given.refresh()
    assert [s.program_date_time for s in given.segments(VIDEO)] == [start, start + timedelta(seconds=2)]


def _copy_channel(run0: Path, out: Path) -> Path:
    out.mkdir()
    for name in ("manifest.mpd", "init-0.m4s", "init-1.m4s", "init-2.m4s"):
        shutil.copy(run0 / name, out / name)
    return out


def test_growing_segments_publish_complete_chunks_only(run0: Path, tmp_path: Path) -> None:
    live = _copy_channel(run0, tmp_path / "live")
    state = ChannelState(live)
    calls: list[int] = []
    state.add_listener(lambda: calls.append(state.version))
    assert state.refresh() and state.last(VIDEO) is None  # the MPD, no segment yet
    data = (run0 / "seg-0-1.m4s").read_bytes()
    chunks = cmaf.scan(run0 / "seg-0-1.m4s", timescale=cmaf.timescale(run0 / "init-0.m4s"))
    growing = live / "seg-0-1.m4s.tmp"
    growing.write_bytes(data[: chunks[2].offset + 100])  # two chunks and a bit of the third
    assert state.refresh() and state.last(VIDEO) == (1, 1)
    seg = state.segment(VIDEO, 1)
    assert not seg.complete and seg.size == chunks[2].offset and seg.path == growing
    pl = _load(state.media_playlist(VIDEO))
    assert [s.uri for s in pl.segments] == [None] and [_range(p) for p in pl.segments[0].parts] == [
        (c.offset, c.length) for c in chunks[:2]
    ]
    assert (pl.preload_hint.uri, pl.preload_hint.byterange_start) == ("seg-0-1.m4s", chunks[2].offset)
    assert not _load(state.media_playlist(VIDEO, low_latency=False)).segments  # nothing whole yet
    assert state.path("seg-0-1.m4s") == growing
    version = state.version
    assert not state.refresh() and state.version == version  # nothing new: no change, no call
    growing.write_bytes(data)  # all four chunks, not yet renamed
    assert state.refresh() and state.last(VIDEO) == (1, 3) and not state.segment(VIDEO, 1).complete
    growing.rename(live / "seg-0-1.m4s")  # ffmpeg's rename when segment 2 starts
    (live / "seg-0-2.m4s.tmp").write_bytes(data[:24])  # its styp only: no part yet
    assert state.refresh()
    seg = state.segment(VIDEO, 1)
    assert seg.complete and seg.size == len(data) and seg.duration_s == pytest.approx(2.0)
    pl = _load(state.media_playlist(VIDEO))
    assert [s.uri for s in pl.segments] == ["seg-0-1.m4s"] and pl.segments[0].duration == pytest.approx(2.0)
    assert (pl.preload_hint.uri, pl.preload_hint.byterange_start) == ("seg-0-2.m4s", 0)
    assert calls == list(range(1, state.version + 1))  # once per change, after it
    assert state.path("seg-0-1.m4s") == live / "seg-0-1.m4s" and state.path("../seg-0-1.m4s") is None


def _msns(pl: m3u8.M3U8) -> list[int]:
    return [pl.media_sequence + i for i in range(len(pl.segments))]


def test_an_encoder_restart_continues_the_media_sequence(run0: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    shutil.copytree(run0, live)
    # The first encoder was killed in segment 8: the main rung has 2 chunks in a .tmp, the others nothing.
    data = (run0 / "seg-0-7.m4s").read_bytes()
    cut = cmaf.scan(run0 / "seg-0-7.m4s", timescale=cmaf.timescale(run0 / "init-0.m4s"))[2].offset
    (live / "seg-0-8.m4s.tmp").write_bytes(data[:cut])
    (live / "seg-1-8.m4s.tmp").write_bytes(data[:24])
    state = ChannelState(live)
    state.refresh()
    before = _load(state.media_playlist(VIDEO))
    assert _msns(before)[-1] == 8 and before.segments[-1].uri is None  # still growing, as far as we know
    live_folder(live, seconds=8, run=1)  # the restarted encoder: its numbers start at 1 again
    assert state.refresh()
    assert state.segment(VIDEO, 8).complete and state.segment(VIDEO, 8).size == cut  # closed as it was left
    for name in (VIDEO, SMALL, AUDIO):
        pl = _load(state.media_playlist(name))
        msns = _msns(pl)
        assert msns[0] >= before.media_sequence and msns[-1] == 12 and len(pl.segments) >= 6
        by_msn = dict(zip(msns, pl.segments, strict=True))
        assert by_msn[9].discontinuity and by_msn[9].uri == f"seg-{name[-1]}-r1-1.m4s"
        assert by_msn[9].init_section.uri == f"init-{name[-1]}-r1.m4s"
        assert not any(s.discontinuity for m, s in by_msn.items() if m != 9)
        assert pl.discontinuity_sequence is None
        # The rungs that had no part of segment 8 keep its slot, marked as a gap, so msns stay aligned.
        assert bool(by_msn[8].gap_tag) == (name != VIDEO)
    assert state.segment(AUDIO, 12) is not None and state.last(VIDEO)[0] == state.last(SMALL)[0] == 12
    narrow = ChannelState(live, window_segments=2)
    narrow.refresh()
    pl = _load(narrow.media_playlist(VIDEO))
    assert pl.media_sequence == 11 and pl.discontinuity_sequence == 1  # the restart left the window
    assert "init-0-r1.m4s" in narrow.media_playlist(VIDEO) and narrow.path("init-0-r1.m4s") == live / "init-0-r1.m4s"


def test_end_closes_the_playlists(run0: Path) -> None:
    state = ChannelState(run0)
    state.refresh()
    state.end()
    for low_latency in (True, False):
        text = state.media_playlist(VIDEO, low_latency=low_latency)
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        assert "#EXT-X-PRELOAD-HINT" not in text and "#EXT-X-RENDITION-REPORT" not in text


def test_a_real_time_encoder_is_followed_while_it_writes(tmp_path: Path) -> None:
    out = tmp_path / "live"
    proc = spawn([tools.find(tools.Tool.FFMPEG), "-loglevel", "error", *dash_args(out, seconds=4, realtime=True)])
    try:
        state = ChannelState(out)

        def growing() -> bool:
            state.refresh()
            segs = state.segments(VIDEO)
            return bool(segs) and not segs[-1].complete and len(segs[-1].parts) >= 1

        wait_for(growing, "a growing segment with a part", timeout=20, proc=proc)
        assert state.segments(VIDEO)[-1].path.name.endswith(".m4s.tmp")
        assert read_mpd(out / "manifest.mpd").type == "dynamic" and len(state.renditions) == 3
        assert state.segment_by_uri("seg-0-1.m4s") == state.segments(VIDEO)[0]
        pl = _load(state.media_playlist(VIDEO))
        assert pl.preload_hint.uri == state.segments(VIDEO)[-1].uri
        assert pl.preload_hint.byterange_start == state.segments(VIDEO)[-1].size
        proc.wait(timeout=20)
    finally:
        stop(proc)
    assert proc.returncode == 0
    state.refresh()
    state.end()
    segs = state.segments(VIDEO)
    assert [s.msn for s in segs] == [1, 2] and all(s.complete for s in segs)
    assert sum(s.duration_s for s in segs) == pytest.approx(4.0)
