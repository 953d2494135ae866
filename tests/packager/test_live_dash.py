"""Our live MPDs (packager.live_dash) of channel folders written by the real ffmpeg dash muxer: both
SegmentTemplate forms, the low-latency attributes, one clock with HLS, an encoder restart, the end, and
an encrypted channel's ContentProtection. Read back with ElementTree and packager.mpd."""

from __future__ import annotations

import itertools
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import m3u8
import pytest

from packager import DASH_MANIFEST, DASH_NUMBER_MANIFEST, LIVE_MPDS, LiveProtection, parse_mpd
from packager.live_dash import CLEARKEY_SYSTEM
from packager.llhls import ChannelState
from packager.mpd import NS, parse_duration
from tests.packager.live_media import live_folder

VIDEO, SMALL, AUDIO = "video-0", "video-1", "audio-2"
CLOCK = "http://127.0.0.1:8080/live/time"
KID = "00112233445566778899aabbccddeeff"
M = {"m": NS["mpd"], "cenc": NS["cenc"], "dashif": "https://dashif.org/CPS"}


@pytest.fixture(scope="module")
def run0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return live_folder(tmp_path_factory.mktemp("live-dash") / "run0", seconds=10)  # 5 segments


def _state(folder: Path, **kw) -> ChannelState:
    s = ChannelState(folder, utc_timing_url=CLOCK, target_latency_s=2.0, **kw)
    assert s.refresh()
    return s


def _xml(text: str | None) -> ET.Element:
    assert text is not None and text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(text)


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _timeline(tmpl: ET.Element) -> list[tuple[int, int]]:
    rows, t = [], 0
    for s in tmpl.findall("m:SegmentTimeline/m:S", M):
        t = int(s.get("t", t))
        for _ in range(int(s.get("r", "0")) + 1):
            rows.append((t, int(s.get("d"))))
            t += int(s.get("d"))
    return rows


def test_the_file_names_are_the_two_forms() -> None:
    assert LIVE_MPDS == {DASH_MANIFEST: "timeline", DASH_NUMBER_MANIFEST: "number"}
    assert (DASH_MANIFEST, DASH_NUMBER_MANIFEST) == ("manifest.mpd", "manifest-number.mpd")


