"""cbcs for live channels: ffmpeg's mp4 muxer encrypts only with cenc (AES-CTR), so a cbcs channel's encoder
writes clear CMAF and the channel state encrypts each chunk as it lands (one chunk of work per part: the
latency cost is the few milliseconds it takes, never a part).

ISO/IEC 23001-7 ``cbcs``: AES-128-CBC with a constant 16-byte IV (``tenc``'s ``default_constant_IV``, reset
at the start of every subsample's protected bytes), and

- video (H.264): pattern encryption, 1 block of 16 bytes encrypted then 9 left clear, over the protected
  part of each slice NAL unit; its first 32 bytes (with the length prefix: the NAL header and the slice
  header, as Apple's SAMPLE-AES leaves them) and every other NAL unit stay clear, as subsamples in a
  ``senc`` (with ``saiz``/``saio`` pointing at it) in each ``traf``;
- audio (AAC): every whole 16-byte block of each sample encrypted (no pattern, no subsamples, so no
  ``senc``: the constant IV is all a sample needs); the tail shorter than a block stays clear.

:func:`encrypt_init` turns an init segment's ``avc1``/``mp4a`` sample entry into ``encv``/``enca`` with a
``sinf`` (``frma``, ``schm`` cbcs, ``schi``/``tenc`` v1 with the key ID, the pattern and the IV);
:func:`encrypt_chunk` one chunk (``[styp] [prft] moof mdat``) of a segment. A chunk grows by the boxes
added to its ``moof`` (``trun``'s data offset moves with them); ``mdat`` keeps its size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vodflow.errors import MediaError

__all__ = ["CbcsCopies", "CbcsTrack", "encrypt_chunk", "encrypt_init"]

_BLOCK = 16
_VIDEO_PATTERN = (1, 9)  # crypt, skip: the pattern every cbcs player expects for video
_AUDIO_PATTERN = (0, 0)  # no pattern: every block
_CLEAR_SLICE_BYTES = 32  # of a slice NAL unit, counted from its header
_VCL = {1, 5}  # H.264 coded slices (non-IDR, IDR)
_PATH = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")


@dataclass(frozen=True, slots=True)
class CbcsTrack:
    """What encrypting one track's chunks takes: ``key`` and constant ``iv`` (16 bytes each), and from its
    init segment whether it is video and its NAL length size (``encrypt_init`` returns it)."""

    key: bytes
    iv: bytes
    video: bool
    nal_length_size: int = 4


def _boxes(data: bytes | bytearray, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """The boxes between ``start`` and ``end``: (type, box start, body start, box end). Raises ``ValueError``."""
    out, off = [], start
    while off + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, off)
        head = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, off + 8)
            head = 16
        if size < head or off + size > end:
            raise ValueError(f"box {kind!r} at {off} overruns its parent")
        out.append((kind, off, off + head, off + size))
        off += size
    return out


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + body)


def _find(data: bytes, kind: bytes, start: int, end: int) -> tuple[bytes, int, int, int]:
    for box in _boxes(data, start, end):
        if box[0] == kind:
            return box
    raise ValueError(f"no {kind.decode()} box")


def _sinf(fourcc: bytes, kid: bytes, iv: bytes, pattern: tuple[int, int]) -> bytes:
    crypt, skip = pattern
    tenc = _full(b"tenc", 1, 0, bytes([0, (crypt << 4) | skip, 1, 0]) + kid + bytes([len(iv)]) + iv)
    return _box(
        b"sinf",
        _box(b"frma", fourcc) + _full(b"schm", 0, 0, b"cbcs" + struct.pack(">I", 0x10000)) + _box(b"schi", tenc),
    )


def encrypt_init(init: bytes, key: bytes, kid: bytes, iv: bytes) -> tuple[bytes, CbcsTrack]:
    """``init`` (a one-track CMAF init segment, ``avc1`` or ``mp4a``) as a cbcs one, and the track's
    ``CbcsTrack``. Raises ``ValueError`` for anything else (another codec, a box that overruns: a file still
    being written)."""
    spans = [_find(init, _PATH[0], 0, len(init))]
    for kind in _PATH[1:]:
        spans.append(_find(init, kind, spans[-1][2], spans[-1][3]))
    stsd = spans[-1]
    entry = _boxes(init, stsd[2] + 8, stsd[3])[0]  # after version/flags and entry_count
    fourcc, e_start, e_body, e_end = entry
    if fourcc == b"avc1":
        children = _boxes(init, e_body + 78, e_end)  # VisualSampleEntry: 78 bytes before its boxes
        avcc = next((c for c in children if c[0] == b"avcC"), None)
        if avcc is None:
            raise ValueError("avc1 without avcC")
        track = CbcsTrack(key, iv, True, (init[avcc[2] + 4] & 0x3) + 1)
        new_fourcc, pattern = b"encv", _VIDEO_PATTERN
    elif fourcc == b"mp4a":
        track = CbcsTrack(key, iv, False)
        new_fourcc, pattern = b"enca", _AUDIO_PATTERN
    else:
        raise ValueError(f"cbcs of {fourcc.decode('latin-1')!r} tracks is not supported (avc1 and mp4a are)")
    sinf = _sinf(fourcc, kid, iv, pattern)
    grown = len(sinf)
    out = bytearray(init[:e_end] + sinf + init[e_end:])
    out[e_start + 4 : e_start + 8] = new_fourcc
    for _, start, _, _ in [*spans, entry]:  # every box around the entry, and the entry: longer by the sinf
        (size,) = struct.unpack_from(">I", out, start)
        struct.pack_into(">I", out, start, size + grown)
    return bytes(out), track


def _pattern_encrypt(buf: bytearray, start: int, end: int, track: CbcsTrack) -> None:
    """Encrypt ``buf[start:end]`` in place: the whole blocks the track's pattern selects, chained, from the IV."""
    blocks = (end - start) // _BLOCK
    if not track.video:  # every block: one CBC run over them all
        stop = start + blocks * _BLOCK
        buf[start:stop] = (
            Cipher(algorithms.AES(track.key), modes.CBC(track.iv)).encryptor().update(bytes(buf[start:stop]))
        )
        return
    crypt, skip = _VIDEO_PATTERN
    chosen = [start + i * _BLOCK for i in range(0, blocks, crypt + skip)]
    if not chosen:
        return
    clear = b"".join(bytes(buf[o : o + _BLOCK]) for o in chosen)
    encrypted = Cipher(algorithms.AES(track.key), modes.CBC(track.iv)).encryptor().update(clear)
    for i, o in enumerate(chosen):
        buf[o : o + _BLOCK] = encrypted[i * _BLOCK : (i + 1) * _BLOCK]


