"""HLS playlists after Shaka Packager: read media playlists, put measured bandwidths, DEFAULT flags and
key URIs into them, and whole-segment AES-128 encryption of fMP4 segments (which Shaka only does for TS).

Shaka's text is edited line by line rather than re-serialised through ``m3u8``, so every tag we do not
touch stays as Shaka wrote it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import m3u8
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from vodflow.errors import MediaError

__all__ = [
    "MediaSegment",
    "aes128_decrypt",
    "aes128_encrypt",
    "encrypt_playlist_aes128",
    "read_media_playlist",
    "rewrite_master",
    "set_attr",
    "set_key_uri",
]


@dataclass(frozen=True, slots=True)
class MediaSegment:
    uri: str  # as written in the playlist (relative to it)
    start: float
    duration: float
    byterange: str | None = None


def read_media_playlist(path: str | os.PathLike[str]) -> tuple[m3u8.M3U8, list[MediaSegment]]:
    """Parse a media playlist; returns the ``m3u8`` object and its segments with start times.

    Raises ``MediaError`` naming the file when it cannot be read or parsed.
    """
    path = Path(path)
    try:
        pl = m3u8.loads(path.read_text(), uri=str(path))
    except (OSError, ValueError) as exc:
        raise MediaError(path, f"not a readable playlist ({exc})") from None
    t = 0.0
    segs = []
    for s in pl.segments:
        segs.append(MediaSegment(s.uri, t, float(s.duration or 0), s.byterange))
        t += float(s.duration or 0)
    return pl, segs


def set_attr(line: str, name: str, value: str) -> str:
    """Set attribute ``name`` on a tag line (``#EXT-X-STREAM-INF:A=1,B=2``), adding it if absent."""
    pattern = re.compile(rf'(?<=[:,]){re.escape(name)}=("[^"]*"|[^,]*)')
    if pattern.search(line):
        return pattern.sub(lambda _: f"{name}={value}", line, count=1)
    return f"{line},{name}={value}"


def _attr(line: str, name: str) -> str | None:
    m = re.search(rf'(?<=[:,]){re.escape(name)}=("([^"]*)"|[^,]*)', line)
    return None if m is None else (m.group(2) if m.group(2) is not None else m.group(1))


Bandwidths = Callable[[str, str | None], tuple[int, int]]


def rewrite_master(
    path: str | os.PathLike[str],
    *,
    bandwidths: Bandwidths,
    iframe_bandwidths: Callable[[str], tuple[int, int]] | None,
    default_audio: dict[str, str],
) -> None:
    """Rewrite the master playlist at ``path`` in place.

    ``bandwidths(uri, audio_group)`` gives a variant's (peak, average) bits/s, ``iframe_bandwidths(uri)``
    an I-frame playlist's; ``None`` drops the I-frame playlists (aes128: whole-segment encryption makes
    byte ranges into a segment undecodable). ``default_audio`` maps an audio GROUP-ID to the URI of its
    default rendition: exactly that one gets ``DEFAULT=YES``. Adds ``#EXT-X-VERSION:6``.
    """
    path = Path(path)
    lines = path.read_text().splitlines()
    out: list[str] = []
    pending: str | None = None
    for line in lines:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = line
            continue
        if pending is not None and line and not line.startswith("#"):
            peak, avg = bandwidths(line, _attr(pending, "AUDIO"))
            out += [set_attr(set_attr(pending, "BANDWIDTH", str(peak)), "AVERAGE-BANDWIDTH", str(avg)), line]
            pending = None
            continue
        if line.startswith("#EXT-X-I-FRAME-STREAM-INF:"):
            if iframe_bandwidths is None:
                continue
            peak, avg = iframe_bandwidths(_attr(line, "URI") or "")
            line = set_attr(set_attr(line, "BANDWIDTH", str(peak)), "AVERAGE-BANDWIDTH", str(avg))
        elif line.startswith("#EXT-X-MEDIA:") and _attr(line, "TYPE") == "AUDIO":
            group, uri = _attr(line, "GROUP-ID") or "", _attr(line, "URI")
            if group in default_audio:
                is_default = uri == default_audio[group]
                line = set_attr(line, "DEFAULT", "YES" if is_default else "NO")
                line = set_attr(line, "AUTOSELECT", "YES")
        out.append(line)
        if line == "#EXTM3U" and not any(ln.startswith("#EXT-X-VERSION") for ln in lines):
            out.append("#EXT-X-VERSION:6")
    path.write_text("\n".join(out) + "\n")


def set_key_uri(path: str | os.PathLike[str], uri: str) -> None:
    """Point every ``#EXT-X-KEY`` of a media playlist at ``uri``."""
    path = Path(path)
    lines = [
        set_attr(ln, "URI", f'"{uri}"') if ln.startswith("#EXT-X-KEY:") else ln for ln in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")


def aes128_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-128-CBC with PKCS7 padding: what HLS ``METHOD=AES-128`` means."""
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(padder.update(data) + padder.finalize()) + enc.finalize()


def aes128_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """The inverse of ``aes128_encrypt``; raises ``ValueError`` for a wrong key (bad padding)."""
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(dec.update(data) + dec.finalize()) + unpadder.finalize()


def encrypt_playlist_aes128(path: str | os.PathLike[str], key: bytes, uri: str) -> None:
    """Encrypt every media segment of the playlist at ``path`` in place (whole-segment AES-128-CBC).

    Each segment gets its own random IV, announced by an ``#EXT-X-KEY`` right before it. The init
    segment (``EXT-X-MAP``, which comes before the first key tag, so no key applies to it) stays clear:
    it holds no media.
    """
    path = Path(path)
    out: list[str] = []
    pending_iv: bytes | None = None
    for line in path.read_text().splitlines():
        if line.startswith("#EXTINF"):
            iv = secrets.token_bytes(16)
            out.append(f'#EXT-X-KEY:METHOD=AES-128,URI="{uri}",IV=0x{iv.hex()}')
            pending_iv = iv
        elif line and not line.startswith("#") and pending_iv is not None:
            seg = path.parent / line
            seg.write_bytes(aes128_encrypt(seg.read_bytes(), key, pending_iv))
            pending_iv = None
        out.append(line)
    path.write_text("\n".join(out) + "\n")