def test_timeline_mpd_while_live(run0: Path) -> None:
    state = _state(run0, window_segments=3)
    root = _xml(state.mpd("timeline"))
    assert root.get("type") == "dynamic" and "isoff-live" in root.get("profiles")
    ast = _date(root.get("availabilityStartTime"))
    assert abs((ast - state.anchor(0)).total_seconds()) < 0.001  # the PROGRAM-DATE-TIME clock
    newest = max(
        s.program_date_time.timestamp() + s.duration_s for r in (VIDEO, SMALL, AUDIO) for s in state.segments(r)
    )
    assert _date(root.get("publishTime")).timestamp() == pytest.approx(newest, abs=0.001)
    assert parse_duration(root.get("timeShiftBufferDepth")) == 3 * 2.0  # the DVR window
    assert parse_duration(root.get("minimumUpdatePeriod")) == 2.0
    assert root.get("suggestedPresentationDelay") is None  # Shaka would add it to the ServiceDescription target
    assert root.get("mediaPresentationDuration") is None
    assert root.find("m:UTCTiming", M).attrib == {"schemeIdUri": "urn:mpeg:dash:utc:http-xsdate:2014", "value": CLOCK}
    latency = root.find("m:ServiceDescription/m:Latency", M)
    assert (latency.get("target"), latency.get("min"), latency.get("max")) == ("2000", "1500", "4000")
    rate = root.find("m:ServiceDescription/m:PlaybackRate", M)
    assert float(rate.get("min")) < 1 < float(rate.get("max"))
    (period,) = root.findall("m:Period", M)
    assert period.get("id") == "run0" and parse_duration(period.get("start")) == 0
    sets = period.findall("m:AdaptationSet", M)
    assert [a.get("contentType") for a in sets] == ["video", "audio"]
    for aset in sets:
        prt = aset.find("m:ProducerReferenceTime", M)
        assert prt.get("type") == "captured" and prt.get("presentationTime") == "0"
        assert prt.get("wallClockTime") == root.get("availabilityStartTime")
        assert prt.get("id") == latency.get("referenceId")
        assert aset.find("m:ContentProtection", M) is None  # clear
    reps = {r.get("id"): r for a in sets for r in a.findall("m:Representation", M)}
    assert list(reps) == ["0", "1", "2"]
    assert (reps["0"].get("width"), reps["0"].get("height"), reps["0"].get("codecs")) == ("160", "90", "avc1.64000c")
    for rep_id, rep in reps.items():
        tmpl = rep.find("m:SegmentTemplate", M)
        assert float(tmpl.get("availabilityTimeOffset")) == pytest.approx(2.0 - state.part_target_s)
        assert tmpl.get("availabilityTimeComplete") == "false"
        assert (tmpl.get("initialization"), tmpl.get("media")) == (
            "init-$RepresentationID$.m4s",
            "seg-$RepresentationID$-$Number$.m4s",
        )
        # The window's three whole segments (3-5 of 5), then the next one, announced before it exists.
        assert tmpl.get("startNumber") == "3"
        rows = _timeline(tmpl)
        segs = state.segments(f"{'audio' if rep_id == '2' else 'video'}-{rep_id}")[-3:]
        assert rows[:3] == [(s.start, s.ticks) for s in segs]
        assert rows[3] == (segs[-1].start + segs[-1].ticks, round(2.0 * segs[-1].timescale))
        assert all(a[0] + a[1] == b[0] for a, b in itertools.pairwise(rows))
    mpd = parse_mpd(state.mpd("timeline"))  # what packager.mpd reads
    assert mpd.type == "dynamic" and [r.id for r in mpd.representations] == ["0", "1", "2"]
    urls = [s.url.replace("$RepresentationID$", "0") for s in mpd.representations[0].segments]
    assert urls == ["seg-0-3.m4s", "seg-0-4.m4s", "seg-0-5.m4s", "seg-0-6.m4s"]
    assert all((run0 / u).is_file() for u in urls[:3]) and not (run0 / urls[3]).exists()


def test_number_mpd_while_live(run0: Path) -> None:
    state = _state(run0, window_segments=3)
    root = _xml(state.mpd("number"))
    timeline = _xml(state.mpd("timeline"))
    for attr in ("type", "availabilityStartTime", "publishTime", "timeShiftBufferDepth", "minimumUpdatePeriod"):
        assert root.get(attr) == timeline.get(attr)
    assert root.find("m:ServiceDescription/m:Latency", M).get("target") == "2000"
    assert root.find("m:UTCTiming", M).get("value") == CLOCK
    for rep in root.iterfind("m:Period/m:AdaptationSet/m:Representation", M):
        tmpl = rep.find("m:SegmentTemplate", M)
        assert tmpl.find("m:SegmentTimeline", M) is None
        scale = int(tmpl.get("timescale"))
        assert int(tmpl.get("duration")) == 2 * scale and tmpl.get("startNumber") == "1"
        assert tmpl.get("presentationTimeOffset") is None  # media time 0 is the Period's start
        assert tmpl.get("availabilityTimeComplete") == "false" and float(tmpl.get("availabilityTimeOffset")) > 1.4
    # ffmpeg's segment n starts at (n - 1) x 2 s of media time, as the template says.
    assert [s.start / s.timescale for s in state.segments(VIDEO)] == [0, 2, 4, 6, 8]
    assert parse_mpd(state.mpd("number")).type == "dynamic"


