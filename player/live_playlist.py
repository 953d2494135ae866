"""A live HLS playlist as a player reads it (RFC 8216bis), parsed with the ``m3u8`` library.

``read_master`` gives the variants of a multivariant playlist (or ``None`` when the URL is a media
playlist itself); ``read_media`` a ``MediaPlaylist``: its window of ``ListedSegment``s, each with its
media sequence number, program date time (the one written, else carried on from the segment before, as
the spec says dates run on), init segment and ``ListedPart``s (a byte range of the segment file, or a
URI of its own), plus what ``EXT-X-SERVER-CONTROL`` and ``EXT-X-PART-INF`` say.

The segment still being written has parts and no URI yet; a segment marked ``EXT-X-GAP`` is kept (it
holds a media sequence number) and never fetched. Times are POSIX seconds (the program date time's).
"""

from __future__ import annotations

from dataclasses import dataclass

import m3u8

from player.client import EdgeClient, strip_query
from player.errors import BadManifest

__all__ = ["ListedPart", "ListedSegment", "MediaPlaylist", "Variant", "read_master", "read_media"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One ``EXT-X-STREAM-INF``: its media playlist's absolute URL and what the master announces."""

    url: str
    name: str
    bandwidth: float
    resolution: tuple[int, int] | None
    codecs: str


@dataclass(frozen=True, slots=True)
class ListedPart:
    """An ``EXT-X-PART``: ``url`` (absolute), ``byte_range`` (inclusive first, last byte) or None for all
    of it, the media instant it starts at (``start``) and its duration."""

    index: int
    url: str
    byte_range: tuple[int, int] | None
    start: float
    duration: float
    independent: bool


@dataclass(frozen=True, slots=True)
class ListedSegment:
    """A media segment of the window; ``url`` is None while it is being written (``complete`` False)."""

    msn: int
    url: str | None
    start: float
    duration: float
    init_url: str | None
    parts: tuple[ListedPart, ...]
    gap: bool
    discontinuity: bool

    @property
    def complete(self) -> bool:
        return self.url is not None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class MediaPlaylist:
    """A media playlist now: its window, what the server offers (blocking reload, hold backs) and whether
    the stream has ended. ``part_target`` is None for a playlist without parts (plain HLS)."""

    url: str
    media_sequence: int
    target_duration: float
    segments: tuple[ListedSegment, ...]
    ended: bool
    can_block_reload: bool
    part_target: float | None
    part_hold_back: float | None
    hold_back: float | None

    @property
    def last_msn(self) -> int:
        return self.segments[-1].msn if self.segments else self.media_sequence - 1

    @property
    def edge(self) -> float:
        """The media instant the newest listed media ends at (a part of the growing segment included)."""
        if not self.segments:
            return 0.0
        last = self.segments[-1]
        return last.end if last.complete else last.start + sum(p.duration for p in last.parts)

    def segment(self, msn: int) -> ListedSegment | None:
        i = msn - self.media_sequence
        return self.segments[i] if 0 <= i < len(self.segments) else None

    def part(self, msn: int, index: int) -> ListedPart | None:
        seg = self.segment(msn)
        return seg.parts[index] if seg is not None and index < len(seg.parts) else None


def _parse(url: str, body: bytes) -> m3u8.M3U8:
    try:
        text = body.decode()
        if not text.lstrip().startswith("#EXTM3U"):
            raise ValueError("no #EXTM3U")
        return m3u8.loads(text, uri=strip_query(url))
    except (ValueError, UnicodeDecodeError, AttributeError) as e:
        raise BadManifest(f"{strip_query(url)}: not a readable HLS playlist ({e})") from None


def read_master(url: str, body: bytes, client: EdgeClient) -> list[Variant] | None:
    """The variants of the multivariant playlist ``body`` (sorted by bandwidth), None when ``body`` is a
    media playlist. Raises ``BadManifest``."""
    pl = _parse(url, body)
    if not pl.is_variant:
        return None
    out = {}
    for p in pl.playlists:
        info = p.stream_info
        codecs = (info.codecs or "").split(",")[0]
        name = p.uri.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        out[p.uri] = Variant(client.resolve(url, p.uri), name, float(info.bandwidth or 0), info.resolution, codecs)
    if not out:
        raise BadManifest(f"{strip_query(url)}: a multivariant playlist without variants")
    return sorted(out.values(), key=lambda v: v.bandwidth)


def _byte_range(spec: str | None, previous_end: int | None) -> tuple[int, int] | None:
    """``length[@offset]`` (quoted in EXT-X-PART) as an inclusive range; without an offset the part
    follows the previous part of the same resource."""
    if not spec:
        return None
    length, _, offset = spec.strip('"').partition("@")
    first = int(offset) if offset else (previous_end or 0)
    return first, first + int(length) - 1


def read_media(url: str, body: bytes, client: EdgeClient) -> MediaPlaylist:
    """The media playlist ``body`` fetched from ``url``. Raises ``BadManifest`` when it is not one, or when
    it gives no program date time (a live player measures latency by it)."""
    pl = _parse(url, body)
    where = strip_query(url)
    if pl.is_variant:
        raise BadManifest(f"{where}: a multivariant playlist where a media playlist was expected")
    segments: list[ListedSegment] = []
    date: float | None = None
    init: str | None = None
    try:
        for i, s in enumerate(pl.segments):
            if s.program_date_time is not None:
                date = s.program_date_time.timestamp()
            elif i == 0 and pl.program_date_time is not None:
                # the m3u8 library gives a segment still being written no date of its own, but keeps the
                # playlist's first one
                date = pl.program_date_time.timestamp()
            if date is None:
                raise BadManifest(f"{where}: no EXT-X-PROGRAM-DATE-TIME: latency cannot be measured")
            if s.init_section is not None and s.init_section.uri:
                init = client.resolve(url, s.init_section.uri)
            parts, start, ends = [], date, {}
            for k, p in enumerate(s.parts):
                part_url = client.resolve(url, p.uri)
                rng = _byte_range(p.byterange, ends.get(part_url))
                if rng is not None:
                    ends[part_url] = rng[1] + 1
                parts.append(ListedPart(k, part_url, rng, start, float(p.duration), p.independent == "YES"))
                start += float(p.duration)
            duration = float(s.duration) if s.uri else start - date
            segments.append(
                ListedSegment(
                    msn=pl.media_sequence + i,
                    url=client.resolve(url, s.uri) if s.uri else None,
                    start=date,
                    duration=duration,
                    init_url=init,
                    parts=tuple(parts),
                    gap=bool(getattr(s, "gap_tag", None)),
                    discontinuity=bool(s.discontinuity),
                )
            )
            date += duration
    except (TypeError, ValueError) as e:
        raise BadManifest(f"{where}: a malformed segment or part ({e})") from None
    control = pl.server_control
    return MediaPlaylist(
        url=url,
        media_sequence=int(pl.media_sequence or 0),
        target_duration=float(pl.target_duration or 0),
        segments=tuple(segments),
        ended=bool(pl.is_endlist),
        can_block_reload=bool(control and control.can_block_reload == "YES"),
        part_target=float(pl.part_inf.part_target) if pl.part_inf and pl.part_inf.part_target else None,
        part_hold_back=float(control.part_hold_back) if control and control.part_hold_back else None,
        hold_back=float(control.hold_back) if control and control.hold_back else None,
    )
