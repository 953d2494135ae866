"""The live state of one channel folder: its renditions, and per rendition the segments ffmpeg's dash
muxer has written so far, each with its parts (the CMAF chunks, as byte ranges of the segment file).

What ffmpeg (8.1, ``-f dash -ldash 1 -streaming 1``) leaves in the folder, and how it is read:

- ``manifest.mpd`` (rewritten through a temp file): the renditions (``video-<rep>``, ``audio-<rep>``),
  their codecs, bandwidths and sizes, read once with :func:`packager.mpd.read_mpd`;
- ``init-<rep>.m4s``: the init segment (written in place, so it may be short for a moment);
- ``seg-<rep>-<n>.m4s.tmp`` while segment ``n`` grows by one chunk per fragment, renamed to
  ``seg-<rep>-<n>.m4s`` when the next segment starts or the muxer stops: the final name means complete.

Encoder restarts. A restarted ffmpeg numbers its segments from 1 again, so run ``k`` (0 the first) must
write other names: :func:`run_file_names` gives ffmpeg's ``-init_seg_name``/``-media_seg_name`` for it,
``init-<rep>-r<k>.m4s`` and ``seg-<rep>-r<k>-<n>.m4s`` (the first run keeps ffmpeg's plain names). All
runs share the folder; when a run's first file appears, the segments of the run before are closed with
the chunks they hold (a killed encoder leaves a ``.tmp``), and the new run's segment ``n`` gets media
sequence number ``base + n``, ``base`` being the highest msn given so far in any rendition, so msns
never go back and stay aligned across renditions (a rendition that had fewer segments in the old run
has a gap, which the playlist marks ``EXT-X-GAP``). The first segment of each later run carries
``discontinuity``. URIs are the file names (final ones), the same ones the MPD uses.

PROGRAM-DATE-TIME: each run has one anchor, the wall clock at media time 0, taken from the first
``prft`` seen in the run less that chunk's duration (ffmpeg writes one per chunk, stamped when the chunk
is written, i.e. after its last frame; the MPD's availabilityStartTime and ProducerReferenceTime carry
the same stamp, so a DASH player's clock runs one chunk late against this one); without ``prft``
boxes, ``start`` (first run; else the MPD's mtime) or the end of the run before; never earlier than the
end of the run before (so dates never go back). A segment's date is anchor + the media time of its first
sample (the ``prft``'s, else ``tfdt``) / timescale.

Encrypted channels (``protection``): cenc segments come encrypted from the encoder and are listed as they
are; init segments get a ``pssh`` when served (:meth:`LiveState.init_segment`). cbcs (which ffmpeg cannot
write): the encoder writes clear files, and each chunk is encrypted as the refresh finds it into a copy in
``cbcs/`` (``packager.live_cbcs``), which is what the segments' ``path`` and parts name; a copy and its
clear file go together. The state's own MPDs and playlists are in ``packager.live_dash`` and
``packager.llhls``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from packager import cmaf
from packager.live_cbcs import CbcsCopies
from packager.live_crypto import with_pssh
from packager.live_records import (
    CBCS_FOLDER,
    SEGMENT,
    TMP,
    LiveProtection,
    LiveSegment,
    Part,
    Rendition,
    encoder_settings,
    init_name,
    segment_name,
)
from packager.model import DASH_MANIFEST as MANIFEST
from packager.mpd import read_mpd
from vodflow.errors import MediaError, UsageError

__all__ = ["LiveState"]


class LiveState:
    """The segments and parts of a channel folder written by ffmpeg's dash muxer (see the module doc).

    ``refresh()`` brings it up to date with the folder; readers (playlists, the edge) may call the
    other methods from any thread. ``window_segments`` whole segments make a playlist; ``segment_s`` and
    ``part_s`` are the encoder's targets.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        start: datetime | None = None,
        segment_s: float = 2.0,
        part_s: float = 0.5,
        window_segments: int = 6,
        protection: LiveProtection | None = None,
        key: bytes | None = None,
        utc_timing_url: str | None = None,
        target_latency_s: float | None = None,
    ) -> None:
        if window_segments < 1 or part_s <= 0 or segment_s < part_s:
            raise UsageError(
                f"bad live state settings: window_segments={window_segments}, segment_s={segment_s}, part_s={part_s}"
            )
        cbcs = protection is not None and protection.scheme == "cbcs"
        if cbcs and (key is None or len(key) != 16):
            raise UsageError("a cbcs live channel's state encrypts its segments: it needs the 16-byte key")
        self.folder = Path(folder)
        self.start = start
        self.segment_s = segment_s
        self.part_s = part_s
        self.window_segments = window_segments
        self.protection = protection
        self._utc_timing_url = utc_timing_url
        self._target_latency_s = target_latency_s
        self.version = 0
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._renditions: list[Rendition] = []
        self._segments: dict[str, dict[int, LiveSegment]] = {}
        self._runs: list[int] = []
        self._base: dict[int, int] = {}
        self._timescales: dict[tuple[str, int], int] = {}
        self._anchors: dict[int, float] = {}
        self._max_part_s = 0.0
        self._ended = False
        self._closing = False
        self._read: dict[tuple[str, int], int] = {}  # (rendition, msn) -> bytes of the encoder's file read
        # cbcs: the encoder writes clear files, the state their encrypted copies (packager.live_cbcs).
        self._cbcs = CbcsCopies(self.folder / CBCS_FOLDER, key, bytes.fromhex(protection.kid)) if cbcs else None  # type: ignore[arg-type, union-attr]

    # --- reading -----------------------------------------------------------------------------------

    @property
    def renditions(self) -> list[Rendition]:
        """The channel's renditions, video first (empty until ffmpeg wrote its MPD)."""
        with self._lock:
            return list(self._renditions)

    @property
    def ended(self) -> bool:
        """Whether :meth:`end` was called: no segment will be added."""
        return self._ended

    @property
    def lock(self) -> threading.RLock:
        """The lock ``refresh()`` holds while it changes the state: hold it to read several things at once."""
        return self._lock

    @property
    def utc_timing_url(self) -> str | None:
        """The http-xsdate clock players sync to: as given, else the one the encoder was told (its MPD's
        ``UTCTiming``); ``None`` before ffmpeg wrote its MPD."""
        return self._utc_timing_url

    @property
    def target_latency_s(self) -> float | None:
        """The latency players should keep: as given, else the encoder's (its MPD's ``Latency@target``)."""
        return self._target_latency_s

    @property
    def runs(self) -> list[int]:
        """The encoder runs seen so far (0 the first), oldest first."""
        with self._lock:
            return list(self._runs)

    def anchor(self, run: int) -> datetime | None:
        """The wall clock at media time 0 of encoder run ``run`` (the PROGRAM-DATE-TIME clock; see the module
        doc), ``None`` before its first chunk was read."""
        with self._lock:
            at = self._anchors.get(run)
        return None if at is None else datetime.fromtimestamp(at, tz=UTC)

    @property
    def part_target_s(self) -> float:
        """PART-TARGET: ``part_s``, or the longest part seen when longer (AAC frames do not divide
        0.5 s: 22 frames of 1024 samples at 44.1 kHz last 0.511 s). Never decreases."""
        with self._lock:
            return round(max(self.part_s, self._max_part_s) + 0.0005, 3)

    def rendition(self, name: str) -> Rendition:
        """The rendition called ``name``; raises ``KeyError`` when there is none."""
        with self._lock:
            for r in self._renditions:
                if r.name == name:
                    return r
        raise KeyError(name)

    def bandwidth(self, rendition: str) -> int:
        """The rendition's bandwidth (bits/s): the MPD's, else the highest of its complete segments."""
        r = self.rendition(rendition)
        if r.bandwidth:
            return r.bandwidth
        rates = [s.size * 8 / s.duration_s for s in self.segments(rendition) if s.complete and s.duration_s]
        return math.ceil(max(rates, default=0))

    def segments(self, rendition: str) -> list[LiveSegment]:
        """All the segments of ``rendition`` still on disk, in msn order (the last may be growing)."""
        with self._lock:
            return list(self._segments.get(rendition, {}).values())

    def segment(self, rendition: str, msn: int) -> LiveSegment | None:
        """Segment ``msn`` of ``rendition``, or ``None`` when there is none (yet, or any more)."""
        with self._lock:
            return self._segments.get(rendition, {}).get(msn)

    def segment_by_uri(self, uri: str) -> LiveSegment | None:
        """The segment whose file name is ``uri`` (in any rendition), or ``None``."""
        with self._lock:
            for segs in self._segments.values():
                for seg in reversed(segs.values()):
                    if seg.uri == uri:
                        return seg
        return None

    def last(self, rendition: str) -> tuple[int, int] | None:
        """(msn, part index) of the last part published in ``rendition``; ``None`` before the first."""
        with self._lock:
            segs = self._segments.get(rendition)
            if not segs:
                return None
            seg = segs[next(reversed(segs))]
            return seg.msn, len(seg.parts) - 1

    def next_uri(self, rendition: str) -> str | None:
        """The file name of the segment after the last one of ``rendition`` in the current run."""
        with self._lock:
            segs = self._segments.get(rendition)
            if not segs or self._ended:
                return None
            last = segs[next(reversed(segs))]
            rep = self.rendition(rendition).rep_id
            run = self._runs[-1]
            return segment_name(rep, run, max(last.msn, self._base[run]) - self._base[run] + 1)

    def path(self, name: str) -> Path | None:
        """Where the file a playlist or the MPD names is now: ``manifest.mpd``, an init segment, or a
        segment (its ``.tmp`` while it grows; a cbcs channel's encrypted copy, and no init segment: those
        are made by ``init_segment``). ``None`` when there is no such file."""
        if "/" in name or name.startswith("."):
            return None
        if self._cbcs is not None:  # the encoder's files are clear: only the copies are the channel's
            copy = self._cbcs.path(name)
            return copy if SEGMENT.fullmatch(name) and copy.is_file() else None
        for candidate in (name, name + TMP) if SEGMENT.fullmatch(name) else (name,):
            p = self.folder / candidate
            if p.is_file():
                return p
        return None

    def init_segment(self, name: str) -> bytes | None:
        """The bytes of init segment ``name`` as players get them: the encoder's file (a cbcs channel's made
        cbcs, ``packager.live_cbcs``), plus the ``pssh`` an encrypted channel's needs
        (``packager.live_crypto``). ``None`` when there is no such file or it is still short."""
        if "/" in name or name.startswith(".") or SEGMENT.fullmatch(name):
            return None
        path = self.folder / name
        if self._cbcs is not None:
            made = self._cbcs.init(path)
            data = made[0] if made is not None else None
        else:
            try:
                data = path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                return None
        if data is None or self.protection is None:
            return data
        try:
            return with_pssh(data, bytes.fromhex(self.protection.kid), where=path)
        except MediaError:
            return None  # ffmpeg writes init segments in place: the rest comes in a moment

    # --- changes -----------------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (no arguments, from the thread that refreshes) after every change;
        returns a function that removes it again."""
        with self._lock:
            self._listeners.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return remove

    @property
    def closing(self) -> bool:
        """Whether :meth:`close_soon` was called: the channel ends within a segment or so."""
        return self._closing

    def close_soon(self) -> None:
        """The channel is about to end: MPDs stop announcing a segment after the growing one (a player that
        fetched it after the end would get 404, fatal once the MPD is static). Call it an MPD update period
        before stopping the encoder, so players have seen it."""
        with self._lock:
            self._closing = True
        self.refresh(force=True)

    def end(self) -> None:
        """The encoder stopped for good: close the growing segments; playlists get ``EXT-X-ENDLIST``."""
        with self._lock:
            self._ended = True
        self.refresh(force=True)

    def refresh(self, *, force: bool = False) -> bool:
        """Read what is new in the folder (new files, new bytes of growing ones, renames, deletions);
        returns whether anything changed (then ``version`` went up and the listeners were called).

        Raises ``MediaError`` naming a segment or the MPD that is malformed.
        """
        with self._lock:
            changed = self._refresh() or force
            if changed:
                self.version += 1
            listeners = list(self._listeners)
        if changed:
            for callback in listeners:
                callback()
        return changed

    def _refresh(self) -> bool:
        try:
            names = {e.name for e in os.scandir(self.folder)}
        except FileNotFoundError:
            return False
        changed = False
        if not self._renditions:
            if MANIFEST not in names:
                return False
            self._load_renditions()
            changed = True  # the master playlist has its variants now
        reps = {r.rep_id for r in self._renditions}
        files: dict[int, dict[str, dict[int, bool]]] = {}
        for name in names:
            m = SEGMENT.fullmatch(name.removesuffix(TMP))
            if m is None or m["rep"] not in reps:
                continue
            numbers = files.setdefault(int(m["run"] or 0), {}).setdefault(m["rep"], {})
            numbers[int(m["n"])] = numbers.get(int(m["n"]), False) or not name.endswith(TMP)
        for run in sorted(files):
            if run in self._base or (self._runs and run < self._runs[-1]):
                continue  # known, or an older run showing up late: its numbers are taken
            if self._runs:
                changed |= self._update_run(self._runs[-1], files.get(self._runs[-1], {}), closing=True)
            self._base[run] = max((max(s, default=0) for s in self._segments.values()), default=0)
            self._runs.append(run)
            changed = True
        if self._runs:
            current = self._runs[-1]
            changed |= self._update_run(current, files.get(current, {}), closing=self._ended)
        changed |= self._forget_deleted(names)
        return changed

    def _load_renditions(self) -> None:
        mpd = read_mpd(self.folder / MANIFEST)
        clock, latency = encoder_settings(self.folder / MANIFEST)
        self._utc_timing_url = self._utc_timing_url or clock
        self._target_latency_s = self._target_latency_s or latency
        found = []
        for aset in mpd.adaptation_sets:
            for rep in aset.representations:
                kind = aset.content_type or rep.mime_type.partition("/")[0]
                if kind not in ("video", "audio"):
                    continue
                size = (rep.width, rep.height) if rep.width and rep.height else None
                found.append(Rendition(f"{kind}-{rep.id}", rep.bandwidth, rep.codecs, size, kind, rep.id))
        found.sort(key=lambda r: r.kind != "video")  # stable: the MPD's order within a kind
        self._renditions = found
        self._segments = {r.name: {} for r in found}

    def _timescale(self, rep_id: str, run: int) -> int | None:
        key = (rep_id, run)
        if key not in self._timescales:
            try:
                self._timescales[key] = cmaf.timescale(self.folder / init_name(rep_id, run))
            except MediaError:
                return None  # not written yet, or still short: the next refresh reads it
        return self._timescales[key]

    def _update_run(self, run: int, files: dict[str, dict[int, bool]], *, closing: bool) -> bool:
        changed = False
        for r in self._renditions:
            numbers = files.get(r.rep_id, {})
            scale = self._timescale(r.rep_id, run)
            if scale is None:
                continue
            for n in sorted(numbers):
                changed |= self._update_segment(r, run, n, numbers[n], closing or n < max(numbers), scale)
        return changed

    def _update_segment(self, r: Rendition, run: int, n: int, final: bool, closing: bool, scale: int) -> bool:
        segs = self._segments[r.name]
        msn = self._base[run] + n
        seg = segs.get(msn)
        if seg is not None and seg.complete:
            return False
        if seg is None and segs and msn < next(reversed(segs)):
            return False  # an old file that was forgotten already
        uri = segment_name(r.rep_id, run, n)
        path = self.folder / (uri if final else uri + TMP)
        try:
            chunks = cmaf.scan(path, offset=self._read.get((r.name, msn), 0), timescale=scale)
        except MediaError:
            if path.exists():
                raise
            return False  # renamed between listing and opening: the next refresh reads the final name
        complete = final or closing
        if not chunks and (seg is None or (seg.complete == complete and seg.source == path)):
            return False
        spans = [(c.offset, c.length) for c in chunks]
        served = path
        if self._cbcs is not None:
            served = self._cbcs.path(uri)
            if chunks:
                try:
                    placed = self._cbcs.append(self.folder / init_name(r.rep_id, run), uri, path, spans)
                except FileNotFoundError:
                    return False  # renamed between the scan and the copy: the next refresh reads the final name
                if placed is None:
                    return False  # its init segment is not whole yet: the next refresh encrypts these
                spans = placed
        if chunks:
            self._read[(r.name, msn)] = chunks[-1].end
        parts = (seg.parts if seg else ()) + tuple(
            Part(uri, offset, length, c.duration_s, c.independent)
            for (offset, length), c in zip(spans, chunks, strict=True)
        )
        self._max_part_s = max([self._max_part_s, *(c.duration_s for c in chunks)])
        if seg is None:
            first_of_run = not any(s.run == run for s in segs.values())
            seg = LiveSegment(
                msn=msn,
                uri=uri,
                duration_s=0.0,
                program_date_time=self._date(run, chunks[0], scale),
                parts=(),
                complete=False,
                discontinuity=first_of_run and run != self._runs[0],
                path=served,
                run=run,
                init_uri=init_name(r.rep_id, run),
                number=n,
                # The presentation time DASH lists: the prft's (the first sample's pts, as PROGRAM-DATE-TIME
                # uses: AAC's starts 1024 priming samples before its tfdt), else the decode time.
                start=chunks[0].decode_time if chunks[0].media_time is None else chunks[0].media_time,
                timescale=scale,
            )
        segs[msn] = dataclasses.replace(
            seg, parts=parts, duration_s=sum(p.duration_s for p in parts), complete=complete, path=served, source=path
        )
        return True

    def _date(self, run: int, chunk: cmaf.Chunk, scale: int) -> datetime:
        media_time = chunk.media_time if chunk.media_time is not None else chunk.decode_time
        if run not in self._anchors:
            if chunk.wallclock_s is not None:
                # ffmpeg stamps a prft with the wall clock when it writes the fragment, i.e. once the
                # fragment's last frame is in, and with the media time of its first sample: media time 0
                # was shot one fragment earlier (measured: dates taken as the prft's alone were 0.46-0.47 s
                # late, parts arrived before their last frame was shot by them).
                anchor = chunk.wallclock_s - media_time / scale - chunk.duration_s
            elif run == self._runs[0] and self.start is not None:
                anchor = self.start.timestamp()
            elif run == self._runs[0]:
                anchor = (self.folder / MANIFEST).stat().st_mtime - media_time / scale
            else:
                anchor = -math.inf
            if run != self._runs[0]:
                # Never before the end of the runs before: dates (and the MPD's Periods) do not go back, even
                # when a run's clock says so (files written faster than real time, a clock stepped back).
                segs = [s for d in self._segments.values() for s in d.values()]
                end = max((s.program_date_time.timestamp() + s.duration_s for s in segs), default=-math.inf)
                anchor = max(anchor, end - media_time / scale)
            self._anchors[run] = anchor
        return datetime.fromtimestamp(self._anchors[run] + media_time / scale, tz=UTC)

    def _forget_deleted(self, names: set[str]) -> bool:
        changed = False
        copies = self._cbcs.names() if self._cbcs is not None else None
        for name, segs in self._segments.items():
            for msn, seg in list(segs.items()):
                gone = seg.uri not in names and seg.uri + TMP not in names
                if copies is not None and seg.complete and (gone or seg.uri not in copies):
                    # cbcs: the encoder deleted its file (the copy goes too) or the supervisor the copy (the
                    # clear file goes too: it is never served).
                    self._cbcs.remove(seg.uri)  # type: ignore[union-attr]
                    seg.source.unlink(missing_ok=True)
                    gone = True
                if seg.complete and gone:
                    del segs[msn]
                    self._read.pop((name, msn), None)
                    changed = True
        return changed
