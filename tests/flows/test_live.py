"""A live channel end to end: `vodflow live start` runs the supervisor in its own process (real ffmpeg, the
live state, the edge's live routes on real HTTP), the encoder is killed and comes back behind a
discontinuity, `stop` ends the playlists, and bad input is one line with nothing left running."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import m3u8
import pytest

from flows.live import ChannelConfig, channel_dir, start, status, stop
from flows.live_vod import ARCHIVE_RECORD, LiveArchive
from origin import layout
from origin.layout import Pointer
from origin.store import Store
from packager import HLS_MASTER, KeyStore, TrackClass, load_package
from packager.validate import validate
from pipeline.live_ladder import parse_ladder
from pipeline.packets import video_packets
from pipeline.renditions import ENCODE_RECORD, EncodeResult
from tests.wait import wait_for
from vodflow import tools
from vodflow.errors import UsageError, VodflowError
from vodflow.process import spawn
from vodflow.process import stop as stop_process

# Tiny and quick: 1 s segments of two 0.5 s parts, two small rungs.
LADDER = parse_ladder("320x180@250k,160x90@100k", segment_s=1.0, part_s=0.5)


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _playlist(url: str) -> m3u8.M3U8:
    code, body = _get(url)
    assert code == 200, (code, body[:200])
    return m3u8.loads(body.decode())


def _parts(pl: m3u8.M3U8, uri: str) -> list:
    return [p for seg in pl.segments for p in seg.parts if p.uri == uri]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def _encoders(channel: Path) -> list[int]:
    """Pids of ffmpeg processes writing into this channel's media folder."""
    out = subprocess.run(["pgrep", "-f", str(channel / "media")], capture_output=True, text=True).stdout
    return [int(p) for p in out.split() if int(p) != os.getpid()]


@pytest.fixture
def live_root(tmp_path):
    yield tmp_path / "live"
    for d in (tmp_path / "live").glob("*"):  # never leave a channel running, whatever the test did
        st = d / "status.json"
        if st.is_file():
            pid = json.loads(st.read_text()).get("pid")
            if pid and _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid in _encoders(d):
            os.kill(pid, signal.SIGKILL)


