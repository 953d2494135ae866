"""A live channel's own MPD, built from its state (:class:`packager.live_state.LiveState`): the same CMAF
segments the HLS playlists list, in either SegmentTemplate form.

- ``timeline`` (``manifest.mpd``): SegmentTemplate + SegmentTimeline, per Representation the segments of
  the DVR window, the growing one, and the one after it (nominal duration), so a player at the live edge
  finds the next segment in the MPD before it exists; ``startNumber`` is the first listed one's.
- ``number`` (``manifest-number.mpd``): SegmentTemplate ``$Number$`` + ``@duration`` + ``startNumber``; the
  player works out the live edge from the clock, the window from ``timeShiftBufferDepth``.

While live: ``type="dynamic"``, ``availabilityStartTime`` (the wall clock at media time 0 of the first
encoder run: the PROGRAM-DATE-TIME clock, so HLS and DASH players are judged on one clock),
``publishTime`` (the wall clock of the newest media), ``timeShiftBufferDepth`` (the DVR window),
``minimumUpdatePeriod`` (one segment), UTCTiming (http-xsdate, the channel's clock URL), and for low
latency: ``availabilityTimeOffset`` = segment - part target (a segment can be fetched once its first
chunk is out; the edge streams the rest as it comes),
``availabilityTimeComplete="false"``, ``ServiceDescription`` with ``Latency`` (target, min, max) and
``PlaybackRate`` (what dash.js and Shaka catch up with), and a ``ProducerReferenceTime`` per Period
(``captured``: the run's wall clock at presentation time 0, the state's anchor, so dash.js's offset
against availabilityStartTime is 0). No ``suggestedPresentationDelay``: dash.js and Shaka take their target
from the ServiceDescription, and Shaka would hold the delay back from its live edge on top of that target.

Encoder restarts: one Period per run (``id="run<k>"``), starting at the run's anchor less
availabilityStartTime; each run's files have names of their own (``-r<k>``), numbered from 1. A Period
with nothing left on disk is dropped; availabilityStartTime never moves.

Ending (``state.closing``, an update period before the encoder stops): no segment is announced after the
growing one (timeline), the number form gets ``mediaPresentationDuration`` at that segment's end; else a
player fetching it after the end gets a 404, fatal once the MPD is static (measured in dash.js and Shaka).
Ended (``state.ended``): ``type="static"``, ``mediaPresentationDuration``, no ``minimumUpdatePeriod``,
every segment still on disk, on the live timeline (Periods where they were: dash.js keeps the times it
played by, and stopped 4.5 s short of the end when the timeline was moved to start at 0). The VOD title a
channel becomes is packaged afresh (``flows.live_vod``); this MPD serves players still watching.

Encrypted channels (``state.protection``): per AdaptationSet ``ContentProtection``
``urn:mpeg:dash:mp4protection:2011`` (value ``cenc``/``cbcs``, ``cenc:default_KID``) and ClearKey
(``urn:uuid:e2719d58-...``) with ``dashif:Laurl``, the channel's licence URL (absolute: dash.js and Shaka
use it as it is, not against the MPD's URL).

Written as text rather than with ElementTree: ElementTree names namespaces ``ns0`` unless they are
registered process-wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from packager.live_records import LiveSegment, Rendition, run_file_names
from packager.live_state import LiveState
from packager.model import DASH_MANIFEST, DASH_NUMBER_MANIFEST
from packager.mpd import NS

__all__ = ["CLEARKEY_SYSTEM", "MPD_FORMS", "MpdForm", "live_mpd"]

MpdForm = Literal["timeline", "number"]
MPD_FORMS: dict[str, MpdForm] = {DASH_MANIFEST: "timeline", DASH_NUMBER_MANIFEST: "number"}  # file -> form
CLEARKEY_SYSTEM = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"  # DASH-IF's ClearKey scheme
_MP4_PROTECTION = "urn:mpeg:dash:mp4protection:2011"
_XSDATE = "urn:mpeg:dash:utc:http-xsdate:2014"
_DASHIF = "https://dashif.org/CPS"
_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
_LL_PROFILE = "http://www.dashif.org/guidelines/low-latency-live-v5"
# Catch-up rates players may use to hold the target (dash.js and Shaka read PlaybackRate); 4 % is not heard.
_RATE_MIN, _RATE_MAX = 0.96, 1.04


def _iso(t: float) -> str:
    """A wall clock (Unix seconds) as xs:dateTime, to the millisecond, UTC."""
    ms = round(t * 1000)
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def _dur(seconds: float) -> str:
    """Seconds as xs:duration (``PT2S``, ``PT0.488S``)."""
    text = f"{max(seconds, 0.0):.6f}".rstrip("0").rstrip(".")
    return f"PT{text or '0'}S"


def _el(tag: str, attrs: dict[str, object], children: list[str] | None = None, text: str = "") -> str:
    head = tag + "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)
    inner = "".join(children or ()) + escape(text)
    return f"<{head}>{inner}</{tag}>" if inner else f"<{head}/>"


@dataclass(frozen=True, slots=True)
class _Period:
    run: int
    start_s: float  # Period@start, presentation time
    offset_s: float  # media time (seconds) at the Period's start: presentationTimeOffset / timescale
    listed: dict[str, list[LiveSegment]]  # rendition -> segments the timeline lists (window, growing)


def live_mpd(state: LiveState, *, form: MpdForm = "timeline", licence_url: str | None = None) -> str | None:
    """The channel's MPD now, as text (see the module doc), or ``None`` while no run has a dated chunk yet
    (nothing to list). ``licence_url`` is the absolute ClearKey licence URL an encrypted channel names."""
    with state.lock:  # one consistent view: segments, runs and anchors of the same refresh
        return _Builder(state, form, licence_url).build()


class _Builder:
    def __init__(self, state: LiveState, form: MpdForm, licence_url: str | None) -> None:
        self.state, self.form, self.licence_url = state, form, licence_url
        self.renditions = state.renditions
        self.segment_s = state.segment_s
        self.part_s = state.part_target_s
        self.latency_s = state.target_latency_s or 3 * self.part_s
        self.ended = state.ended

    def build(self) -> str | None:
        runs = [r for r in self.state.runs if self.state.anchor(r) is not None]
        if not runs or not self.renditions:
            return None
        ast = round(self.state.anchor(self.state.runs[0]).timestamp(), 3)  # type: ignore[union-attr]
        periods = self._periods(runs, ast)
        if not periods:
            return None
        ends = [
            self._anchor(p.run) + s.start / s.timescale + s.duration_s
            for p in periods
            for v in p.listed.values()
            for s in v
        ]
        newest = max(ends, default=ast)
        attrs: dict[str, object] = {
            "xmlns": NS["mpd"],
            "xmlns:cenc": NS["cenc"],
            "xmlns:dashif": _DASHIF,
            "profiles": _PROFILE if self.ended else f"{_PROFILE},{_LL_PROFILE}",
            "type": "static" if self.ended else "dynamic",
            "availabilityStartTime": _iso(ast),
            "publishTime": _iso(newest),
            "maxSegmentDuration": _dur(math.ceil(self.segment_s - 1e-6)),
            "minBufferTime": _dur(self.part_s),
        }
        if self.ended:
            attrs["mediaPresentationDuration"] = _dur(max(p.start_s + self._end_s(p) for p in periods))
        else:
            attrs["minimumUpdatePeriod"] = _dur(self.segment_s)
            attrs["timeShiftBufferDepth"] = _dur(self.state.window_segments * self.segment_s)
            if self.state.closing and self.form == "number":
                # The clock would lead a player to the segment after the growing one: the end is that one's.
                last = periods[-1]
                n = max(v[-1].number for v in last.listed.values() if v)
                attrs["mediaPresentationDuration"] = _dur(last.start_s + n * self.segment_s)
        children = [] if self.ended else [self._service_description()]  # a static MPD has no latency to keep
        children += [self._period(p, ast) for p in periods]
        if self.state.utc_timing_url:
            children.append(_el("UTCTiming", {"schemeIdUri": _XSDATE, "value": self.state.utc_timing_url}))
        return '<?xml version="1.0" encoding="utf-8"?>\n' + _el("MPD", attrs, children) + "\n"

    # --- which segments, which Periods -------------------------------------------------------------

    def _anchor(self, run: int) -> float:
        return self.state.anchor(run).timestamp()  # type: ignore[union-attr]

    def _periods(self, runs: list[int], ast: float) -> list[_Period]:
        listed = {r.name: self._listed(r) for r in self.renditions}
        out = []
        for run in runs:
            per = {name: [s for s in segs if s.run == run] for name, segs in listed.items()}
            if not any(per.values()):
                continue  # everything of that run left the window
            out.append(_Period(run, max(0.0, self._anchor(run) - ast), 0.0, per))
        return out

    def _listed(self, r: Rendition) -> list[LiveSegment]:
        segs = [s for s in self.state.segments(r.name) if s.parts]
        if self.ended:
            return [s for s in segs if s.complete]
        if self.form == "number":
            return segs  # the template covers them; the list only says which runs still have files
        whole = [s for s in segs if s.complete]
        n = self.state.window_segments
        first = whole[-n].msn if len(whole) >= n else (segs[0].msn if segs else 0)
        return [s for s in segs if s.msn >= first]

    def _end_s(self, p: _Period) -> float:
        return max(v[-1].start / v[-1].timescale + v[-1].duration_s for v in p.listed.values() if v)

    # --- elements ----------------------------------------------------------------------------------

    def _service_description(self) -> str:
        target = round(self.latency_s * 1000)
        latency = {
            "referenceId": 0,
            "target": target,
            "min": round(max(self.part_s, 0.75 * self.latency_s) * 1000),
            "max": round(2 * self.latency_s * 1000),
        }
        rate = {"min": _RATE_MIN, "max": _RATE_MAX}
        return _el("ServiceDescription", {"id": 0}, [_el("Latency", latency), _el("PlaybackRate", rate)])

    def _period(self, p: _Period, ast: float) -> str:
        sets = []
        for kind in ("video", "audio"):
            reps = [r for r in self.renditions if r.kind == kind and p.listed.get(r.name)]
            if reps:
                sets.append(self._adaptation_set(len(sets), kind, reps, p))
        return _el("Period", {"id": f"run{p.run}", "start": _dur(p.start_s)}, sets)

    def _adaptation_set(self, index: int, kind: str, reps: list[Rendition], p: _Period) -> str:
        attrs: dict[str, object] = {
            "id": index,
            "contentType": kind,
            "mimeType": f"{kind}/mp4",
            "segmentAlignment": "true",
            "startWithSAP": 1,
        }
        children = self._protection()
        prt: dict[str, object] = {
            "id": 0,
            "type": "captured",
            "wallClockTime": _iso(self._anchor(p.run)),
            "presentationTime": 0,
        }
        timing = [_el("UTCTiming", {"schemeIdUri": _XSDATE, "value": self.state.utc_timing_url})]
        children.append(_el("ProducerReferenceTime", prt, timing if self.state.utc_timing_url else None))
        children += [self._representation(r, p) for r in reps]
        return _el("AdaptationSet", attrs, children)

    def _protection(self) -> list[str]:
        prot = self.state.protection
        if prot is None:
            return []
        out = [
            _el(
                "ContentProtection",
                {"schemeIdUri": _MP4_PROTECTION, "value": prot.scheme, "cenc:default_KID": prot.kid_uuid},
            )
        ]
        laurl = [_el("dashif:Laurl", {"Lic_type": "EME-1.0"}, text=self.licence_url)] if self.licence_url else None
        out.append(_el("ContentProtection", {"schemeIdUri": CLEARKEY_SYSTEM, "value": "ClearKey1.0"}, laurl))
        return out

    def _representation(self, r: Rendition, p: _Period) -> str:
        segs = p.listed[r.name]
        attrs: dict[str, object] = {"id": r.rep_id, "bandwidth": self.state.bandwidth(r.name), "codecs": r.codecs}
        if r.resolution:
            attrs["width"], attrs["height"] = r.resolution
        return _el("Representation", attrs, [self._template(segs, p)])

    def _template(self, segs: list[LiveSegment], p: _Period) -> str:
        scale = segs[0].timescale
        init, media = run_file_names(p.run)
        offset = round(p.offset_s * scale)
        attrs: dict[str, object] = {
            "timescale": scale,
            "initialization": init,
            "media": media,
            "presentationTimeOffset": offset or None,
        }
        if not self.ended:
            attrs["availabilityTimeOffset"] = f"{max(self.segment_s - self.part_s, 0.0):g}"
            attrs["availabilityTimeComplete"] = "false"
        if self.form == "number":
            attrs["duration"] = round(self.segment_s * scale)
            attrs["startNumber"] = 1 + round(p.offset_s / self.segment_s)
            return _el("SegmentTemplate", attrs)
        attrs["startNumber"] = segs[0].number
        # A run before a restart has no next segment, nor has a channel about to end.
        current = p.run == self.state.runs[-1] and not self.ended and not self.state.closing
        return _el("SegmentTemplate", attrs, [_el("SegmentTimeline", {}, self._timeline(segs, announce=current))])

    def _timeline(self, segs: list[LiveSegment], *, announce: bool) -> list[str]:
        nominal = round(self.segment_s * segs[0].timescale)
        rows: list[tuple[int, int]] = []  # (t, d)
        for s in segs:
            rows.append((s.start, s.ticks if s.complete else nominal))
        if rows[0][0] < 0:  # AAC's priming samples, before the Period: it starts at 0 (as ffmpeg's MPD does)
            rows[0] = (0, rows[0][0] + rows[0][1])
        if announce:
            t, d = rows[-1]
            rows[-1] = (t, max(d, 1))
            rows.append((t + rows[-1][1], nominal))  # the next segment, before it exists
        out: list[str] = []
        prev_end = None
        i = 0
        while i < len(rows):
            t, d = rows[i]
            r = 0
            while i + r + 1 < len(rows) and rows[i + r + 1] == (t + (r + 1) * d, d):
                r += 1
            attrs: dict[str, object] = {"t": t if t != prev_end else None, "d": d, "r": r or None}
            out.append(_el("S", attrs))
            prev_end = t + (r + 1) * d
            i += r + 1
        return out