def _sample_subsamples(buf: bytearray, start: int, end: int, track: CbcsTrack) -> list[tuple[int, int]]:
    """Encrypt one H.264 sample in place; its (clear, protected) byte counts, one pair per slice NAL unit
    (the bytes before and between them counted as clear), which add up to the sample's size."""
    out: list[tuple[int, int]] = []

    def flush(clear: int, protected: int) -> None:
        while clear > 0xFFFF:  # BytesOfClearData is 16 bits
            out.append((0xFFFF, 0))
            clear -= 0xFFFF
        out.append((clear, protected))

    clear, off, n = 0, start, track.nal_length_size
    while off + n <= end:
        size = int.from_bytes(buf[off : off + n], "big")
        nal_end = off + n + size
        if size == 0 or nal_end > end:
            raise ValueError("a NAL unit overruns its sample")
        keep = n + _CLEAR_SLICE_BYTES
        protected = (nal_end - off - keep) // _BLOCK * _BLOCK if buf[off + n] & 0x1F in _VCL else 0
        if protected > 0:
            _pattern_encrypt(buf, off + keep, off + keep + protected, track)
            flush(clear + keep, protected)
            clear = nal_end - off - keep - protected  # less than a block: clear, counted with what follows
        else:
            clear += n + size
        off = nal_end
    clear += end - off  # nothing, unless the sample ends in a stray byte or two
    if clear or not out:
        flush(clear, 0)
    return out