def test_a_channel_goes_live_survives_its_encoder_dying_and_ends_on_stop(live_root):
    config = ChannelConfig(name="ch1", source="testsrc", ladder=LADDER)
    st = start(config, root=live_root)
    assert st.state == "live" and st.url and _alive(st.pid)
    url = st.url

    master = _playlist(url + "master.m3u8")
    assert [p.uri for p in master.playlists] == ["video-0.m3u8", "video-1.m3u8"]
    # Any page may play the channel's own routes: CORS, and the preflight a Range request needs.
    with urllib.request.urlopen(urllib.request.Request(url + "master.m3u8", headers={"Origin": "http://a.b"})) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "*"
    ask = {"Origin": "http://a.b", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"}
    with urllib.request.urlopen(urllib.request.Request(url + "seg-0-1.m4s", headers=ask, method="OPTIONS")) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Headers"] == "range"
    assert master.playlists[0].stream_info.resolution == (320, 180)
    assert "avc1." in master.playlists[0].stream_info.codecs

    # Parts arrive, and a blocking reload for the part the preload hint names is answered once it exists.
    pl = wait_for(lambda: (p := _playlist(url + "video-0.m3u8")).preload_hint and p, "a preload hint", 20)
    assert pl.server_control.can_block_reload == "YES" and pl.part_inf.part_target <= 1.0
    hinted = pl.preload_hint.uri
    msn, part = int(hinted.rsplit("-", 1)[1].split(".")[0]), len(_parts(pl, hinted))
    started = time.monotonic()
    code, body = _get(f"{url}video-0.m3u8?_HLS_msn={msn}&_HLS_part={part}", timeout=10)
    held = time.monotonic() - started
    assert code == 200 and held < 3 * 1.0 + 0.5  # answered before the 503 deadline (3 x target duration)
    answered = time.time()
    held_pl = m3u8.loads(body.decode())
    assert len(_parts(held_pl, hinted)) == part + 1
    # The dates are the media's: a part cannot be served before its last frame was shot, and on a live
    # source it is served soon after (encode + a 10 ms look at the folder).
    seg = next(s for s in held_pl.segments if any(p.uri == hinted for p in s.parts))
    shot = seg.program_date_time.timestamp() + sum(p.duration for p in _parts(held_pl, hinted))
    assert shot - 0.05 <= answered <= shot + 1.0, answered - shot
    assert _get(f"{url}video-0.m3u8?_HLS_part=1")[0] == 400
    assert _get(f"{url}video-0.m3u8?_HLS_msn={msn + 5}")[0] == 400
    done = wait_for(lambda: [seg for seg in _playlist(url + "video-0.m3u8").segments if seg.uri], "a whole segment", 10)
    last = done[-1]
    code, seg = _get(url + last.uri)
    assert code == 200 and seg[4:8] == b"styp"

    # Kill the encoder: the supervisor starts another; the playlist goes on after a discontinuity and the
    # media sequence never goes back.
    channel = channel_dir("ch1", live_root)
    (victim,) = wait_for(lambda: _encoders(channel), "the encoder's pid", 10)
    before = _playlist(url + "video-0.m3u8")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: status("ch1", live_root).runs == 2, "a second encoder run", 15)
    after = wait_for(
        lambda: (
            (p := _playlist(url + "video-0.m3u8")).segments
            and any(s.discontinuity for s in p.segments)
            and any("-r1-" in s.uri for s in p.segments)
            and p
        ),
        "segments of the restarted encoder behind a discontinuity",
        20,
    )
    assert after.media_sequence >= before.media_sequence
    msns = [after.media_sequence + i for i in range(len(after.segments))]
    assert msns == sorted(msns)

    final = stop("ch1", live_root)
    assert final.state == "ended" and not _alive(st.pid) and _encoders(channel) == []
    assert final.runs == 2 and final.dropped == 0
    assert channel.joinpath("media", "manifest.mpd").is_file()

    # Live-to-VOD across the restart: both runs' segments, joined, packaged and valid; no origin is
    # running for this channel, so the package waits on disk and the status says so.
    archive = LiveArchive.load(channel / ARCHIVE_RECORD)
    assert archive.version is None and "not published" in final.message and "not running" in final.message
    on_disk = {p.name for p in (channel / "media").glob("seg-0-*.m4s")}
    assert any("-r1-" in n for n in on_disk) and any("-r1-" not in n for n in on_disk)
    assert len(on_disk) - 1 <= archive.segments <= len(on_disk)  # all but a segment a rendition lacks
    assert validate(archive.package).ok
    encode = EncodeResult.load(channel / "archive" / "renditions" / ENCODE_RECORD)
    assert [f.rendition.name for f in encode.video] == ["h264_320x180_250kmax250k", "h264_160x90_100kmax100k"]
    assert abs(encode.video[0].duration - archive.segments * LADDER.segment_s) <= LADDER.segment_s
    # The two runs play back to back: the joined file's times rise from 0 without a hole at the restart.
    pts = sorted(p.pts for p in video_packets(channel / "archive" / "renditions" / encode.video[0].path))
    assert pts[0] < 0.1 and max(b - a for a, b in itertools.pairwise(pts)) < 0.1


