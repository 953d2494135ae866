"""Real players in Debian's Chromium play live channels vodflow runs: LL-HLS (hls.js, Shaka Player), LL-DASH
(dash.js, Shaka Player) and plain HLS (hls.js) at once, each at its low-latency settings
(e2e/live.js).

One channel per encryption (``CHANNELS``: clear, cenc, cbcs), started with ``flows.live.start`` from the
generated source with a small DVR window, is played by its cases in one browser run (the test server
passes ``/live/<channel>/`` on to the channel's supervisor, so page and channel share an origin):
``WATCH_S`` at the live edge with latency sampled every 250 ms, then a seek ``SEEK_BACK_S`` back into the
DVR window, then on until the channel ends, which ``flows.live.stop`` does once every page waits for it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_harness import serve
from live_harness import (
    LiveCase,
    dash_clock_offset,
    end_problems,
    latencies,
    live_problems,
    pct,
    play_live,
    seek_problems,
    wait_for_segments,
)

from edge.live import LIVE_LICENSE
from flows.live import ChannelConfig, start, status, stop
from packager import DASH_MANIFEST
from pipeline.live_ladder import parse_ladder
from tests.wait import wait_for

LADDER = parse_ladder("320x180@300k,160x90@120k")  # 2 s segments of 0.5 s parts: the channel default
# Shorter than a channel here runs (about 25 s), no margin: by the end the window has slid and its first
# segments are gone, as on any channel that runs longer than its window.
DVR_S = 20.0
WATCH_S = 10.0
SEEK_BACK_S = 6.0
JOIN_AFTER_SEGMENTS = 3  # the players join a channel that has run a few segments (live_harness.wait_for_segments)
# Loose bounds that still prove low latency works: an LL player's median within LL_P50_MAX_S of the
# PROGRAM-DATE-TIME clock, and the plain-HLS player (2 s segments, no parts) further behind than that.
LL_P50_MAX_S = 4.0
# play -> (player, manifest, low latency)
PLAYS = {
    "llhls-hlsjs": ("hlsjs", "master.m3u8", True),
    "llhls-shaka": ("shaka", "master.m3u8", True),
    "lldash-dashjs": ("dashjs", DASH_MANIFEST, True),
    "lldash-shaka": ("shaka", DASH_MANIFEST, True),
    "plainhls-hlsjs": ("hlsjs", "master-plain.m3u8", False),
}
# One channel per encryption, and what plays it. An encrypted channel's players get their keys from the
# channel (ClearKey: the MPD's Laurl, the playlists' key URIs; hls.js is configured with the licence URL).
# hls.js plays no cbcs (its MP4 demuxer has no SAMPLE-AES, as for VOD), and the cbcs channel has no plain
# HLS: Shaka's seek range of a young plain-HLS channel is 4 s (it starts three target durations back).
CHANNELS = {
    "none": ("llhls-hlsjs", "llhls-shaka", "lldash-dashjs", "lldash-shaka", "plainhls-hlsjs"),
    "cenc": ("llhls-hlsjs", "llhls-shaka", "lldash-dashjs", "lldash-shaka", "plainhls-hlsjs"),
    "cbcs": ("llhls-shaka", "lldash-dashjs", "lldash-shaka"),
}
CASES = [pytest.param(enc, play, id=f"{enc}-{play}") for enc, plays in CHANNELS.items() for play in plays]
LL_CASES = [c for c in CASES if PLAYS[c.values[1]][2]]


@dataclass
class Played:
    """One channel's browser run: each case by id, what each page found, and the MPD clock's offset."""

    cases: dict[str, LiveCase]
    results: dict[str, dict]
    dash_offset_s: float
    stopped: dict  # the channel's status once stopped
    final_mpd: str | None  # the last MPD the channel served (static once it ended)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def _offset(url: str) -> tuple[float] | None:
    offset = dash_clock_offset(_get(url + DASH_MANIFEST), _get(url + "video-0.m3u8"))
    return None if offset is None else (offset,)


@pytest.fixture(scope="module")
def channels(tmp_path_factory) -> Callable[[str], Played]:
    """``channels(encryption)``: that channel played by every play ``CHANNELS`` names for it, once per
    module (the first test that asks runs it; a fixture parametrized per channel would be set up again
    each time the tests' order changes channel)."""
    done: dict[str, Played | Exception] = {}

    def get(encryption: str) -> Played:
        if encryption not in done:
            try:
                done[encryption] = _play_channel(encryption, tmp_path_factory.mktemp(f"live-{encryption}"))
            except Exception as exc:  # every test of that channel fails with it, none runs it again
                done[encryption] = exc
        found = done[encryption]
        if isinstance(found, Exception):
            raise found
        return found

    return get


def _play_channel(encryption: str, work: Path) -> Played:
    name = f"e2e-live-{encryption}"
    root = work / "channels"
    config = ChannelConfig(
        name=name, source="testsrc", ladder=LADDER, dvr_s=DVR_S, margin_s=0.0, encryption=encryption, archive=False
    )
    st = start(config, root=root)
    try:
        cases = {
            id_: LiveCase(
                id=f"{id_}-{encryption}",
                player=player,
                manifest=f"/live/{name}/{manifest}",
                seconds=WATCH_S,
                seek_back=SEEK_BACK_S,
                await_end=True,
                licence=f"/live/{name}/{LIVE_LICENSE}" if encryption != "none" and player == "hlsjs" else None,
            )
            for id_ in CHANNELS[encryption]
            for player, manifest, _ in [PLAYS[id_]]
        }
        wait_for_segments(st.url, JOIN_AFTER_SEGMENTS)
        # A 1-tuple: an offset of 0.0 (the MPD on the playlists' clock) is an answer too.
        (offset,) = wait_for(
            lambda: _offset(st.url),
            timeout=10,
            interval=0.2,
            what="the MPD and the LL-HLS playlist naming a segment in common",
        )
        stopped: dict = {}
        final_mpd: list[str] = []

        def at_end() -> None:
            # While the channel ends, keep the MPD it ends with (a failing end shows what the player read).
            stopping = threading.Thread(target=lambda: stopped.update(stop(name, root=root).model_dump()))
            stopping.start()
            while stopping.is_alive():
                with contextlib.suppress(OSError):
                    final_mpd[:] = [_get(st.url + DASH_MANIFEST)]
                stopping.join(0.5)

        with serve(work) as server:
            server.proxy(f"/live/{name}/", st.url.split("/live/")[0])
            results = play_live(list(cases.values()), server.url, work / "browser", at_end=at_end)
        results = {k: results[c.id] for k, c in cases.items()}
        return Played(cases, results, offset, stopped, final_mpd[0] if final_mpd else None)
    finally:
        if status(name, root).state in ("starting", "live", "stalled"):
            stop(name, root=root)


def _report(r: dict) -> str:
    keep = ("doneReason", "version", "firstFrameMs", "playedSeconds", "targetLatency", "stalls", "seek", "ended")
    return json.dumps({k: r.get(k) for k in keep} | {"errors": (r.get("errors") or [])[:5], "fatal": r.get("fatal")})


@pytest.mark.parametrize("encryption, play", CASES)
def test_plays_live(channels, encryption, play):
    played = channels(encryption)
    case, r = played.cases[play], played.results[play]
    found = live_problems(case, r)
    assert found == [], f"{case.id}: {_report(r)}\n" + "\n".join(found)


@pytest.mark.parametrize("encryption, play", LL_CASES)
def test_low_latency(channels, encryption, play):
    played = channels(encryption)
    case, r = played.cases[play], played.results[play]
    lat = latencies(case, r, dash_offset_s=played.dash_offset_s)
    p50 = pct(lat, 0.5)
    assert p50 is not None and p50 <= LL_P50_MAX_S, f"{case.id}: latency p50 {p50} s over {len(lat)} samples"
    for plain in [k for k in played.cases if not PLAYS[k][2]]:  # the channel's plain-HLS player, if any
        plain_p50 = pct(latencies(played.cases[plain], played.results[plain]), 0.5)
        assert plain_p50 is not None and plain_p50 > p50, f"{case.id}: p50 {p50} s, plain HLS {plain_p50} s"


@pytest.mark.parametrize("encryption, play", CASES)
def test_seeks_into_the_dvr_window(channels, encryption, play):
    played = channels(encryption)
    case, r = played.cases[play], played.results[play]
    found = seek_problems(case, r)
    assert found == [], f"{case.id}: {_report(r)}\n" + "\n".join(found)


@pytest.mark.parametrize("encryption, play", CASES)
def test_ends_cleanly_on_stop(channels, encryption, play):
    played = channels(encryption)
    case, r = played.cases[play], played.results[play]
    assert played.stopped.get("state") == "ended", played.stopped
    found = end_problems(case, r)
    assert found == [], f"{case.id}: {_report(r)}\nthe ended MPD: {played.final_mpd}\n" + "\n".join(found)