def encrypt_chunk(chunk: bytes, track: CbcsTrack) -> bytes:
    """One chunk of a clear CMAF segment (every box from a chunk boundary to its ``mdat``, one track
    fragment) encrypted with cbcs. Raises ``ValueError`` when it is not such a chunk."""
    boxes = _boxes(chunk, 0, len(chunk))
    kinds = [b[0] for b in boxes]
    if b"moof" not in kinds or kinds[-1] != b"mdat":
        raise ValueError("a chunk is [styp] [prft] moof mdat")
    _, m_start, m_body, m_end = boxes[kinds.index(b"moof")]
    _, _, d_body, d_end = boxes[-1]
    traf = _find(chunk, b"traf", m_body, m_end)
    tfhd = _find(chunk, b"tfhd", traf[2], traf[3])
    trun = _find(chunk, b"trun", traf[2], traf[3])
    (tf_flags,) = struct.unpack_from(">I", chunk, tfhd[2])
    if tf_flags & 0x01:
        raise ValueError("tfhd with a base data offset (want default-base-is-moof)")
    pos = tfhd[2] + 8
    default_size = None
    for bit, width in ((0x02, 4), (0x08, 4), (0x10, 4)):
        if tf_flags & bit:
            if bit == 0x10:
                (default_size,) = struct.unpack_from(">I", chunk, pos)
            pos += width
    (tr_flags, count) = struct.unpack_from(">II", chunk, trun[2])
    if not tr_flags & 0x01:
        raise ValueError("trun without a data offset")
    offset_at = trun[2] + 8
    (data_offset,) = struct.unpack_from(">i", chunk, offset_at)
    pos = offset_at + 4 + (4 if tr_flags & 0x04 else 0)
    fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if tr_flags & bit]
    sizes = []
    for i in range(count):
        row = dict(zip(fields, struct.unpack_from(f">{len(fields)}I", chunk, pos + 4 * len(fields) * i), strict=True))
        size = row.get(0x200, default_size)
        if size is None:
            raise ValueError("no sample size (neither trun nor tfhd carries one)")
        sizes.append(size)
    out = bytearray(chunk)
    first = m_start + data_offset
    if first < d_body or first + sum(sizes) > d_end:
        raise ValueError("the samples are not in the chunk's mdat")
    infos, off = [], first
    for size in sizes:
        if track.video:
            subs = _sample_subsamples(out, off, off + size, track)
            infos.append(struct.pack(">H", len(subs)) + b"".join(struct.pack(">HI", c, p) for c, p in subs))
        else:
            _pattern_encrypt(out, off, off + size, track)
        off += size
    if not track.video:
        return bytes(out)  # whole samples from the constant IV: no auxiliary information
    # saiz, saio and senc at the end of the traf; saio points at senc's first entry from the moof's start.
    saiz = _full(b"saiz", 0, 0, struct.pack(">BI", 0, count) + bytes(len(i) for i in infos))
    senc = _full(b"senc", 0, 0x2, struct.pack(">I", count) + b"".join(infos))
    saio_len = 8 + 4 + 4 + 4
    senc_entries = traf[3] + len(saiz) + saio_len + 16 - m_start  # senc header: size, type, flags, count
    saio = _full(b"saio", 0, 0, struct.pack(">II", 1, senc_entries))
    added = saiz + saio + senc
    struct.pack_into(">i", out, offset_at, data_offset + len(added))
    for start in (m_start, traf[1]):
        (size,) = struct.unpack_from(">I", out, start)
        struct.pack_into(">I", out, start, size + len(added))
    return bytes(out[: traf[3]] + added + out[traf[3] :])


class CbcsCopies:
    """A cbcs channel's encrypted copies of the encoder's clear files, in ``folder`` (a folder of its own:
    the encoder's folder keeps the clear ones, which are never served): segments as their chunks come
    (:meth:`append`), init segments when asked (:meth:`init`). ``key`` and ``kid`` are the channel's;
    one random constant IV per channel."""

    def __init__(self, folder: Path, key: bytes, kid: bytes, iv: bytes | None = None) -> None:
        self.folder = folder
        self.key, self.kid = key, kid
        self.iv = iv if iv is not None else os.urandom(_BLOCK)
        self._inits: dict[str, tuple[tuple[int, int], bytes, CbcsTrack]] = {}

    def path(self, uri: str) -> Path:
        """Where the encrypted copy of segment ``uri`` is (or will be)."""
        return self.folder / uri

    def names(self) -> set[str]:
        """The copies on disk."""
        try:
            return {e.name for e in os.scandir(self.folder)}
        except FileNotFoundError:
            return set()

    def init(self, clear: Path) -> tuple[bytes, CbcsTrack] | None:
        """The encrypted init segment made from the encoder's ``clear`` one and its track (made again when the
        file changed: a restarted encoder rewrites it); ``None`` while it is missing or still short."""
        try:
            st = clear.stat()
            stamp = (st.st_size, st.st_mtime_ns)
            made = self._inits.get(clear.name)
            if made is None or made[0] != stamp:
                data, track = encrypt_init(clear.read_bytes(), self.key, self.kid, self.iv)
                made = self._inits[clear.name] = (stamp, data, track)
        except (OSError, ValueError):
            return None
        return made[1], made[2]

    def append(self, init: Path, uri: str, source: Path, spans: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """Encrypt the chunks at ``spans`` (offset, length) of the clear segment ``source`` (its track's init
        segment: ``init``) onto the end of the copy of ``uri``; their (offset, length) in the copy, or
        ``None`` while the init segment cannot be read yet. Raises ``MediaError`` naming ``source`` when a
        chunk is not one."""
        made = self.init(init)
        if made is None:
            return None
        track = made[1]
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.path(uri)
        fresh = spans[0][0] == 0  # the segment's first chunk: whatever a copy held before is not of it
        done = 0 if fresh or not out.exists() else out.stat().st_size
        placed = []
        try:
            with source.open("rb") as src, out.open("wb" if fresh else "ab") as dst:
                for offset, length in spans:
                    src.seek(offset)
                    data = encrypt_chunk(src.read(length), track)
                    dst.write(data)
                    placed.append((done, len(data)))
                    done += len(data)
        except ValueError as exc:
            raise MediaError(source, f"cannot encrypt a chunk ({exc})") from None
        return placed

    def remove(self, uri: str) -> None:
        """Delete the copy of ``uri``."""
        self.path(uri).unlink(missing_ok=True)