def test_the_dvr_window_is_listed_and_what_leaves_it_plus_the_margin_is_deleted_after_a_restart(live_root):
    # 1 s segments, a 6 s window and a 2 s margin: 8 segments a rendition at most on disk, whole ones.
    config = ChannelConfig(name="dvr", source="testsrc", ladder=LADDER, dvr_s=6.0, margin_s=2.0)
    st = start(config, root=live_root)
    media = channel_dir("dvr", live_root) / "media"
    (victim,) = wait_for(lambda: _encoders(media.parent), "the encoder's pid", 10)
    wait_for(lambda: (media / "seg-0-4.m4s").exists(), "four segments of the first run", 20)
    os.kill(victim, signal.SIGKILL)  # the second run's ffmpeg does not know the first run's files
    wait_for(lambda: (media / "seg-0-r1-12.m4s").exists(), "twelve segments of the second run", 30)
    pl = _playlist(st.url + "video-0.m3u8")
    whole = [s for s in pl.segments if s.uri]
    assert 6 <= len(whole) <= 7  # the window, and the segment that just completed before ffmpeg trims it
    assert all("-r1-" in s.uri for s in whole)
    # Everything of the first run left the window and the margin long ago: gone, its init too.
    wait_for(lambda: not list(media.glob("seg-0-[0-9]*.m4s")) and not (media / "init-0.m4s").exists(),
             "the first run's files deleted", 5)  # fmt: skip
    on_disk = sorted(media.glob("seg-0-r1-*.m4s"))
    assert len(on_disk) <= 6 + 2 + 1, on_disk
    assert 'timeShiftBufferDepth="PT6' in (media / "manifest.mpd").read_text()
    assert stop("dvr", live_root).state == "ended"


def test_a_source_that_stops_sending_is_reported_stalled_within_two_seconds(live_root):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    feeder = spawn(
        [tools.find(tools.Tool.FFMPEG), "-hide_banner", "-nostdin", "-loglevel", "quiet", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30", "-re", "-f", "lavfi", "-i", "sine",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-c:a", "aac",
         "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"],
    )  # fmt: skip
    try:
        config = ChannelConfig(name="quiet", source=f"udp://127.0.0.1:{port}", ladder=LADDER)
        assert start(config, root=live_root).state == "live"
    finally:
        stop_process(feeder)
    quiet_from = time.monotonic()
    st = wait_for(lambda: (s := status("quiet", live_root)).state == "stalled" and s, "a stalled status", 10)
    assert time.monotonic() - quiet_from <= 2.0
    assert "no media from the source" in st.message
    assert stop("quiet", live_root).state == "ended"


