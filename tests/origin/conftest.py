"""Fixtures for publishing: one tiny title (H.264 x2 + AAC/Opus, English subtitles) encoded once and
packaged clear, cenc and aes128, with its keys in a key store outside every package tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from packager.keys import KeyStore
from packager.model import Package
from packager.package import package
from pipeline.encode import encode
from pipeline.renditions import EncodeResult
from tests import media
from tests.packager.conftest import SEGMENT, rendition


@pytest.fixture(scope="session")
def pub_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="session")
def pub_keys(pub_root) -> KeyStore:
    return KeyStore(pub_root / "keys")


@pytest.fixture(scope="session")
def pub_renditions(pub_root) -> EncodeResult:
    src_dir = pub_root / "src"
    src_dir.mkdir()
    src = media.multilang(src_dir)
    out = pub_root / "renditions"
    result = encode(src, [rendition("h264", 320, 180), rendition("h264", 160, 90)], out, show_progress=False)
    result.save(out / "encode.json")
    return result


@pytest.fixture(scope="session")
def pub_packages(pub_root, pub_renditions, pub_keys) -> dict[str, Package]:
    """encryption -> Package (title "multilang"), for none, cenc and aes128."""
    return {
        e: package(pub_root / "renditions", pub_root / e, encrypt=e, segment_seconds=SEGMENT, keystore=pub_keys)
        for e in ("none", "cenc", "aes128")
    }
