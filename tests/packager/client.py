"""FFmpeg as a client: decode a packaged stream to the end and judge it against its rendition file.

ffmpeg exits 0 while decoding garbage (a wrong key gives noise, not an error, for HEVC), so a stream
plays correctly only when there are no error lines, every frame comes out, and every frame is bit for
bit the frame the rendition file itself decodes to (packaging and encryption are lossless).
"""

from __future__ import annotations

import functools
from pathlib import Path

from packager.model import Package, Stream
from pipeline.streams import Decoded, concat_url, decode


@functools.cache
def reference(path: str, codec: str) -> Decoded:
    return decode(path, codec=codec)


def via_segments(pkg: Package, s: Stream, key: str | None = None) -> Decoded:
    """The DASH view: init segment + media segments as one fMP4, keys handed to the MP4 demuxer."""
    root = Path(pkg.root)
    return decode(concat_url([root / s.init, *(root / g.path for g in s.segments)]), codec=s.codec, key=key)


def via_hls(base_url: str, s: Stream) -> Decoded:
    """The HLS view over HTTP: ffmpeg's HLS demuxer fetches playlist, segments and key from the server."""
    return decode(f"{base_url}/{s.playlist}", codec=s.codec)


def problems(got: Decoded, s: Stream) -> list[str]:
    """Why ``got`` is not a correct playback of ``s`` (empty when it is)."""
    ref = reference(s.source, s.codec)
    out = [f"decoder error: {e}" for e in got.errors[:3]]
    if got.frames != ref.frames:
        out.append(f"{got.frames} frames decoded, {ref.frames} expected")
    bad = sum(a != b for a, b in zip(got.md5s, ref.md5s, strict=False))
    if bad:
        out.append(f"{bad} frames differ from the rendition's own")
    return out
