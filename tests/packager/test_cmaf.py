"""The incremental CMAF reader on segment files written by the real ffmpeg dash muxer, whole and growing."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from packager import cmaf
from packager.mpd import read_mpd
from pipeline.ffprobe import ffprobe
from tests.packager.live_media import FPS, live_folder
from vodflow.errors import MediaError


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return live_folder(tmp_path_factory.mktemp("cmaf") / "live", seconds=6)


def _probe_time_base(path: Path) -> str:
    doc = ffprobe(path, "-show_entries", "stream=time_base")
    return doc["streams"][0]["time_base"]


def test_timescale_is_the_tracks(folder: Path, tmp_path: Path) -> None:
    for rep in ("0", "2"):
        whole = tmp_path / f"whole-{rep}.mp4"
        whole.write_bytes((folder / f"init-{rep}.m4s").read_bytes() + (folder / f"seg-{rep}-1.m4s").read_bytes())
        assert f"1/{cmaf.timescale(folder / f'init-{rep}.m4s')}" == _probe_time_base(whole)
    assert cmaf.timescale(folder / "init-2.m4s") == 48000


def test_whole_segments_are_their_chunks(folder: Path) -> None:
    mpd = read_mpd(folder / "manifest.mpd")
    for rep in mpd.representations:
        scale = cmaf.timescale(folder / f"init-{rep.id}.m4s")
        for ref in rep.segments:
            path = folder / ref.url
            chunks = cmaf.scan(path, timescale=scale)
            if ref.duration > 1.9:  # (the audio track ends with a few ms more, in a segment of its own)
                assert len(chunks) == 4  # 2 s segments of 0.5 s fragments
            assert chunks[0].offset == 0 and chunks[-1].end == path.stat().st_size
            assert all(a.end == b.offset for a, b in itertools.pairwise(chunks))
            assert sum(c.duration_s for c in chunks) == pytest.approx(ref.duration, abs=0.03)
            assert all(c.wallclock_s is not None and c.media_time is not None for c in chunks)
            if rep.mime_type.startswith("video"):
                assert chunks[0].decode_time == round(ref.start * scale)
                assert [c.independent for c in chunks] == [True, False, False, False]  # one IDR per 2 s GOP
                assert all(c.duration_s == pytest.approx(0.5) for c in chunks)
            else:
                assert all(c.independent for c in chunks)  # every AAC frame is a sync sample


def test_a_growing_file_gives_only_complete_chunks(folder: Path, tmp_path: Path) -> None:
    source = folder / "seg-0-2.m4s"
    whole = cmaf.scan(source, timescale=15360)
    data = source.read_bytes()
    growing = tmp_path / "seg-0-2.m4s.tmp"
    cut = whole[1].offset + whole[1].length // 2  # in the middle of the second chunk's mdat
    growing.write_bytes(data[:cut])
    assert cmaf.scan(growing, timescale=15360) == whole[:1]
    growing.write_bytes(data[: whole[1].offset + 5])  # a box header cut short
    assert cmaf.scan(growing, timescale=15360) == whole[:1]
    assert cmaf.scan(growing, offset=whole[0].end, timescale=15360) == []
    growing.write_bytes(data)
    assert cmaf.scan(growing, offset=whole[0].end, timescale=15360) == whole[1:]


def test_init_plus_a_part_decodes(folder: Path, tmp_path: Path) -> None:
    init = (folder / "init-0.m4s").read_bytes()
    data = (folder / "seg-0-2.m4s").read_bytes()
    chunks = cmaf.scan(folder / "seg-0-2.m4s", timescale=cmaf.timescale(folder / "init-0.m4s"))
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    first.write_bytes(init + data[chunks[0].offset : chunks[0].end])
    second.write_bytes(init + data[chunks[1].offset : chunks[1].end])
    frames = ffprobe(first, "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames")
    assert int(frames["streams"][0]["nb_read_frames"]) == FPS // 2
    packets = ffprobe(second, "-count_packets", "-select_streams", "v:0", "-show_entries", "stream=nb_read_packets")
    assert int(packets["streams"][0]["nb_read_packets"]) == FPS // 2


def test_bad_files_are_media_errors(folder: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.m4s"
    junk.write_bytes(b"\x00\x00\x00\x10mdatxxxxxxxx")  # an mdat with no moof before it
    with pytest.raises(MediaError, match=r"junk\.m4s: not a CMAF segment"):
        cmaf.scan(junk, timescale=1000)
    with pytest.raises(MediaError, match=r"missing\.m4s: cannot read"):
        cmaf.scan(tmp_path / "missing.m4s", timescale=1000)
    short = tmp_path / "init-short.m4s"
    short.write_bytes((folder / "init-0.m4s").read_bytes()[:100])  # ffmpeg writes init files in place
    with pytest.raises(MediaError, match=r"init-short\.m4s: not a CMAF init segment"):
        cmaf.timescale(short)
    shutil.copy(folder / "seg-0-1.m4s", tmp_path / "seg.m4s")
    with pytest.raises(MediaError, match="not a CMAF init segment"):
        cmaf.timescale(tmp_path / "seg.m4s")
