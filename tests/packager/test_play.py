"""FFmpeg as a client of every package: each rendition decodes to the end, error-free, frame-exact."""

from __future__ import annotations

import pytest

from tests.packager.client import problems, via_hls, via_segments


def _streams(pkg, kinds=("video", "audio")):
    return [s for s in pkg.streams if s.kind in kinds]


def test_clear_package_plays_over_hls_and_as_segments(packages, server):
    pkg = packages["none"]
    assert {s.codec for s in _streams(pkg)} == {"h264", "hevc", "vp9", "av1", "aac", "opus"}
    for s in _streams(pkg):
        assert problems(via_segments(pkg, s), s) == [], s.id
        assert problems(via_hls(f"{server.url}/none", s), s) == [], s.id


@pytest.mark.parametrize("scheme", ["cenc", "cbcs"])
def test_cenc_and_cbcs_segments_play_with_their_key(packages, keystore, scheme):
    pkg = packages[scheme]
    keys = keystore.load(pkg.title)
    for s in _streams(pkg):
        assert s.key_id, s.id
        assert problems(via_segments(pkg, s, keys.by_kid(s.key_id).key), s) == [], s.id


@pytest.mark.parametrize("scheme", ["cbcs", "aes128"])
def test_hls_fetches_its_key_over_http_and_plays(packages, server, scheme):
    pkg = packages[scheme]
    before = len(server.requests)
    for s in _streams(pkg):
        assert problems(via_hls(f"{server.url}/{scheme}", s), s) == [], s.id
    assert any(r.startswith("/keys/") for r in server.requests[before:])