def test_dash_and_hls_dates_are_one_clock(run0: Path) -> None:
    state = _state(run0)
    root = _xml(state.mpd("timeline"))
    ast = _date(root.get("availabilityStartTime")).timestamp()
    pl = m3u8.loads(state.media_playlist(VIDEO))
    tmpl = root.find("m:Period/m:AdaptationSet/m:Representation/m:SegmentTemplate", M)
    scale = int(tmpl.get("timescale"))
    for (t, _), seg in zip(_timeline(tmpl), pl.segments, strict=False):
        assert ast + t / scale == pytest.approx(seg.program_date_time.timestamp(), abs=0.001)


def test_nothing_to_list_before_the_first_chunk(run0: Path, tmp_path: Path) -> None:
    (tmp_path / "ch").mkdir()
    shutil.copy(run0 / "manifest.mpd", tmp_path / "ch" / "manifest.mpd")
    state = ChannelState(tmp_path / "ch")
    state.refresh()
    assert state.renditions and state.mpd("timeline") is None and state.mpd("number") is None


def test_a_restart_is_a_new_period_and_nothing_goes_back(run0: Path, tmp_path: Path) -> None:
    live = tmp_path / "live"
    shutil.copytree(run0, live)
    state = _state(live, window_segments=8)
    before = _xml(state.mpd("timeline"))
    live_folder(live, seconds=6, run=1)  # the restarted encoder: its numbers start at 1 again
    assert state.refresh()
    for form in ("timeline", "number"):
        root = _xml(state.mpd(form))
        assert root.get("availabilityStartTime") == before.get("availabilityStartTime")  # never moves
        assert root.get("publishTime") > before.get("publishTime")
        p0, p1 = root.findall("m:Period", M)
        assert (p0.get("id"), p1.get("id")) == ("run0", "run1")
        ast = _date(root.get("availabilityStartTime")).timestamp()
        start1 = parse_duration(p1.get("start"))
        assert start1 == pytest.approx(state.anchor(1).timestamp() - ast, abs=0.002)
        assert start1 >= 10.0 - 0.01  # after run 0's five segments: later media, later presentation time
        for rep in p1.iterfind("m:AdaptationSet/m:Representation", M):
            tmpl = rep.find("m:SegmentTemplate", M)
            assert (tmpl.get("initialization"), tmpl.get("media")) == (
                "init-$RepresentationID$-r1.m4s",
                "seg-$RepresentationID$-r1-$Number$.m4s",
            )
            assert tmpl.get("startNumber") == "1"
            assert p1.find("m:AdaptationSet/m:ProducerReferenceTime", M).get("wallClockTime") > p0.find(
                "m:AdaptationSet/m:ProducerReferenceTime", M
            ).get("wallClockTime")
        if form == "timeline":  # run 0 is whole (no segment announced after it), run 1 announces its next
            assert len(_timeline(p0.find("m:AdaptationSet/m:Representation/m:SegmentTemplate", M))) == 5
            assert len(_timeline(p1.find("m:AdaptationSet/m:Representation/m:SegmentTemplate", M))) == 3 + 1
    narrow = _state(live, window_segments=2)
    (period,) = _xml(narrow.mpd("timeline")).findall("m:Period", M)  # run 0 left the window
    assert period.get("id") == "run1"


