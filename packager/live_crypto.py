"""What an encrypted live channel's init segments need beyond what the encoder writes.

ffmpeg's mp4 muxer (``encryption_scheme=cenc-aes-ctr``) writes ``encv``/``enca`` sample entries with
``sinf`` (``frma``, ``schm`` cenc, ``schi``/``tenc`` with the key ID) but no ``pssh``. Without one the
browser raises no ``encrypted`` event, and hls.js starts its ClearKey session only from that event (it
builds no init data from the playlist's ``KEYID``). :func:`with_pssh` adds the W3C common-system ``pssh``
(version 1, the key ID, no data: what Chrome's ClearKey turns into a ``{"kids": [...]}`` licence
request), as Shaka Packager does for VOD.
"""

from __future__ import annotations

import os
import struct

from packager.keys import ContentKey, KeyStore, track_class
from packager.live_records import LiveProtection
from packager.shaka import COMMON_SYSTEM_ID as COMMON_SYSTEM_UUID
from vodflow.errors import MediaError, UsageError

__all__ = ["COMMON_SYSTEM_ID", "LIVE_SCHEMES", "live_key", "pssh_box", "with_pssh"]

LIVE_SCHEMES = ("cenc", "cbcs")

COMMON_SYSTEM_ID = bytes.fromhex(COMMON_SYSTEM_UUID.replace("-", ""))  # W3C "Common PSSH box format", as VOD's


def pssh_box(kid: bytes, system_id: bytes = COMMON_SYSTEM_ID) -> bytes:
    """A version 1 ``pssh`` box naming ``kid`` (ISO/IEC 23001-7 8.1), with no system data."""
    body = b"\x01\x00\x00\x00" + system_id + struct.pack(">I", 1) + kid + struct.pack(">I", 0)
    return struct.pack(">I4s", 8 + len(body), b"pssh") + body


def with_pssh(init: bytes, kid: bytes, *, where: str | os.PathLike[str] = "init segment") -> bytes:
    """``init`` (an init segment's bytes) with a common-system ``pssh`` for ``kid`` as the last box of its
    ``moov``; unchanged when it has one already. Raises ``MediaError`` naming ``where`` when there is no
    ``moov`` or a box overruns the data (a file still being written)."""
    off = 0
    while off + 8 <= len(init):
        size, kind = struct.unpack_from(">I4s", init, off)
        if size < 8 or off + size > len(init):
            break
        if kind == b"moov":
            moov = init[off : off + size]
            if b"pssh" in moov:
                return init
            box = pssh_box(kid)
            return init[:off] + struct.pack(">I", size + len(box)) + moov[4:] + box + init[off + size :]
        off += size
    raise MediaError(where, "no complete moov box")


def live_key(
    keystore: KeyStore, channel: str, scheme: str, top_height: int | None
) -> tuple[LiveProtection | None, ContentKey | None]:
    """The protection of channel ``channel`` encrypted with ``scheme`` (``none``: ``(None, None)``) and its key, from
    ``keystore`` under the channel's name (made on first use, so a channel started again keeps it; the VOD titles it
    becomes get keys of their own). One key for every rendition: ffmpeg's dash muxer gives all its mp4 muxers the
    same options; it is the key of the top rung's class (``track_class`` of ``top_height``), so a licence policy
    that hands out SD keys more freely never opens an HD channel. Raises ``UsageError`` for another scheme,
    ``KeyStoreError`` when the store cannot be written."""
    if scheme == "none":
        return None, None
    if scheme not in LIVE_SCHEMES:
        raise UsageError(f"live encryption {scheme!r}: want none, {' or '.join(LIVE_SCHEMES)}")
    key = keystore.get_or_create(channel).for_class(track_class("video", top_height))
    return LiveProtection(scheme, key.kid), key
