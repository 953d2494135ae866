"""Live encryption, end to end on the real ffmpeg. cenc: the dash muxer (``-ldash -streaming``, chunked CMAF)
encrypting with the key store's channel key, the init segments as the edge serves them (a common-system
pssh added). cbcs: the channel state encrypting the encoder's clear chunks as they land. Both round trip:
the segments are not clear, and decrypting them (ffmpeg ``-decryption_key``) gives the clear run's frames
bit for bit."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from packager import KeyStore, LiveProtection, TrackClass, live_key, scan_chunks, track_timescale
from packager.live_crypto import COMMON_SYSTEM_ID, pssh_box, with_pssh
from packager.llhls import ChannelState
from tests.packager.live_media import dash_args, live_folder
from vodflow import tools
from vodflow.errors import MediaError, UsageError

SECONDS = 4  # two segments of four chunks


def _cenc_args(out: Path, key: str, kid: str) -> list[str]:
    args = dash_args(out, seconds=SECONDS)
    i = args.index("movflags=cmaf")
    args[i] = f"movflags=cmaf:encryption_scheme=cenc-aes-ctr:encryption_key={key}:encryption_kid={kid}"
    return args


def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(tools.find(tools.Tool.FFMPEG)), "-hide_banner", "-nostdin", "-loglevel", "error", *args],
        capture_output=True,
        timeout=60,
    )


def _frames(path: Path, key: str | None = None) -> tuple[list[str], bytes]:
    """The per-frame hashes ffmpeg decodes from ``path`` (with ``-decryption_key`` when given), and its errors."""
    r = _ffmpeg(*(("-decryption_key", key) if key else ()), "-i", str(path), "-f", "framemd5", "-")
    rows = [ln for ln in r.stdout.decode().splitlines() if ln and not ln.startswith("#")]
    return rows, r.stderr


def _mdats(data: bytes) -> list[bytes]:
    out, off = [], 0
    while off + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, off)
        if kind == b"mdat":
            out.append(data[off + 8 : off + size])
        off += size
    return out


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("live-cenc")
    keystore = KeyStore(root / "keys")
    protection, key = live_key(keystore, "news", "cenc", 90)
    enc = root / "enc"
    _ffmpeg(*_cenc_args(enc, key.key, key.kid)).check_returncode()
    return {"clear": live_folder(root / "clear", seconds=SECONDS), "enc": enc, "protection": protection,
            "keystore": keystore}  # fmt: skip


def test_the_channel_key_is_the_key_stores(channels) -> None:
    keystore, protection = channels["keystore"], channels["protection"]
    keys = keystore.load("news")
    assert protection.scheme == "cenc" and protection.kid == keys.for_class(TrackClass.SD).kid  # 90 lines: SD
    again, _ = live_key(keystore, "news", "cenc", 90)
    assert again == protection  # started again: the same key
    hd, _ = live_key(keystore, "news", "cenc", 720)
    assert hd.kid == keys.for_class(TrackClass.HD).kid  # the top rung's class
    assert live_key(keystore, "news", "none", 90) == (None, None)
    with pytest.raises(UsageError, match="live encryption 'aes128': want none, cenc or cbcs"):
        live_key(keystore, "news", "aes128", 90)


def test_segments_are_encrypted_and_decrypt_to_the_clear_frames(channels, tmp_path: Path) -> None:
    clear, enc, protection = channels["clear"], channels["enc"], channels["protection"]
    key = channels["keystore"].load("news").by_kid(protection.kid).key
    state = ChannelState(enc, protection=protection)
    state.refresh()
    state.end()
    for rep in ("0", "1", "2"):
        init = state.init_segment(f"init-{rep}.m4s")
        on_disk = (enc / f"init-{rep}.m4s").read_bytes()
        assert b"pssh" not in on_disk and (b"encv" in on_disk or b"enca" in on_disk) and b"tenc" in on_disk
        assert pssh_box(bytes.fromhex(protection.kid)) in init and COMMON_SYSTEM_ID in init
        segs = sorted(enc.glob(f"seg-{rep}-*.m4s"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        assert len(segs) >= 2
        whole = tmp_path / f"enc-{rep}.mp4"
        whole.write_bytes(init + b"".join(p.read_bytes() for p in segs))
        plain = tmp_path / f"clear-{rep}.mp4"
        plain.write_bytes(b"".join((clear / p.name).read_bytes() for p in [clear / f"init-{rep}.m4s", *segs]))
        # Not clear: the samples differ (CTR keeps their sizes), and without the key they decode to other frames.
        first_enc, first_clear = _mdats(segs[0].read_bytes())[0], _mdats((clear / segs[0].name).read_bytes())[0]
        assert len(first_enc) == len(first_clear) and first_enc != first_clear
        expected, errors = _frames(plain)
        assert len(expected) > 10 and not errors
        assert _frames(whole)[0] != expected
        decrypted, errors = _frames(whole, key)
        assert decrypted == expected and not errors, errors
        # The wrong key does not give them either.
        assert _frames(whole, "00" * 16)[0] != expected


def test_pssh_is_added_once_and_a_short_init_is_refused() -> None:
    kid = bytes(range(16))
    box = pssh_box(kid)
    assert len(box) == 52 and box[4:8] == b"pssh" and box[8] == 1 and box[12:28] == COMMON_SYSTEM_ID
    init = struct.pack(">I4s4s", 12, b"ftyp", b"cmfc") + struct.pack(">I4sI4s", 16, b"moov", 8, b"trak")
    out = with_pssh(init, kid)
    assert out[12:16] == struct.pack(">I", 16 + 52) and out.endswith(box) and with_pssh(out, kid) == out
    with pytest.raises(MediaError, match=r"init-0\.m4s: no complete moov box"):
        with_pssh(init[:-4], kid, where="init-0.m4s")


# --- cbcs: the state encrypts what the encoder writes in the clear ----------------------------------------

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
KID = "0123456789abcdef0123456789abcdef"


def _box_at(data: bytes, path: tuple[bytes, ...]) -> bytes:
    """The body of the first box along ``path`` (each a child of the one before; sample entries skipped)."""
    off, end = 0, len(data)
    for kind in path:
        while off + 8 <= end:
            size, k = struct.unpack_from(">I4s", data, off)
            if k == kind:
                skip = {b"stsd": 8, b"encv": 78, b"enca": 28}.get(kind, 0)
                off, end = off + 8 + skip, off + size
                break
            off += size
        else:
            raise AssertionError(f"no {kind!r}")
    return data[off:end]


def test_cbcs_init_segments(channels, tmp_path) -> None:
    clear = shutil.copytree(channels["clear"], tmp_path / "live")  # the state writes its copies there
    state = ChannelState(clear, protection=LiveProtection("cbcs", KID), key=KEY)
    state.refresh()
    for rep, entry, pattern in (("0", b"encv", 0x19), ("2", b"enca", 0x00)):
        init = state.init_segment(f"init-{rep}.m4s")
        sinf = _box_at(init, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd", entry, b"sinf"))
        assert _box_at(sinf, (b"frma",)) == (b"avc1" if rep == "0" else b"mp4a")
        assert _box_at(sinf, (b"schm",)) == b"\0\0\0\0cbcs\x00\x01\x00\x00"
        tenc = _box_at(sinf, (b"schi", b"tenc"))
        # version 1, the pattern (crypt << 4 | skip), protected, no per-sample IV, the key ID, a 16-byte IV
        assert tenc[0] == 1 and tenc[5] == pattern and tenc[6:8] == b"\x01\x00" and tenc[8:24] == bytes.fromhex(KID)
        assert tenc[24] == 16 and len(tenc) == 25 + 16
        assert pssh_box(bytes.fromhex(KID)) in init  # as cenc's
    assert state.init_segment("seg-0-1.m4s") is None and state.init_segment("../init-0.m4s") is None
    with pytest.raises(UsageError, match="needs the 16-byte key"):
        ChannelState(clear, protection=LiveProtection("cbcs", KID))


def test_cbcs_segments_decrypt_to_the_clear_frames_and_the_clear_files_are_never_listed(channels, tmp_path) -> None:
    clear = channels["clear"]
    live = tmp_path / "live"
    shutil.copytree(clear, live)
    state = ChannelState(live, protection=LiveProtection("cbcs", KID), key=KEY)
    state.refresh()
    state.end()
    for rep, name in (("0", "video-0"), ("2", "audio-2")):
        segs = state.segments(name)
        assert len(segs) >= 2 and all(s.complete for s in segs)  # audio: a short tail segment too
        for s in segs:
            assert s.path == live / "cbcs" / s.uri and s.source == live / s.uri and state.path(s.uri) == s.path
            assert sum(p.length for p in s.parts) == s.path.stat().st_size  # the parts are the copy's bytes
            assert s.parts[0].offset == 0
        whole = tmp_path / f"cbcs-{rep}.mp4"
        whole.write_bytes(state.init_segment(f"init-{rep}.m4s") + b"".join(s.path.read_bytes() for s in segs))
        plain = tmp_path / f"clear-{rep}.mp4"
        plain.write_bytes(b"".join((clear / n).read_bytes() for n in [f"init-{rep}.m4s", *(s.uri for s in segs)]))
        expected, errors = _frames(plain)
        assert len(expected) > 10 and not errors
        assert _frames(whole)[0] != expected  # encrypted
        decrypted, errors = _frames(whole, KEY.hex())
        assert decrypted == expected and not errors, errors
    # Video: subsamples in a senc the saio points at; several slices a frame (x264's sliced threads) each get
    # their own protected range.
    first = (live / "cbcs" / "seg-0-1.m4s").read_bytes()
    assert b"senc" in first and b"saiz" in first and b"saio" in first
    assert b"senc" not in (live / "cbcs" / "seg-2-1.m4s").read_bytes()  # audio: whole samples, constant IV
    assert state.path("init-0.m4s") is None  # made by init_segment, never the encoder's clear file
    # The supervisor deleted a copy that left the window (a run before a restart): its clear file goes too.
    (live / "cbcs" / "seg-0-1.m4s").unlink()
    assert state.refresh() and state.segment("video-0", 1) is None and not (live / "seg-0-1.m4s").exists()
    assert state.segment("video-0", 2) is not None and (live / "seg-0-2.m4s").exists()


def test_cbcs_parts_are_encrypted_as_they_land(channels, tmp_path) -> None:
    clear = channels["clear"]
    live = tmp_path / "live"
    live.mkdir()
    for name in ("manifest.mpd", "init-0.m4s", "init-1.m4s", "init-2.m4s"):
        shutil.copy(clear / name, live / name)
    state = ChannelState(live, protection=LiveProtection("cbcs", KID), key=KEY)
    assert state.refresh() and state.last("video-0") is None
    data = (clear / "seg-0-1.m4s").read_bytes()
    chunks = scan_chunks(clear / "seg-0-1.m4s", timescale=track_timescale(clear / "init-0.m4s"))
    growing = live / "seg-0-1.m4s.tmp"
    growing.write_bytes(data[: chunks[1].end + 50])  # two chunks and a bit of the third
    assert state.refresh() and state.last("video-0") == (1, 1)
    seg = state.segment("video-0", 1)
    copy = live / "cbcs" / "seg-0-1.m4s"
    assert seg.path == copy and not seg.complete and seg.size == copy.stat().st_size
    # Each part is its chunk encrypted: a little longer (the senc, saiz and saio added to its moof), back to back.
    assert len(seg.parts) == 2 and all(p.length > c.length for p, c in zip(seg.parts, chunks, strict=False))
    assert seg.parts[1].offset == seg.parts[0].length and copy.read_bytes()[4:8] == b"styp"
    growing.write_bytes(data)
    growing.rename(live / "seg-0-1.m4s")
    assert state.refresh()
    seg = state.segment("video-0", 1)
    assert seg.complete and len(seg.parts) == len(chunks) and seg.size == copy.stat().st_size
    # The encoder deleted its file (out of its window): the copy goes too.
    (live / "seg-0-1.m4s").unlink()
    assert state.refresh() and state.segment("video-0", 1) is None and not copy.exists()