def test_ended_is_static(run0: Path, tmp_path: Path) -> None:
    state = _state(run0)
    state.end()
    for form in ("timeline", "number"):
        text = state.mpd(form)
        root = _xml(text)
        assert root.get("type") == "static"
        for gone in ("minimumUpdatePeriod", "timeShiftBufferDepth", "suggestedPresentationDelay"):
            assert root.get(gone) is None
        total = sum(s.duration_s for s in state.segments(VIDEO))
        assert parse_duration(root.get("mediaPresentationDuration")) == pytest.approx(total, abs=0.03)
        for tmpl in root.iterfind(".//m:SegmentTemplate", M):
            assert tmpl.get("availabilityTimeOffset") is None and tmpl.get("availabilityTimeComplete") is None
        assert root.find("m:ServiceDescription", M) is None and "low-latency" not in root.get("profiles")
        mpd = parse_mpd(text)
        assert mpd.type == "static" and mpd.duration == pytest.approx(total, abs=0.03)
        urls = [s.url.replace("$RepresentationID$", "0") for s in mpd.representations[0].segments]
        assert urls == [f"seg-0-{n}.m4s" for n in range(1, 6)] and all((run0 / u).is_file() for u in urls)
    # Segments that left the DVR window before the end: the static MPD keeps the live timeline (players that
    # watched it live go on by the times they had), listing what is left and ending where the media ends.
    trimmed = tmp_path / "trimmed"
    shutil.copytree(run0, trimmed)
    for old in trimmed.glob("seg-*-1.m4s"):
        old.unlink()
    state = _state(trimmed)
    state.end()
    for form in ("timeline", "number"):
        root = _xml(state.mpd(form))
        period = root.find("m:Period", M)
        assert parse_duration(period.get("start")) == 0
        assert parse_duration(root.get("mediaPresentationDuration")) == pytest.approx(10.0, abs=0.03)
        for tmpl in period.iterfind("m:AdaptationSet/m:Representation/m:SegmentTemplate", M):
            assert tmpl.get("presentationTimeOffset") is None
            assert tmpl.get("startNumber") == ("2" if form == "timeline" else "1")
            if form == "timeline":
                assert _timeline(tmpl)[0][0] / int(tmpl.get("timescale")) == pytest.approx(2.0, abs=0.03)


def test_a_channel_about_to_end_announces_no_next_segment(run0: Path) -> None:
    state = _state(run0, window_segments=3)
    live = {form: _xml(state.mpd(form)) for form in ("timeline", "number")}
    state.close_soon()
    assert state.closing and not state.ended
    for form in ("timeline", "number"):
        root = _xml(state.mpd(form))
        assert root.get("type") == "dynamic"
        for before, tmpl in zip(
            live[form].iterfind(".//m:SegmentTemplate", M), root.iterfind(".//m:SegmentTemplate", M), strict=True
        ):
            if form == "timeline":  # the window's segments, without the announced next one
                assert _timeline(tmpl) == _timeline(before)[:-1]
            else:  # the clock would name segment 6: the presentation ends with segment 5
                assert root.get("mediaPresentationDuration") is not None
        if form == "number":
            assert parse_duration(root.get("mediaPresentationDuration")) == pytest.approx(10.0)
        urls = [
            s.url.replace("$RepresentationID$", "0")
            for s in parse_mpd(state.mpd("timeline")).representations[0].segments
        ]
        assert urls == ["seg-0-3.m4s", "seg-0-4.m4s", "seg-0-5.m4s"]


def test_encrypted_channel_signals_its_key(run0: Path, tmp_path: Path) -> None:
    state = _state(run0, protection=LiveProtection("cenc", KID))
    licence = "http://edge.example/live/run0/license"
    for form in ("timeline", "number"):
        text = state.mpd(form, licence_url=licence)
        root = _xml(text)
        for aset in root.iterfind("m:Period/m:AdaptationSet", M):
            mp4, clearkey = aset.findall("m:ContentProtection", M)
            assert mp4.get("schemeIdUri") == "urn:mpeg:dash:mp4protection:2011" and mp4.get("value") == "cenc"
            assert mp4.get(f"{{{NS['cenc']}}}default_KID") == "00112233-4455-6677-8899-aabbccddeeff"
            assert clearkey.get("schemeIdUri") == CLEARKEY_SYSTEM == "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
            assert clearkey.find("dashif:Laurl", M).text == licence
        mpd = parse_mpd(text)
        assert all(a.default_kids == [KID] for a in mpd.adaptation_sets)
        assert all(a.pssh_systems == [CLEARKEY_SYSTEM.removeprefix("urn:uuid:")] for a in mpd.adaptation_sets)
    assert "Laurl" not in state.mpd("timeline")  # no licence URL given: none named
    cbcs = _state(shutil.copytree(run0, tmp_path / "cbcs"), protection=LiveProtection("cbcs", KID), key=bytes(16))
    assert 'value="cbcs"' in cbcs.mpd("number")
