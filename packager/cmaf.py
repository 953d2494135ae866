"""An incremental ISO-BMFF reader for CMAF segment files that are still being written.

ffmpeg's dash muxer (``-ldash 1 -streaming 1``) appends one chunk to a segment file every fragment
duration: ``styp`` (first chunk only), ``prft``, ``moof`` (``mfhd``, ``traf``: ``tfhd``, ``tfdt``,
``trun``), ``mdat``. :func:`scan` finds the chunks that are wholly on disk from a byte offset on, so a
caller can remember where it stopped and read only the new bytes next time. Only box headers and the
``moof`` are read; ``mdat`` payloads are skipped with a seek.

Why not a library: what is needed is a few fixed box layouts (ISO/IEC 14496-12 8.8), and reading a file
that grows under us, which the MP4 libraries (pymp4, construct-based) do not do.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vodflow.errors import MediaError

__all__ = ["Chunk", "scan", "timescale"]

# Seconds from the NTP epoch (1900) to the Unix epoch (1970).
_NTP_UNIX = 2_208_988_800


@dataclass(frozen=True, slots=True)
class Chunk:
    """One complete CMAF chunk of a segment file: ``length`` bytes from ``offset``.

    ``decode_time`` is the ``tfdt`` base media decode time (track timescale); ``duration_s`` the sum of
    its sample durations; ``independent`` whether its first sample is a sync sample. When a ``prft``
    precedes the ``moof``, ``wallclock_s`` (Unix seconds) is the producer's wall clock at
    ``media_time`` (the presentation time it names, track timescale); otherwise both are ``None``.
    """

    offset: int
    length: int
    decode_time: int
    duration_s: float
    independent: bool
    wallclock_s: float | None = None
    media_time: int | None = None

    @property
    def end(self) -> int:
        """The offset of the byte after the chunk (where the next one starts)."""
        return self.offset + self.length


def _header(fh: BinaryIO, offset: int, size: int) -> tuple[bytes, int, int] | None:
    """The box at ``offset``: (type, header length, box length), or ``None`` when not all on disk."""
    if offset + 8 > size:
        return None
    fh.seek(offset)
    length, kind = struct.unpack(">I4s", fh.read(8))
    head = 8
    if length == 1:
        if offset + 16 > size:
            return None
        (length,) = struct.unpack(">Q", fh.read(8))
        head = 16
    elif length == 0:
        # "to the end of the file": a file still growing has no end yet.
        return None
    if length < head or offset + length > size:
        return None
    return kind, head, length


def _children(data: bytes, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    """The first box of each type between ``start`` and ``end`` of ``data``: type -> (body start, end)."""
    found: dict[bytes, tuple[int, int]] = {}
    off = start
    while off + 8 <= end:
        length, kind = struct.unpack_from(">I4s", data, off)
        head = 8
        if length == 1:
            (length,) = struct.unpack_from(">Q", data, off + 8)
            head = 16
        if length < head or off + length > end:
            raise ValueError(f"box {kind!r} at {off} overruns its parent")
        found.setdefault(kind, (off + head, off + length))
        off += length
    return found


def _independent(flags: int) -> bool:
    # ISO/IEC 14496-12 8.8.3.1: sample_depends_on == 2 means "does not depend on others" (an I frame);
    # otherwise a sample is a sync sample when the sample_is_non_sync_sample bit is clear and it does
    # not declare a dependency.
    depends_on = (flags >> 24) & 0x3
    non_sync = (flags >> 16) & 0x1
    return depends_on == 2 or (depends_on != 1 and not non_sync)


def _moof(data: bytes, scale: int) -> tuple[int, float, bool]:
    """(decode time, duration in seconds, independent) of the first track fragment of a ``moof`` body."""
    traf = _children(data, 0, len(data)).get(b"traf")
    if traf is None:
        raise ValueError("moof without traf")
    boxes = _children(data, *traf)
    if b"tfhd" not in boxes or b"trun" not in boxes:
        raise ValueError("traf without tfhd or trun")
    pos, _ = boxes[b"tfhd"]
    (tf_flags,) = struct.unpack_from(">I", data, pos)
    pos += 8  # version+flags, track_ID
    default_duration = default_flags = None
    if tf_flags & 0x01:
        pos += 8  # base_data_offset
    if tf_flags & 0x02:
        pos += 4  # sample_description_index
    if tf_flags & 0x08:
        (default_duration,) = struct.unpack_from(">I", data, pos)
        pos += 4
    if tf_flags & 0x10:
        pos += 4  # default_sample_size
    if tf_flags & 0x20:
        (default_flags,) = struct.unpack_from(">I", data, pos)

    decode_time = 0
    if b"tfdt" in boxes:
        pos, _ = boxes[b"tfdt"]
        version = data[pos]
        fmt = ">Q" if version == 1 else ">I"
        (decode_time,) = struct.unpack_from(fmt, data, pos + 4)

    pos, _ = boxes[b"trun"]
    (tr_flags,) = struct.unpack_from(">I", data, pos)
    (count,) = struct.unpack_from(">I", data, pos + 4)
    pos += 8
    if tr_flags & 0x01:
        pos += 4  # data_offset
    first_flags = None
    if tr_flags & 0x04:
        (first_flags,) = struct.unpack_from(">I", data, pos)
        pos += 4
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tr_flags & bit]
    total = 0
    sample_flags = []
    for i in range(count):
        row = struct.unpack_from(f">{len(fields)}I", data, pos + 4 * len(fields) * i)
        values = dict(zip(fields, row, strict=True))
        duration = values.get(0x100, default_duration)
        if duration is None:
            raise ValueError("no sample duration (neither trun nor tfhd carries one)")
        total += duration
        if i == 0 and 0x400 in values:
            sample_flags.append(values[0x400])
    flags = first_flags if first_flags is not None else (sample_flags[0] if sample_flags else default_flags)
    # Without any flags the fragment says nothing about dependencies: CMAF audio has none.
    independent = True if flags is None else _independent(flags)
    return decode_time, total / scale, independent


def _prft(data: bytes) -> tuple[float, int]:
    """(Unix seconds, media time) of a ``prft`` body (ISO/IEC 14496-12 8.16.5)."""
    version = data[0]
    (ntp,) = struct.unpack_from(">Q", data, 8)
    # Unsigned in the spec, but ffmpeg writes the pts, which is negative (-1024) for AAC's priming
    # samples: read it signed.
    fmt = ">q" if version == 1 else ">i"
    (media_time,) = struct.unpack_from(fmt, data, 16)
    return (ntp >> 32) - _NTP_UNIX + (ntp & 0xFFFFFFFF) / 2**32, media_time


def scan(path: str | os.PathLike[str], *, offset: int = 0, timescale: int) -> list[Chunk]:
    """The complete chunks of the segment file at ``path`` from ``offset`` on (a chunk boundary: 0 or
    the ``end`` of a chunk found before), in file order; ``timescale`` is the track's (see
    :func:`timescale`). A chunk is every box from ``offset`` up to and including an ``mdat`` that is
    wholly on disk (so the first chunk of a segment holds its ``styp``); bytes after the last complete
    chunk (a box still being written) are left for the next call.

    Raises ``MediaError`` naming the file when it cannot be read or a box is malformed.
    """
    path = Path(path)
    chunks: list[Chunk] = []
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = off = offset
            moof: tuple[int, float, bool] | None = None
            prft: tuple[float, int] | None = None
            while (box := _header(fh, off, size)) is not None:
                kind, head, length = box
                if kind == b"moof":
                    fh.seek(off + head)
                    moof = _moof(fh.read(length - head), timescale)
                elif kind == b"prft":
                    fh.seek(off + head)
                    prft = _prft(fh.read(length - head))
                elif kind == b"mdat":
                    if moof is None:
                        raise ValueError(f"mdat at {off} without a moof before it")
                    decode_time, duration, independent = moof
                    wallclock, media_time = prft if prft is not None else (None, None)
                    end = off + length
                    chunks.append(Chunk(start, end - start, decode_time, duration, independent, wallclock, media_time))
                    start, moof, prft = end, None, None
                off += length
    except OSError as exc:
        raise MediaError(path, f"cannot read the segment ({exc.strerror or exc})") from None
    except (ValueError, struct.error) as exc:
        raise MediaError(path, f"not a CMAF segment ({exc})") from None
    return chunks


def timescale(init_path: str | os.PathLike[str]) -> int:
    """The timescale of the (first) track in the init segment at ``init_path``, from its ``mdhd``.

    Raises ``MediaError`` naming the file when it is missing, still incomplete or has no ``mdhd``.
    """
    path = Path(init_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(path, f"cannot read the init segment ({exc.strerror or exc})") from None
    try:
        span = (0, len(data))
        for kind in (b"moov", b"trak", b"mdia", b"mdhd"):
            found = _children(data, *span).get(kind)
            if found is None:
                raise ValueError(f"no {kind.decode()} box")
            span = found
        pos = span[0]
        version = data[pos]
        (scale,) = struct.unpack_from(">I", data, pos + (20 if version == 1 else 12))
    except (ValueError, struct.error) as exc:
        raise MediaError(path, f"not a CMAF init segment ({exc})") from None
    if scale <= 0:
        raise MediaError(path, "not a CMAF init segment (mdhd timescale is 0)")
    return scale
