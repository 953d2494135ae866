"""Proof, once, that the FFmpeg-client checks can fail: a wrong key, a corrupted segment and a missing
segment each make them report problems (otherwise a green test_play would mean nothing)."""

from __future__ import annotations

import secrets
import shutil

import pytest

from packager.hls import set_key_uri
from packager.model import Package
from tests.packager.client import problems, via_hls, via_segments


def _copy(pkg: Package, pk_root, name: str) -> Package:
    """A copy of ``pkg`` under the served root, to break without touching the shared package."""
    dst = pk_root / name
    shutil.copytree(pkg.root, dst)
    return pkg.model_copy(update={"root": str(dst)})


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_a_wrong_key_fails_every_codec(packages, scheme):
    pkg = packages[scheme]
    seen = set()
    for s in pkg.streams:
        if s.kind == "text" or s.codec in seen:
            continue
        seen.add(s.codec)
        assert problems(via_segments(pkg, s, secrets.token_hex(16)), s), f"{s.id} played with a wrong key"
        assert problems(via_segments(pkg, s), s), f"{s.id} played with no key"
    assert seen == {"h264", "hevc", "vp9", "av1", "aac", "opus"}


def test_aes128_with_another_streams_key_fails(packages, pk_root, server, keystore):
    pkg = _copy(packages["aes128"], pk_root, "aes128-wrong-key")
    s = next(s for s in pkg.streams if s.codec == "h264")
    other = next(k for k in keystore.load(pkg.title).keys.values() if k.kid != s.key_id)
    set_key_uri(f"{pkg.root}/{s.playlist}", f"{server.url}/keys/{pkg.title}/{other.kid}")
    assert problems(via_hls(f"{server.url}/aes128-wrong-key", s), s)


@pytest.mark.parametrize("kind", ["corrupted", "missing"])
def test_a_broken_segment_fails(packages, pk_root, server, kind):
    pkg = _copy(packages["none"], pk_root, f"none-{kind}")
    s = next(s for s in pkg.streams if s.codec == "h264")
    seg = pk_root / f"none-{kind}" / s.segments[1].path
    if kind == "missing":
        seg.unlink()
    else:
        data = bytearray(seg.read_bytes())
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0x5A
        seg.write_bytes(bytes(data))
    assert problems(via_hls(f"{server.url}/none-{kind}", s), s)
    if kind == "corrupted":
        assert problems(via_segments(pkg, s), s)
