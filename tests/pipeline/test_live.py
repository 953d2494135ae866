"""The live encoder: sources parsed, the command line it builds, and real ffmpeg runs of a few seconds
writing low-latency DASH (tiny frames, polled with deadlines)."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from packager import DASH_MANIFEST as MANIFEST
from pipeline.ffmpeg import UNUSED_OPTION
from pipeline.live import GROWING_SUFFIX, CencKey, LiveEncoder, live_argv
from pipeline.live_ladder import LiveLadder, LiveRung, parse_ladder
from pipeline.live_source import LiveSource, parse_source
from pipeline.live_stats import LiveStats
from tests import media
from tests.wait import wait_for
from vodflow import tools
from vodflow.errors import ProbeError, ProcessError, UsageError
from vodflow.process import spawn, stop

TWO_RUNGS = parse_ladder("320x180@300k,160x90@100k")
ONE_RUNG_1S = parse_ladder("160x90@100k", segment_s=1.0, part_s=0.5)
CLOCK = "http://127.0.0.1:8080/live/time"  # never fetched by ffmpeg: it only writes it into the MPD


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("live-clips")
    return {
        "av": media.clip(d, "av.mp4", size="160x90", seconds=1),
        "silent": media.clip(d, "silent.mp4", size="160x90", seconds=1, audio=False),
        "text": media.text_as_mp4(d),
    }


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _feeder(*output: str) -> subprocess.Popen:
    """A second ffmpeg sending 160x90 testsrc2 + a tone in real time to ``output``."""
    return spawn(
        [tools.find(tools.Tool.FFMPEG), "-hide_banner", "-nostdin", "-loglevel", "quiet", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30", "-re", "-f", "lavfi", "-i", "sine",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "15", "-c:a", "aac", *output],
    )  # fmt: skip


def _boxes(data: bytes) -> list[str]:
    """The top-level ISO BMFF box types of a segment file."""
    types, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        types.append(kind.decode("latin-1"))
        pos += size
    return types


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# --- sources -----------------------------------------------------------------------------------------


def test_each_source_kind_is_parsed(clips, tmp_path):
    assert parse_source(" testsrc ") == LiveSource(kind="testsrc", spec="testsrc", audio=False)

    plain, prefixed = parse_source(str(clips["av"])), parse_source(f"file:{clips['av']}")
    assert plain.kind == prefixed.kind == "file" and plain.target == prefixed.target == str(clips["av"])
    assert plain.audio and not parse_source(str(clips["silent"])).audio

    udp = parse_source("udp://127.0.0.1:5000")
    assert udp.kind == "udp" and udp.target.startswith("udp://127.0.0.1:5000?") and "overrun_nonfatal=1" in udp.target
    assert "fifo_size=1000" in parse_source("udp://127.0.0.1:5000?fifo_size=1000").target  # the caller's wins

    fifo = tmp_path / "in.ts"
    os.mkfifo(fifo)
    assert parse_source(f"fifo:{fifo}") == LiveSource(kind="fifo", spec=f"fifo:{fifo}", target=str(fifo))

    assert parse_source("rtmp://127.0.0.1:1940/live/key").target == "rtmp://127.0.0.1:1940/live/key"
    assert parse_source("rtmp://127.0.0.1/live/key").target == "rtmp://127.0.0.1:1935/live/key"


@pytest.mark.parametrize(
    "spec, error, says",
    [
        ("", UsageError, "empty"),
        ("udp://127.0.0.1", UsageError, "HOST:PORT"),
        ("udp://127.0.0.1:99999", UsageError, "1..65535"),
        ("udp://:5000", UsageError, "HOST:PORT"),
        ("udp://127.0.0.1:5000/x", UsageError, "no path"),
        ("rtmp://127.0.0.1:1935/live", UsageError, "APP/KEY"),
        ("srt://127.0.0.1:9000", UsageError, "libsrt"),
        ("http://example.com/live.ts", UsageError, "unknown kind http"),
        ("fifo:", UsageError, "fifo:PATH"),
        ("file:", UsageError, "file:PATH"),
    ],
)
def test_a_malformed_source_is_one_line_naming_it(spec, error, says):
    with pytest.raises(error, match=re.escape(says)) as info:
        parse_source(spec)
    assert "\n" not in str(info.value) and repr(spec) in str(info.value)


def test_a_missing_or_wrong_file_or_pipe_names_the_path(clips, tmp_path):
    missing = tmp_path / "nope.mp4"
    for spec in (str(missing), f"file:{missing}"):
        with pytest.raises(UsageError, match=f"{re.escape(str(missing))}: no such file"):
            parse_source(spec)
    with pytest.raises(ProbeError, match=re.escape(str(clips["text"]))):
        parse_source(str(clips["text"]))
    with pytest.raises(UsageError, match="no such named pipe"):
        parse_source(f"fifo:{missing}")
    with pytest.raises(UsageError, match="not a named pipe"):
        parse_source(f"fifo:{clips['av']}")


# --- the ladder --------------------------------------------------------------------------------------


def test_the_ladder_checks_its_timing_and_sizes():
    ladder = LiveLadder(rungs=[LiveRung(width=640, height=360, bitrate_kbps=800)])
    assert (ladder.keyint, ladder.parts_per_segment, ladder.audio_representation) == (60, 4, 1)
    assert LiveLadder(rungs=ladder.rungs, fps=25, gop_s=1.0).keyint == 25
    bad = [
        {"rungs": []},
        {"rungs": ladder.rungs, "fps": 61},
        {"rungs": ladder.rungs, "part_s": 3.0},
        {"rungs": ladder.rungs, "part_s": 0.3},  # 2 s is not a whole number of 0.3 s parts
        {"rungs": ladder.rungs, "fps": 25, "gop_s": 0.5},  # 12.5 frames
        {"rungs": ladder.rungs, "gop_s": 1.5},
    ]
    for fields in bad:
        with pytest.raises(ValidationError):
            LiveLadder(**fields)
    with pytest.raises(ValidationError, match="even"):
        LiveRung(width=641, height=360, bitrate_kbps=800)
    assert parse_ladder("640x360@800k, 320x180@250").rungs[1] == LiveRung(width=320, height=180, bitrate_kbps=250)
    for spec in ("640x360", "641x360@800k", "640x360@800k@1"):
        with pytest.raises(UsageError, match=re.escape(repr(spec))):
            parse_ladder(spec)


# --- the command line --------------------------------------------------------------------------------


def _after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_the_command_decodes_once_and_aligns_closed_gops_on_every_rung(tmp_path):
    argv = live_argv(
        parse_source("testsrc"),
        TWO_RUNGS,
        tmp_path,
        window_segments=5,
        utc_timing_url="http://t/",
        manifest_name=MANIFEST,
    )
    assert argv[0] == str(tools.find(tools.Tool.FFMPEG))
    # GOPs of exactly one segment (60 frames at 30 fps), no scene-cut keyframes, no B-frames, closed.
    assert (_after(argv, "-g"), _after(argv, "-keyint_min"), _after(argv, "-sc_threshold")) == ("60", "60", "0")
    assert _after(argv, "-force_key_frames") == "expr:gte(t,n_forced*2)"
    assert (_after(argv, "-bf"), _after(argv, "-flags:v"), _after(argv, "-tune")) == ("0", "+cgop", "zerolatency")
    assert _after(argv, "-preset") == "veryfast" and argv.count("-c:v") == 1  # one setting for every rung
    graph = _after(argv, "-filter_complex")
    assert graph.count("split=2") == 1 and graph.startswith("[0:v:0]") and graph.count("scale=") == 2
    for i, kbps in enumerate((300, 100)):
        assert (_after(argv, f"-b:v:{i}"), _after(argv, f"-maxrate:v:{i}")) == (f"{kbps}k", f"{kbps}k")
        assert _after(argv, f"-bufsize:v:{i}") == f"{2 * kbps}k"
    dash = {f: _after(argv, f) for f in ("-seg_duration", "-frag_duration", "-window_size", "-ldash", "-streaming")}
    assert dash == {
        "-seg_duration": "2",
        "-frag_duration": "0.5",
        "-window_size": "5",
        "-ldash": "1",
        "-streaming": "1",
    }
    assert _after(argv, "-utc_timing_url") == "http://t/" and _after(argv, "-extra_window_size") == "4"
    assert argv[-1] == str(tmp_path / MANIFEST)
    # Generated sources are paced at 1x; a UDP source arrives in real time and is not paced again.
    assert argv.count("-re") == 2 and _after(argv, "-i").startswith("testsrc2=size=320x180:rate=30")
    udp = live_argv(
        parse_source("udp://127.0.0.1:5000"), TWO_RUNGS, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST
    )
    assert "-re" not in udp and _after(udp, "-f") == "mpegts"
    for bad in ({"window_segments": 0}, {"utc_timing_url": ""}, {"target_latency_s": 0}):
        with pytest.raises(UsageError):
            live_argv(
                parse_source("testsrc"),
                TWO_RUNGS,
                tmp_path,
                **{"utc_timing_url": CLOCK, "manifest_name": MANIFEST, **bad},
            )


# --- real runs ---------------------------------------------------------------------------------------


def test_a_testsrc_channel_writes_chunked_segments_and_a_dynamic_mpd(tmp_path):
    with LiveEncoder(
        parse_source("testsrc"), TWO_RUNGS, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST, window_segments=4
    ) as enc:
        reps = range(len(TWO_RUNGS.rungs) + 1)  # two video rungs and the audio
        wait_for(lambda: all((tmp_path / f"seg-{r}-1.m4s").exists() for r in reps), "segment 1", 15, enc._proc)
        mpd = wait_for(
            lambda: (t := (tmp_path / MANIFEST).read_text()).count("<S ") == len(reps) and t, "an MPD with segment 1"
        )
        growing = sorted(p.name for p in tmp_path.glob(f"seg-*{GROWING_SUFFIX}"))
        stats = wait_for(lambda: (s := enc.stats()).frames >= 45 and s, "1.5 s of frames", 10, enc._proc)
        assert enc.alive
    assert not enc.alive and _gone(enc.pid)

    for r in reps:
        assert (tmp_path / f"init-{r}.m4s").stat().st_size > 0
        boxes = _boxes((tmp_path / f"seg-{r}-1.m4s").read_bytes())
        # A chunked CMAF segment: styp, then per 0.5 s part a producer reference time, moof and mdat.
        assert boxes[0] == "styp" and boxes.count("moof") >= 3 and boxes.count("moof") == boxes.count("mdat")
        assert boxes.count("prft") == boxes.count("moof")
    assert growing == [f"seg-{r}-2.m4s{GROWING_SUFFIX}" for r in reps]

    # What ffmpeg 8.1 writes while live (availabilityTimeOffset only comes without a SegmentTimeline).
    for needle in (
        'type="dynamic"',
        "availabilityStartTime=",
        'availabilityTimeComplete="false"',
        '<Latency target="3000" referenceId="2"/>',
        '<ProducerReferenceTime id="0" inband="true" type="captured"',
        f'<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="{CLOCK}"/>',
        'profiles="urn:mpeg:dash:profile:isoff-live:2011"',
    ):
        assert needle in mpd
    assert "availabilityTimeOffset" not in mpd
    # The two video rungs cut their segments on the same frames.
    timelines = re.findall(r"<SegmentTimeline>(.*?)</SegmentTimeline>", mpd, re.S)
    assert timelines[0] == timelines[1] and 'd="30720"' in timelines[0]

    assert stats.speed > 0 and stats.dropped == 0 and stats.out_time_s > 1 and stats.wall_s > 0
    assert 0.5 < stats.speed_measured < 2.5
    # Stopped gracefully: the muxer renamed its last segments and wrote the final, static MPD.
    assert enc.returncode == 255 and not list(tmp_path.glob(f"*{GROWING_SUFFIX}"))
    assert 'type="static"' in (tmp_path / MANIFEST).read_text()
    log = (tmp_path / "ffmpeg.log").read_text()
    assert log.startswith("# ") and not UNUSED_OPTION.search(log)
    assert "[error]" not in log and "[warning]" not in log, log
    enc.check()  # stopped by us: not a failure
    assert enc.stop() == 255  # twice is fine


def test_a_udp_mpegts_source_fed_by_another_ffmpeg(tmp_path):
    port = _free_port(socket.SOCK_DGRAM)
    enc = LiveEncoder(
        parse_source(f"udp://127.0.0.1:{port}"), ONE_RUNG_1S, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST
    )
    feeder = _feeder("-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316")
    try:
        wait_for(lambda: (tmp_path / "seg-0-2.m4s").exists(), "two segments", 15, enc._proc)
        stats = wait_for(lambda: (s := enc.stats()).frames > 0 and s, "progress", 5, enc._proc)
        enc.stop()  # while the feed still flows, as a channel is stopped
    finally:
        enc.stop()
        stop(feeder)
    assert stats.speed > 0 and _boxes((tmp_path / "seg-0-1.m4s").read_bytes()).count("moof") == 2
    assert (tmp_path / "seg-1-1.m4s").exists() and 'type="static"' in (tmp_path / MANIFEST).read_text()
    assert _gone(enc.pid) and _gone(feeder.pid)


def test_an_rtmp_publisher_is_taken_in(tmp_path):
    url = f"rtmp://127.0.0.1:{_free_port(socket.SOCK_STREAM)}/live/key"
    enc = LiveEncoder(parse_source(url), ONE_RUNG_1S, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST)
    feeders = [_feeder("-f", "flv", url)]

    def publishing() -> bool:
        if feeders[-1].poll() is not None:  # it knocked before ffmpeg listened: knock again
            feeders.append(_feeder("-f", "flv", url))
        return (tmp_path / "seg-0-2.m4s").exists()

    try:
        wait_for(publishing, "two segments from the publisher", 15, enc._proc)
        enc.stop()
    finally:
        enc.stop()
        for feeder in feeders:
            stop(feeder)
    assert (tmp_path / "seg-1-1.m4s").exists() and 'type="static"' in (tmp_path / MANIFEST).read_text()


def test_a_looped_file_runs_past_its_end(clips, tmp_path):
    with LiveEncoder(
        parse_source(str(clips["silent"])), ONE_RUNG_1S, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST
    ) as enc:
        stats = wait_for(lambda: (s := enc.stats()).out_time_s > 1.6 and s, "media past the 1 s file", 15, enc._proc)
    assert stats.dropped == 0 and (tmp_path / "seg-0-1.m4s").exists() and (tmp_path / "init-1.m4s").exists()


def test_stop_ends_an_ffmpeg_that_cannot_finish(tmp_path):
    # Nobody writes to the pipe: ffmpeg blocks opening it and never sees the SIGINT through.
    fifo = tmp_path / "in.ts"
    os.mkfifo(fifo)
    enc = LiveEncoder(
        parse_source(f"fifo:{fifo}"), ONE_RUNG_1S, tmp_path / "out", utc_timing_url=CLOCK, manifest_name=MANIFEST
    )
    assert enc.alive and enc.stats() == LiveStats()
    enc.stop(grace=0.3)
    assert not enc.alive and enc.returncode is not None and _gone(enc.pid)


def test_an_encoder_that_exits_on_its_own_fails_its_check(clips, tmp_path):
    doomed = tmp_path / "doomed.mp4"
    doomed.write_bytes(clips["av"].read_bytes())
    source = parse_source(str(doomed))
    doomed.unlink()  # gone before ffmpeg opens it
    enc = LiveEncoder(source, ONE_RUNG_1S, tmp_path / "out", utc_timing_url=CLOCK, manifest_name=MANIFEST)
    try:
        wait_for(lambda: not enc.alive, "ffmpeg to give up", 10)
        with pytest.raises(
            ProcessError, match=rf"live encoder for {re.escape(str(doomed))} exited with code \d+: .*"
        ) as info:
            enc.check()
        assert "\n" not in str(info.value) and info.value.argv == enc.argv
    finally:
        enc.stop()


# --- cenc ----------------------------------------------------------------------------------------------

KEY, KID = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef"


def test_a_cenc_channel_encrypts_every_rendition_and_logs_no_key(tmp_path, caplog):
    argv = live_argv(
        parse_source("testsrc"),
        TWO_RUNGS,
        tmp_path,
        utc_timing_url=CLOCK,
        manifest_name=MANIFEST,
        cenc=CencKey(KEY, KID),
    )
    assert _after(argv, "-format_options") == (
        f"movflags=cmaf:encryption_scheme=cenc-aes-ctr:encryption_key={KEY}:encryption_kid={KID}"
    )
    clear = live_argv(parse_source("testsrc"), TWO_RUNGS, tmp_path, utc_timing_url=CLOCK, manifest_name=MANIFEST)
    assert _after(clear, "-format_options") == "movflags=cmaf"
    for bad in (("ab", KID), (KEY, KID.upper())):
        with pytest.raises(UsageError, match="32 lower-case hex digits"):
            CencKey(*bad)
    caplog.set_level("INFO")
    with LiveEncoder(
        parse_source("testsrc"),
        ONE_RUNG_1S,
        tmp_path,
        utc_timing_url=CLOCK,
        manifest_name=MANIFEST,
        cenc=CencKey(KEY, KID),
    ) as enc:
        wait_for(lambda: all((tmp_path / f"seg-{r}-1.m4s").exists() for r in (0, 1)), "segment 1", 15, enc._proc)
    for r, entry in ((0, b"encv"), (1, b"enca")):
        init = (tmp_path / f"init-{r}.m4s").read_bytes()
        assert entry in init and b"tenc" in init and bytes.fromhex(KID) in init
        assert b"senc" in (tmp_path / f"seg-{r}-1.m4s").read_bytes()  # per-sample IVs and subsamples
        joined = tmp_path / f"joined-{r}.mp4"
        joined.write_bytes(init + (tmp_path / f"seg-{r}-1.m4s").read_bytes())
        decoded = subprocess.run(
            [tools.find(tools.Tool.FFMPEG), "-v", "error", "-decryption_key", KEY, "-i", joined, "-f", "framemd5", "-"],
            capture_output=True, timeout=30,
        )  # fmt: skip
        assert (
            decoded.returncode == 0
            and not decoded.stderr
            and decoded.stdout.count(b"\n0,") + decoded.stdout.count(b"\n1,") > 5
        )
    # The key is on ffmpeg's command line (the muxer takes it only there) but in no log.
    assert KEY in " ".join(enc.argv)
    assert KEY not in (tmp_path / "ffmpeg.log").read_text() and "<key>" in (tmp_path / "ffmpeg.log").read_text()
    assert KEY not in caplog.text and "encryption_key=<key>" in caplog.text