def test_bad_input_is_one_line_and_starts_nothing(live_root, tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        start(ChannelConfig(name="bad", source=str(tmp_path / "missing.mp4"), ladder=LADDER), root=live_root)
    assert not channel_dir("bad", live_root).exists()
    with pytest.raises(UsageError, match="libsrt"):
        start(ChannelConfig(name="bad", source="srt://127.0.0.1:9999", ladder=LADDER), root=live_root)
    with pytest.raises(UsageError, match="not a valid title ID"):
        ChannelConfig(name="../x", source="testsrc")
    with pytest.raises(UsageError):
        parse_ladder("160x90@100k", segment_s=1.0, part_s=2.0)  # parts longer than segments
    with pytest.raises(UsageError, match="no live channel"):
        status("nothing", live_root)
    # A source that cannot be reached: the first run's cause, at once, and nothing running or archived.
    started = time.monotonic()
    with pytest.raises(VodflowError, match=r"udp://10\.11\.12\.13:5000 exited .*: bind failed"):
        start(ChannelConfig(name="far", source="udp://10.11.12.13:5000", ladder=LADDER), root=live_root)
    assert time.monotonic() - started < 10
    far = channel_dir("far", live_root)
    assert status("far", live_root).state == "failed" and _encoders(far) == [] and not (far / ARCHIVE_RECORD).exists()


def test_a_second_start_of_a_running_channel_is_refused_and_the_cli_says_so(live_root):
    st = start(ChannelConfig(name="twice", source="testsrc", ladder=LADDER), root=live_root)
    try:
        with pytest.raises(UsageError, match="already running"):
            start(ChannelConfig(name="twice", source="testsrc", ladder=LADDER), root=live_root)
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "live",
                "start",
                "twice",
                "--source",
                "testsrc",
                "--dir",
                str(live_root),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 2
        assert cli.stderr.strip().splitlines() == [
            f"vodflow live: error: live channel 'twice' is already running (pid {st.pid}): stop it first"
        ]
        shown = subprocess.run(
            [sys.executable, "-m", "cli.main", "live", "status", "twice", "--json", "--dir", str(live_root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0 and json.loads(shown.stdout)["state"] in ("live", "stalled")
    finally:
        assert stop("twice", live_root).state == "ended"


def test_stop_turns_the_channel_into_a_vod_title_published_atomically(live_root, seaweed, origin, monkeypatch):
    # The supervisor finds the session's origin as the CLI would: $VODFLOW_ORIGIN, the bucket and prefix
    # from the channel's config.
    monkeypatch.setenv("VODFLOW_ORIGIN", str(seaweed.dir))
    where = f"s3://{origin.location.bucket}/{origin.location.prefix}"
    st = start(ChannelConfig(name="show", source="testsrc", ladder=LADDER, origin=where), root=live_root)
    channel = channel_dir("show", live_root)
    wait_for(lambda: len(list((channel / "media").glob("seg-0-*.m4s"))) >= 4, "four whole segments", 20)
    # While live, the origin mirrors the channel's whole files within a second or two of their completion.
    store = Store(origin)
    mirror = store.key(layout.live_root("show")) + "/"
    wait_for(lambda: {"init-0.m4s", "seg-0-1.m4s", "seg-2-3.m4s"} <= {k.rsplit("/", 1)[1] for k in store.list(mirror)},
             "the first segments on the origin", 5)  # fmt: skip
    assert store.get(mirror + "seg-0-1.m4s") == (channel / "media" / "seg-0-1.m4s").read_bytes()
    mirrored = wait_for(lambda: (m := status("show", live_root).mirror) and m.stored >= 6 and m, "mirror stats", 5)
    assert mirrored.failed == 0 and mirrored.max_lag_s < 2.0
    final = stop("show", live_root)
    assert final.state == "ended"
    wait_for(lambda: not _alive(st.pid), "the supervisor gone", 5)  # its last moments of exit
    archive = LiveArchive.load(channel / ARCHIVE_RECORD)
    # Each presentation is a title of its own: <channel>-<start, UTC>.
    assert re.fullmatch(r"show-\d{8}T\d{6}Z", archive.title), archive.title
    assert archive.version and final.message.startswith(f"published {archive.title} version {archive.version}")
    assert store.list(mirror) == {}  # the title holds the window now: the mirror is gone
    pointer = Pointer.model_validate_json(store.get(store.key(layout.pointer(archive.title))))
    assert pointer.version == archive.version
    # What players get from the origin is a VOD title: a static MPD and HLS playlists that end.
    root = pointer.root
    mpd = store.get(f"{root}/{pointer.dash}").decode()
    assert 'type="static"' in mpd and "mediaPresentationDuration" in mpd
    pkg = load_package(archive.package)
    media = next(s for s in pkg.streams if s.kind == "video").playlist
    assert store.get(f"{root}/{media}").decode().rstrip().endswith("#EXT-X-ENDLIST")
    assert pointer.hls == HLS_MASTER
    # A second presentation starts afresh; told to become a title that exists, it leaves that title as it
    # is and keeps its package, and a third start is refused until that package is published or removed.
    again = ChannelConfig(name="show", source="testsrc", ladder=LADDER, origin=where, vod_title=archive.title)
    st2 = start(again, root=live_root)
    assert not (channel / "archive").exists()
    final2 = stop("show", live_root)
    assert f"not published: the origin already has a title {archive.title!r}" in final2.message
    assert Pointer.model_validate_json(store.get(store.key(layout.pointer(archive.title)))).version == pointer.version
    assert LiveArchive.load(channel / ARCHIVE_RECORD).version is None and validate(channel / "archive" / "package").ok
    with pytest.raises(UsageError, match="is not published"):
        start(ChannelConfig(name="show", source="testsrc", ladder=LADDER), root=live_root)
    wait_for(lambda: not _alive(st2.pid), "the second supervisor gone", 5)


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_an_encrypted_channel_serves_encrypted_media_its_mpds_and_its_key(live_root, tmp_path, monkeypatch, scheme):
    # Written by the helper of issue 15's live encryption: the supervisor's wiring of ChannelConfig.encryption.
    monkeypatch.setenv("VODFLOW_KEYS", str(tmp_path / "keys"))
    config = ChannelConfig(name="locked", source="testsrc", ladder=LADDER, encryption=scheme, publish=False)
    st = start(config, root=live_root)
    try:
        key = KeyStore(tmp_path / "keys").load("locked").for_class(TrackClass.SD)  # the top rung is 180 lines
        for mpd in ("manifest.mpd", "manifest-number.mpd"):
            code, body = _get(st.url + mpd)
            assert code == 200 and f'value="{scheme}" cenc:default_KID="{key.kid[:8]}-' in body.decode()
            assert f'<dashif:Laurl Lic_type="EME-1.0">{st.url}license</dashif:Laurl>' in body.decode()
        method = "SAMPLE-AES-CTR" if scheme == "cenc" else "SAMPLE-AES"
        assert f'METHOD={method},URI="license",KEYID=0x{key.kid}' in _get(st.url + "video-0.m3u8")[1].decode()
        assert _get(st.url + f"key/{key.kid}") == (200, key.key_bytes)
        code, init = _get(st.url + "init-0.m4s")
        assert code == 200 and b"encv" in init and b"pssh" in init
        whole = wait_for(lambda: [s.uri for s in _playlist(st.url + "video-0.m3u8").segments if s.uri], "a segment", 15)
        seg = whole[0]
        joined = tmp_path / "joined.mp4"
        served = _get(st.url + seg)[1]
        joined.write_bytes(init + served)
        if scheme == "cbcs":  # the encoder's own file is clear: what is served is the state's encrypted copy
            assert served != (channel_dir("locked", live_root) / "media" / seg).read_bytes()
        ffmpeg = [str(tools.find(tools.Tool.FFMPEG)), "-v", "error", "-decryption_key", key.key, "-i", str(joined)]
        assert subprocess.run([*ffmpeg, "-f", "null", "-"], capture_output=True).stderr == b""  # decrypts cleanly
        logs = [channel_dir("locked", live_root) / name for name in ("supervisor.log", "media/ffmpeg.log")]
        assert all(key.key not in log.read_text() for log in logs)
    finally:
        assert stop("locked", live_root).state == "ended"
    # Its VOD title: made from clear media (decrypted cenc, cbcs's clear originals) and packaged with the
    # channel's scheme and its title's keys, which the validator checks by decrypting.
    archive = LiveArchive.load(channel_dir("locked", live_root) / ARCHIVE_RECORD)
    renditions = channel_dir("locked", live_root) / "archive" / "renditions"
    clear = [str(tools.find(tools.Tool.FFMPEG)), "-v", "error", "-i", str(next(renditions.glob("h264_*.mp4")))]
    assert subprocess.run([*clear, "-f", "null", "-"], capture_output=True).stderr == b""
    assert load_package(archive.package).encryption == scheme
    report = validate(archive.package, keys=KeyStore(tmp_path / "keys"))
    assert report.ok and not report.skipped, report
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"encryption": "aes128"}))
    cli = subprocess.run(
        [sys.executable, "-m", "cli.main", "live", "start", "bad", "--source", "testsrc", "--config", str(bad),
         "--dir", str(live_root)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1
    assert "encryption: Input should be 'none', 'cenc' or 'cbcs'" in cli.stderr
    assert not channel_dir("bad", live_root).exists()
