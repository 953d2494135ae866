"""A published title as a player reads it from the edge: the manifest (HLS master + media playlists,
or the DASH MPD the packager writes), then ``package.json`` for segment sizes and the ``quality.json``
sidecar for per-segment VMAF when the package has them.

Only one video codec is played (``codec``, default the first in the manifest, H.264 when there is a
choice); renditions are sorted by announced bandwidth. Without ``package.json`` a segment's size is
taken as its bandwidth times its duration until its bytes are fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import m3u8

from packager import PACKAGE_RECORD, QUALITY_SIDECAR, Package, QualitySidecar, parse_mpd, parse_package, parse_sidecar
from player.client import EdgeClient, strip_query
from player.errors import BadManifest, FetchFailed
from player.movie import Movie, Rendition
from vodflow.errors import MediaError

__all__ = ["Title", "open_title"]

_R = TypeVar("_R")
_CODEC_PREFIX = {"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "av01": "av1", "vp09": "vp9"}


class Title:
    """What a player knows of a published title: ``movie`` and the absolute URLs it fetches."""

    def __init__(self, url: str, movie: Movie) -> None:
        self.url = url
        self.movie = movie

    def segment_url(self, index: int, quality: int) -> str:
        return self.movie.renditions[quality].segment_urls[index]


def _codec(codecs: str) -> str:
    return _CODEC_PREFIX.get(codecs.split(".")[0].split(",")[0], codecs.split(".")[0])


def open_title(url: str, client: EdgeClient, *, codec: str | None = None) -> Title:
    """Read the title whose manifest is at ``url`` (``.m3u8`` or ``.mpd``, with its ``?token=`` if the
    edge needs one). Raises ``BadManifest`` or ``FetchFailed``."""
    path = strip_query(url)
    text = client.get(url)
    if path.endswith(".mpd"):
        rends, durations = _dash(url, text, client)
    elif path.endswith(".m3u8"):
        rends, durations = _hls(url, text, client)
    else:
        raise BadManifest(f"{path}: not an HLS (.m3u8) or DASH (.mpd) manifest")
    by_codec: dict[str, list[Rendition]] = {}
    for r in rends:
        by_codec.setdefault(_codec(r.codecs), []).append(r)
    if not by_codec:
        raise BadManifest(f"{path}: no video renditions")
    want = codec or ("h264" if "h264" in by_codec else next(iter(by_codec)))
    if want not in by_codec:
        raise BadManifest(f"{path}: no {want} renditions (the manifest has {', '.join(by_codec)})")
    chosen = sorted(by_codec[want], key=lambda r: r.bandwidth)
    counts = {len(r.segment_urls) for r in chosen}
    if len(counts) != 1 or 0 in counts:
        raise BadManifest(f"{path}: renditions have different or no segment counts ({sorted(counts)})")
    n = counts.pop()
    seg = max(durations[: n - 1] or durations)  # the last segment may be short
    sizes = _sizes(url, client, chosen, seg, n)
    vmaf = _vmaf(url, client, chosen, n)
    rates = tuple(float(r.bandwidth) for r in chosen)
    return Title(url, Movie(seg, rates, sizes, vmaf, tuple(chosen), n, tuple(durations[:n])))


def _hls(url: str, text: bytes, client: EdgeClient) -> tuple[list[Rendition], list[float]]:
    try:
        master = m3u8.loads(text.decode(), uri=strip_query(url))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadManifest(f"{strip_query(url)}: not a readable HLS playlist ({e})") from None
    rends, durations = [], []
    seen = set()
    for p in master.playlists:
        info = p.stream_info
        media_url = client.resolve(url, p.uri)
        if media_url in seen:
            continue
        seen.add(media_url)
        try:
            media = m3u8.loads(client.get(media_url).decode(), uri=media_url)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadManifest(f"{media_url}: not a readable media playlist ({e})") from None
        res = info.resolution or (0, 0)
        init = media.segment_map[0].uri if media.segment_map else ""
        rends.append(
            Rendition(
                id=p.uri.rsplit("/", 2)[-2] if "/" in p.uri else p.uri,
                bandwidth=float(info.bandwidth),
                width=res[0],
                height=res[1],
                codecs=(info.codecs or "").split(",")[0],
                init_url=client.resolve(media_url, init) if init else "",
                segment_urls=tuple(client.resolve(media_url, s.uri) for s in media.segments),
            )
        )
        durations = [float(s.duration) for s in media.segments]
    return rends, durations


def _dash(url: str, text: bytes, client: EdgeClient) -> tuple[list[Rendition], list[float]]:
    try:
        mpd = parse_mpd(text, where=strip_query(url))
    except MediaError:
        raise BadManifest(f"{strip_query(url)}: not a readable MPD") from None
    rends, durations = [], []
    for a in mpd.adaptation_sets:
        for r in a.representations:
            if a.content_type != "video" and not r.mime_type.startswith("video"):
                continue
            rends.append(
                Rendition(
                    id=r.id,
                    bandwidth=float(r.bandwidth),
                    width=r.width or 0,
                    height=r.height or 0,
                    codecs=r.codecs,
                    init_url=client.resolve(url, r.initialization or ""),
                    segment_urls=tuple(client.resolve(url, s.url) for s in r.segments),
                )
            )
            durations = [s.duration for s in r.segments]
    return rends, durations


def _optional(url: str, name: str, client: EdgeClient, parse: Callable[..., _R]) -> _R | None:
    """The package's ``name`` record beside the manifest at ``url``, or ``None`` when the edge has none;
    raises ``BadManifest`` when it is there but is not that record."""
    where = client.resolve(url, name)
    try:
        return parse(client.get(where), where=where)
    except FetchFailed:
        return None
    except MediaError as exc:
        raise BadManifest(str(exc)) from None


def _stream_id(r: Rendition) -> str:
    # segment URLs are <root>/video/<stream id>/<n>.m4s in the packager's layout
    return r.segment_urls[0].rsplit("/", 2)[-2] if r.segment_urls else r.id


def _sizes(url, client, rends, seg, n) -> tuple[tuple[float, ...], ...]:
    pkg: Package | None = _optional(url, PACKAGE_RECORD, client, parse_package)
    per_stream = {s.id: [8.0 * x.size for x in s.segments] for s in pkg.streams} if pkg else {}
    cols = []
    for r in rends:
        sizes = per_stream.get(_stream_id(r))
        if sizes is None or len(sizes) != n:
            sizes = [r.bandwidth * seg] * n
        cols.append(sizes)
    return tuple(zip(*cols, strict=True))


def _vmaf(url, client, rends, n) -> tuple[tuple[float, ...], ...] | None:
    side: QualitySidecar | None = _optional(url, QUALITY_SIDECAR, client, parse_sidecar)
    if side is None:
        return None
    cols = []
    for r in rends:
        scores = side.streams.get(_stream_id(r))
        if scores is None or len(scores) != n:
            return None
        cols.append([float(x) for x in scores])
    return tuple(zip(*cols, strict=True))
