"""LL-HLS (RFC 8216bis) and plain HLS playlists of a live channel, built on its CMAF chunks.

:class:`ChannelState` is the live state of a channel folder (:mod:`packager.live_state`: segments,
parts, media sequence numbers, dates) plus its playlists, built with the ``m3u8`` library's model
(``M3U8``, ``Segment`` with ``PartialSegment``s, ``PreloadHint``, ``ServerControl``, ``PartInformation``,
``RenditionReport``, ``Playlist``, ``Media``) and dumped:

- ``<rendition>.m3u8`` (``low_latency=True``): ``EXT-X-VERSION:9``, ``EXT-X-TARGETDURATION``,
  ``EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=<3 x PART-TARGET>``, ``EXT-X-PART-INF``,
  the last ``window_segments`` whole segments each with ``EXT-X-PROGRAM-DATE-TIME`` (and ``EXT-X-MAP``,
  ``EXT-X-DISCONTINUITY`` after an encoder restart, ``EXT-X-GAP`` for a segment a rendition lacks),
  ``EXT-X-PART`` byte ranges of the segment file for the segments of the last three target durations
  and for the growing one, ``EXT-X-PRELOAD-HINT:TYPE=PART`` for the next part, an
  ``EXT-X-RENDITION-REPORT`` per other rendition, ``EXT-X-ENDLIST`` once ended;
- ``<rendition>-plain.m3u8`` (``low_latency=False``): the same whole segments without any LL tag;
- ``master.m3u8``: one variant per video rendition (audio in an ``EXT-X-MEDIA`` group), codecs,
  bandwidths and sizes as ffmpeg's MPD states them (read with :func:`packager.mpd.read_mpd`, which
  reads a dynamic MPD as well; a zero bandwidth is replaced by the highest measured segment bitrate).
"""

from __future__ import annotations

import math

import m3u8

from packager.live_dash import MpdForm, live_mpd
from packager.live_records import (
    LIVE_LICENSE,
    LiveProtection,
    LiveSegment,
    Part,
    Rendition,
    run_file_names,
    segment_name,
)
from packager.live_state import LiveState

__all__ = ["ChannelState", "LiveSegment", "Part", "Rendition", "hls_keys", "playlist_name", "run_file_names"]

# Parts stay listed for the segments of the last three target durations (RFC 8216bis 4.4.3.8
# lets a server drop them after that; players at the live edge need no more).
_PART_TARGETS_KEPT = 3
_AUDIO_GROUP = "audio"
# Tags of a media playlist's head: an EXT-X-KEY goes after them, before the first segment's tags.
_HEAD = ("#EXTM3U", "#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE",
         "#EXT-X-DISCONTINUITY-SEQUENCE", "#EXT-X-SERVER-CONTROL", "#EXT-X-PART-INF",
         "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-PLAYLIST-TYPE", "#EXT-X-ALLOW-CACHE")  # fmt: skip


def hls_keys(protection: LiveProtection, *, tag: str = "EXT-X-KEY") -> list[str]:
    """The key lines of an encrypted channel's playlists (``tag``: ``EXT-X-KEY``, or ``EXT-X-SESSION-KEY``
    for the multivariant playlist, which gets only the ClearKey one).

    ``METHOD=SAMPLE-AES-CTR`` (cenc) or ``SAMPLE-AES`` (cbcs), twice, because no KEYFORMAT serves both
    players: ``identity`` with the 16 key bytes at ``URI`` (``key/<kid>``), which Shaka reads (the key ID
    from the init segment's ``tenc``) and hls.js ignores for fMP4; ``org.w3.clearkey`` with ``KEYID``, which
    hls.js sends to the licence server its ``drmSystems`` config names (``URI`` only keys its session) and
    Shaka ignores."""
    method = "SAMPLE-AES-CTR" if protection.scheme == "cenc" else "SAMPLE-AES"
    clearkey = (
        f'#{tag}:METHOD={method},URI="{LIVE_LICENSE}",KEYID=0x{protection.kid},'
        'KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"'
    )
    if tag != "EXT-X-KEY":
        return [clearkey]
    return [f'#{tag}:METHOD={method},URI="{protection.key_uri}",KEYFORMAT="identity"', clearkey]


