"""The live player against a real channel: ``flows.live.start`` with a generated source (real ffmpeg, the
supervisor's LL-HLS routes on real HTTP), followed for about 20 s by several sessions at once, each under
a trace made here: a steady one, one with a drop that starves the player, the plain-HLS baseline, one
through a proxy that refuses some blocking reloads (400, 503) and one through a proxy that freezes the
channel (a stale playlist, every held reload 503). Then the channel stops and every session still
following it must end cleanly. The sessions run once per module; each test reads their reports.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from flows.live import ChannelConfig, channel_dir, start, status, stop
from packager import HLS_MASTER
from pipeline.live_ladder import parse_ladder
from player.errors import BadManifest, FetchFailed
from player.live import LiveSession
from player.live_playback import CatchUp
from player.live_records import LiveReport
from player.trace import steady, step
from tests.wait import wait_for

# Tiny and quick: 1 s segments of two 0.5 s parts, two small rungs (as tests/flows/test_live.py).
LADDER = parse_ladder("320x180@250k,160x90@100k", segment_s=1.0, part_s=0.5)
CH = "player"
FOLLOW_S = 20.0  # how long the sessions follow the channel before it stops
DROP = step([(6.0, 2e6), (3.0, 30e3), (600.0, 2e6)], name="drop")  # 3 s at 30 kb/s: less than a part
DASH_JS_RATES = CatchUp(min_rate=-0.5, max_rate=0.5)  # dash.js's default liveCatchup.playbackRate


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class Proxy:
    """A reverse proxy to the channel on its own loop thread. ``/refuse/<file>`` answers every 7th held
    reload 503 and every 11th 400; ``/freeze/<file>``, once ``frozen`` is set, answers playlists with the
    last one it passed and held reloads 503 (a channel whose source stopped); ``/cut/<file>``, once ``cut``
    is set, drops every connection unanswered (a server that went away); ``/static/<name>`` serves
    ``static``."""

    def __init__(self, upstream: str, static: dict[str, bytes]) -> None:
        self.upstream = upstream
        self.static = static
        self.frozen = False
        self.cut = False
        self.held = 0
        self.snapshots: dict[str, bytes] = {}
        self.loop = asyncio.new_event_loop()
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        mode, path = request.match_info["mode"], request.match_info["path"]
        if mode == "static":
            if path not in self.static:
                raise web.HTTPNotFound()
            return web.Response(body=self.static[path], content_type="application/vnd.apple.mpegurl")
        held = "_HLS_msn" in request.query
        if mode == "cut" and self.cut:
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPServiceUnavailable()  # never sent: the connection is gone
        if mode == "refuse" and held:
            self.held += 1
            if self.held % 11 == 0:
                return web.Response(status=400, text="bad request: _HLS_msn is beyond the last segment + 2\n")
            if self.held % 7 == 0:
                return web.Response(status=503, text="blocking reload: not there in time\n")
        if mode == "freeze" and self.frozen and path.endswith(".m3u8"):
            if held:
                return web.Response(status=503, text="blocking reload: not there in time\n")
            return web.Response(body=self.snapshots[path])
        headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
        async with self.session.get(self.upstream + path, params=request.query, headers=headers) as r:
            body = await r.read()
            if mode == "freeze" and path.endswith(".m3u8") and r.status == 200:
                self.snapshots[path] = body
            return web.Response(status=r.status, body=body)

    async def _serve(self, ready: threading.Event, done: asyncio.Event) -> None:
        app = web.Application()
        app.router.add_get("/{mode}/{path}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as self.session:
            ready.set()
            await done.wait()
        await runner.cleanup()

    def __enter__(self) -> Proxy:
        ready, self.done = threading.Event(), asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._serve(ready, self.done),))
        self.thread.start()
        assert ready.wait(10), "the proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)
        self.loop.close()


VOD = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n#EXTINF:2,\na.m4s\n"
VOD += b"#EXT-X-ENDLIST\n"
UNDATED = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\na.m4s\n"
PLAIN_MASTER = HLS_MASTER.replace(".m3u8", "-plain.m3u8")  # the channel's plain-HLS multivariant playlist
STATIC = {"vod.m3u8": VOD, "undated.m3u8": UNDATED, "page.m3u8": b"<html><body>hello</body></html>\n"}


class Channel:
    """A running channel: its base URL, and ``stop()`` (the playlists end with ``EXT-X-ENDLIST``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        st = start(ChannelConfig(name=CH, source="testsrc", ladder=LADDER), root=root)
        assert st.url and st.pid
        self.url, self.pid = st.url, st.pid

    def stop(self) -> None:
        if status(CH, self.root).state in ("starting", "live", "stalled"):
            stop(CH, self.root)

    def kill(self) -> None:
        """Leave nothing running, whatever a test did."""
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        media = str(channel_dir(CH, self.root) / "media")
        out = subprocess.run(["pgrep", "-f", media], capture_output=True, text=True).stdout
        for pid in (int(p) for p in out.split() if int(p) != os.getpid()):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def channel(tmp_path_factory) -> Iterator[Channel]:
    """A running channel with a few seconds of media in its window."""
    ch = Channel(tmp_path_factory.mktemp("live"))
    try:
        wait_for(lambda: status(CH, ch.root).segments >= 4, "four segments in the window", 20)
        yield ch
    finally:
        ch.stop()
        ch.kill()


class Runs:
    """Sessions running at once on threads; ``reports`` by name once they end."""

    def __init__(self) -> None:
        self.sessions: dict[str, LiveSession] = {}
        self.reports: dict[str, LiveReport] = {}
        self.errors: dict[str, BaseException] = {}
        self.threads: list[threading.Thread] = []

    def add(self, name: str, session: LiveSession) -> None:
        def run() -> None:
            try:
                self.reports[name] = session.run()
            except BaseException as exc:  # handed to the test, which fails with it
                self.errors[name] = exc

        self.sessions[name] = session
        self.threads.append(threading.Thread(target=run, name=f"live-{name}"))
        self.threads[-1].start()

    def played(self, name: str, seconds: float) -> bool:
        ph = self.sessions[name].playhead
        return ph is not None and ph.started_at is not None and ph.clock - ph.started_at >= seconds

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "a session did not end after the channel stopped"
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def runs(channel, tmp_path_factory) -> Iterator[tuple[Runs, subprocess.CompletedProcess, Proxy]]:
    """Every session of the module, run at once while the channel is live; the channel then stops."""
    trace_file = tmp_path_factory.mktemp("traces") / "steady.txt"
    trace_file.write_text("0 3.0\n10 3.0\n")  # a text trace: time_s Mbit/s
    master = channel.url + HLS_MASTER
    with Proxy(channel.url, STATIC) as proxy:
        r = Runs()
        r.add("steady", LiveSession(master, steady(2e6), seconds=None))
        r.add("drop", LiveSession(master, DROP, seconds=None, catch_up=DASH_JS_RATES))
        r.add("plain", LiveSession(channel.url + PLAIN_MASTER, steady(2e6), seconds=None))
        r.add("refuse", LiveSession(f"{proxy.url}/refuse/{HLS_MASTER}", steady(2e6), seconds=None))
        r.add("freeze", LiveSession(f"{proxy.url}/freeze/{HLS_MASTER}", steady(2e6), seconds=None, idle_timeout_s=3))
        r.add("cut", LiveSession(f"{proxy.url}/cut/{HLS_MASTER}", steady(2e6), seconds=None))
        r.add("seek", LiveSession(master, DROP, seconds=None, catch_up=CatchUp(max_drift=1.5)))
        cli = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "play", "--live", master, "--trace", trace_file, "--seconds", "4",
             "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for(lambda: r.played("freeze", 6.0) and r.played("cut", 6.0), "6 s played through the proxies", 30)
        proxy.frozen = proxy.cut = True
        wait_for(lambda: all(r.played(n, FOLLOW_S) for n in ("steady", "drop", "plain", "refuse")), "20 s", 60)
        out, err = cli.communicate(timeout=30)
        channel.stop()
        r.join(30)
        yield r, subprocess.CompletedProcess(cli.args, cli.returncode, out, err), proxy


def _playing(r: LiveReport) -> list:
    return [s for s in r.samples if s.state == "playing"]


def test_a_session_starts_at_the_live_edge_and_settles_at_the_channels_target(runs):
    r = runs[0].reports["steady"]
    assert r.mode == "ll-hls" and r.end == "ended", r.end
    # the channel's target: PART-HOLD-BACK, three part targets
    assert 3 * LADDER.part_s <= r.target_latency_s <= 3 * LADDER.part_s + 0.1
    assert r.startup_s is not None and r.startup_s < 3.0
    # it starts one target behind the wall clock (the live edge estimated with the playlist's age)
    assert r.start_latency_s is not None and r.target_latency_s - 0.05 <= r.start_latency_s <= r.target_latency_s + 0.5
    playing = _playing(r)
    last = playing[-1].t_s
    tail = [s.latency_s for s in playing if s.t_s >= last - 4.0]
    assert abs(statistics.median(tail) - r.target_latency_s) <= 0.1, tail
    assert r.stalls == 0 and r.stall_s == 0.0
    assert r.latency_p95_s is not None and r.latency_p95_s <= r.target_latency_s + 1.0
    # any drift is corrected within 0.9-1.1x, and it ends at 1x
    assert r.max_rate <= 1.1 + 1e-9 and r.min_rate >= 0.9 - 1e-9
    assert playing[-1].rate == 1.0
    assert r.mean_bitrate_kbps is not None and r.mean_bitrate_kbps > 0 and r.refused == {}
    assert [s.t_s for s in r.samples[:3]] == [0.5, 1.0, 1.5]  # a sample every half second


def test_a_stall_is_counted_and_caught_up_by_playback_rate(runs):
    r = runs[0].reports["drop"]
    assert r.stalls >= 1 and r.stall_s >= 0.5, (r.stalls, r.stall_s)
    samples = r.samples
    first_stall = next(i for i, s in enumerate(samples) if s.state == "stalled")
    assert 5.0 <= samples[first_stall].t_s <= 10.0  # the drop is at 6-9 s of the trace
    after = samples[first_stall:]
    # behind the target after the stall, the player plays faster than real time ...
    fast = next(i for i, s in enumerate(after) if s.state == "playing" and s.rate > 1.05)
    assert after[fast].latency_s > r.target_latency_s + 0.5
    # ... until it is back at the target, and plays at 1x again
    back = next(i for i, s in enumerate(after) if i > fast and s.rate == 1.0 and s.state == "playing")
    assert abs(after[back].latency_s - r.target_latency_s) <= 0.15
    assert max(s.latency_s for s in after[fast:]) > r.target_latency_s + 1.0
    assert r.end == "ended" and r.max_rate <= 1.5 + 1e-9


def test_plain_hls_is_the_baseline(runs):
    plain, ll = runs[0].reports["plain"], runs[0].reports["steady"]
    assert plain.mode == "hls" and plain.end == "ended" and plain.stalls == 0
    assert plain.target_latency_s == 3 * LADDER.segment_s  # no HOLD-BACK: three target durations
    assert plain.latency_p50_s is not None and ll.latency_p50_s is not None
    assert plain.latency_p50_s >= ll.latency_p50_s + 0.5
    # polled about once a target duration; the LL-HLS session holds one reload per part
    assert plain.playlist_requests <= plain.seconds / LADDER.segment_s + 3
    assert ll.playlist_requests >= 0.8 * ll.seconds / LADDER.part_s


def test_refused_blocking_reloads_are_worked_around(runs):
    r = runs[0].reports["refuse"]
    assert r.refused.get("503", 0) >= 1 and r.refused.get("400", 0) >= 1, r.refused
    assert r.end == "ended" and r.stalls <= 1
    assert r.latency_p50_s is not None and r.latency_p50_s <= r.target_latency_s + 0.5


def test_a_channel_that_freezes_ends_the_session_as_stalled(runs):
    r = runs[0].reports["freeze"]
    assert r.end == "stalled" and r.refused.get("503", 0) >= 1, (r.end, r.refused)
    assert r.stalls >= 1 and r.seconds < FOLLOW_S


def test_the_cli_plays_a_channel_and_prints_the_report(runs):
    res = runs[1]
    assert res.returncode == 0, res.stderr
    (session,) = json.loads(res.stdout.splitlines()[-1])["sessions"]
    assert session["mode"] == "ll-hls" and session["end"] == "seconds" and session["trace"] == "steady.txt"
    assert 7 <= len(session["samples"]) <= 12
    assert session["latency_p50_s"] <= session["target_latency_s"] + 1.0


def _one_line(call: Callable[[], object], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_what_is_not_a_live_channel_is_one_line(runs, channel):
    proxy = runs[2]
    gone = channel.url + HLS_MASTER  # stopped: nothing answers there any more
    for url, error, words in [
        ("http://127.0.0.1:9/live/x/" + HLS_MASTER, FetchFailed, "could not be reached"),
        (gone, FetchFailed, "could not be reached"),
        (f"{proxy.url}/static/vod.m3u8", BadManifest, "not a live playlist"),
        (f"{proxy.url}/static/undated.m3u8", BadManifest, "PROGRAM-DATE-TIME"),
        (f"{proxy.url}/static/page.m3u8", BadManifest, "not a readable HLS playlist"),
        (f"{proxy.url}/static/missing.m3u8", FetchFailed, "answered 404"),
    ]:
        _one_line(lambda url=url: LiveSession(url, steady(1e6), seconds=2).run(), error, words)
    res = subprocess.run(
        [sys.executable, "-m", "cli.main", "play", "--live", gone, "--seconds", "2"], capture_output=True, text=True
    )
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "could not be reached" in lines[0], res.stderr


def test_a_server_that_goes_away_ends_the_session(runs):
    r = runs[0].reports["cut"]
    assert r.end == "gone" and 6.0 <= r.seconds < FOLLOW_S, (r.end, r.seconds)
    assert r.stalls == 0 and r.refused == {}


def test_far_behind_the_player_seeks_back_to_the_target(runs):
    r = runs[0].reports["seek"]
    # the stall of the drop leaves it more than max_drift (1.5 s) behind: it jumps back (a seek, not a stall)
    assert r.stalls == 1 and r.seeks == 1, (r.stalls, r.seeks)
    assert 0.0 < r.seek_wait_s < 2.0  # fetching again at the edge: counted apart from stalls
    latencies = [(s.t_s, s.latency_s) for s in r.samples if s.latency_s is not None]
    (at, before, after), *_ = [(b[0], a[1], b[1]) for a, b in itertools.pairwise(latencies) if b[1] < a[1] - 1.0]
    assert 6.0 <= at <= 14.0 and before > r.target_latency_s + 1.5 and after <= r.target_latency_s + 1.0
    assert r.max_rate <= 1.1 + 1e-9 and r.end == "ended"