def _with_lines(text: str, lines: list[str]) -> str:
    """``text`` (a dumped playlist) with ``lines`` after its head tags."""
    rows = text.splitlines()
    at = next((i for i, row in enumerate(rows) if not row.startswith(_HEAD)), len(rows))
    return "\n".join(rows[:at] + lines + rows[at:]) + "\n"


def playlist_name(rendition: str, *, low_latency: bool = True) -> str:
    """The file name of a rendition's media playlist: ``<name>.m3u8`` (LL) or ``<name>-plain.m3u8``."""
    return f"{rendition}.m3u8" if low_latency else f"{rendition}-plain.m3u8"


def _duration(seconds: float) -> float:
    return round(seconds, 5)


class ChannelState(LiveState):
    """A channel folder's live state and its HLS playlists (see :class:`packager.live_state.LiveState`
    for the folder, ``refresh()``, ``last()``, ``segment()``, ``version`` and ``add_listener()``)."""

    @property
    def target_duration(self) -> int:
        """EXT-X-TARGETDURATION: ``segment_s`` rounded up, or more if a segment rounds higher."""
        with self._lock:
            longest = max((s.duration_s for d in self._segments.values() for s in d.values()), default=0.0)
        return max(math.ceil(self.segment_s - 1e-6), round(longest), 1)

    def media_playlist(self, rendition: str, *, low_latency: bool = True) -> str:
        """The media playlist of ``rendition`` now, as text (LL-HLS, or plain HLS without parts).

        Raises ``KeyError`` for an unknown rendition.
        """
        with self._lock:
            r = self.rendition(rendition)
            segs = self.segments(rendition)
            target = self.target_duration
            part_target = self.part_target_s
            whole = [s for s in segs if s.complete]
            growing = segs[-1] if segs and not segs[-1].complete and low_latency else None
            n = self.window_segments
            first = whole[-n].msn if len(whole) >= n else (segs[0].msn if segs else 1)
            listed = [s for s in whole if s.msn >= first] + ([growing] if growing else [])
            restarts = self._restart_msns()

            pl = m3u8.M3U8()
            pl.version = 9 if low_latency else 6
            pl.target_duration = target
            pl.media_sequence = first
            pl.discontinuity_sequence = sum(1 for m in restarts if m < first)
            if self.ended:
                pl.is_endlist = True
            if low_latency:
                pl.server_control = m3u8.ServerControl(
                    can_block_reload="YES", part_hold_back=_duration(_PART_TARGETS_KEPT * part_target)
                )
                pl.part_inf = m3u8.PartInformation(part_target=part_target)
            with_parts = self._with_parts(listed, target) if low_latency else set()
            previous: LiveSegment | None = None
            for seg in listed:
                for missing in range(previous.msn + 1 if previous else seg.msn, seg.msn):
                    pl.add_segment(self._gap(r, missing, missing in restarts, previous or seg))
                pl.add_segment(self._segment(seg, seg.msn in with_parts, seg.msn in restarts))
                previous = seg
            if low_latency and not self.ended:
                pl.preload_hint = self._preload_hint(rendition, segs)
                for other in self._renditions:
                    if other.name != rendition and (last := self.last(other.name)) is not None:
                        msn, part = last
                        report = m3u8.RenditionReport(None, playlist_name(other.name), msn, max(part, 0))
                        pl.add_rendition_report(report)
            text = pl.dumps()
        return _with_lines(text, hls_keys(self.protection)) if self.protection else text

    def master_playlist(self, *, low_latency: bool = True) -> str:
        """The multivariant playlist, as text: a variant per video rendition, the audio as a group.

        Empty of variants until ffmpeg wrote its MPD (see ``renditions``).
        """
        with self._lock:
            video = [r for r in self._renditions if r.kind == "video"]
            audio = [r for r in self._renditions if r.kind == "audio"]
            pl = m3u8.M3U8()
            pl.version = 6
            pl.is_independent_segments = True
            media = []
            for i, a in enumerate(audio):
                default = "YES" if i == 0 else "NO"
                media.append(
                    m3u8.Media(
                        uri=playlist_name(a.name, low_latency=low_latency),
                        type="AUDIO",
                        group_id=_AUDIO_GROUP,
                        name=a.name,
                        default=default,
                        autoselect="YES",
                    )
                )
                pl.add_media(media[-1])
            audio_bw = max((self.bandwidth(a.name) for a in audio), default=0)
            audio_codecs = audio[0].codecs if audio else ""
            for v in video or audio:
                info: dict[str, object] = {
                    "bandwidth": self.bandwidth(v.name) + (audio_bw if v.kind == "video" else 0),
                    "codecs": ",".join(c for c in (v.codecs, audio_codecs if v.kind == "video" else "") if c),
                }
                if v.resolution:
                    info["resolution"] = f"{v.resolution[0]}x{v.resolution[1]}"
                if audio and v.kind == "video":
                    info["audio"] = _AUDIO_GROUP
                uri = playlist_name(v.name, low_latency=low_latency)
                pl.add_playlist(m3u8.Playlist(uri, info, media, None))
            pl.is_variant = True
            text = pl.dumps()
        if self.protection:
            return _with_lines(text, hls_keys(self.protection, tag="EXT-X-SESSION-KEY"))
        return text

    def mpd(self, form: MpdForm = "timeline", *, licence_url: str | None = None) -> str | None:
        """The channel's own MPD now (``packager.live_dash``: ``timeline`` or ``number`` form), ``None`` while
        there is nothing to list; ``licence_url`` (absolute) is named in an encrypted channel's ClearKey
        ContentProtection."""
        return live_mpd(self, form=form, licence_url=licence_url)

    # --- pieces ------------------------------------------------------------------------------------

    def _restart_msns(self) -> set[int]:
        # The first msn of every encoder run after the first: where EXT-X-DISCONTINUITY goes.
        return {self._base[run] + 1 for run in self._runs[1:]}

    def _with_parts(self, listed: list[LiveSegment], target: int) -> set[int]:
        keep, after = set(), 0.0
        for seg in reversed(listed):
            if after >= _PART_TARGETS_KEPT * target:
                break
            keep.add(seg.msn)
            after += seg.duration_s
        return keep

    @staticmethod
    def _segment(seg: LiveSegment, parts: bool, discontinuity: bool) -> m3u8.Segment:
        out = m3u8.Segment(
            uri=seg.uri if seg.complete else None,
            duration=_duration(seg.duration_s),
            program_date_time=seg.program_date_time,
            discontinuity=discontinuity,
            init_section={"uri": seg.init_uri},
        )
        if parts:
            for p in seg.parts:
                out.add_part(_part(p))
        return out

    def _gap(self, r: Rendition, msn: int, discontinuity: bool, near: LiveSegment) -> m3u8.Segment:
        # A msn this rendition has no segment for (it had fewer than another before a restart): the
        # slot is kept so msns stay aligned, and players are told not to load it.
        run = max(k for k in self._runs if self._base[k] < msn)
        return m3u8.Segment(
            uri=segment_name(r.rep_id, run, msn - self._base[run]),
            duration=_duration(self.segment_s),
            discontinuity=discontinuity,
            init_section={"uri": near.init_uri},
            gap_tag=True,
        )

    def _preload_hint(self, rendition: str, segs: list[LiveSegment]) -> m3u8.PreloadHint | None:
        # The next part is the rest of the growing segment, or the start of the next one.
        if segs and not segs[-1].complete:
            return m3u8.PreloadHint("PART", None, segs[-1].uri, byterange_start=segs[-1].size)
        uri = self.next_uri(rendition)
        return m3u8.PreloadHint("PART", None, uri, byterange_start=0) if uri else None


def _part(p: Part) -> m3u8.PartialSegment:
    return m3u8.PartialSegment(
        None,
        p.uri,
        _duration(p.duration_s),
        byterange=f'"{p.byterange}"',  # a quoted-string in EXT-X-PART (m3u8 writes it as given)
        independent="YES" if p.independent else None,
    )
