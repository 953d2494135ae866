"""Request paths, ranges, entity tags and gzip negotiation, as pure functions."""

from __future__ import annotations

import pytest

from edge.http import (
    BadPath,
    RangeNotSatisfiable,
    accepts_gzip,
    check_raw_path,
    etag_matches,
    parse_range,
    split_content_path,
)


@pytest.mark.parametrize(
    "raw",
    [
        "/titles/a/../b/master.m3u8",
        "/titles/a/%2e%2e/b/master.m3u8",
        "/titles/a/%2E%2e/b/master.m3u8",
        "/titles/a/./master.m3u8",
        "/titles/a//etc/passwd",
        "/titles/a/%2Fetc%2Fpasswd",
        "/titles/a/x%00.m4s",
        "/titles/a/x\\..\\y",
        "/titles/a/%5c..%5cy",
        "/titles/a/x%zz",
        "titles/a/x",
    ],
)
def test_traversal_and_odd_paths_are_refused(raw):
    with pytest.raises(BadPath):
        check_raw_path(raw, max_chars=2048)


def test_plain_paths_pass_and_long_ones_do_not():
    check_raw_path("/titles/a/video/h264_320x180/1.m4s?token=1.abc.def", max_chars=2048)
    check_raw_path("/titles/a/", max_chars=2048)
    with pytest.raises(BadPath) as err:
        check_raw_path("/titles/a/" + "x" * 3000, max_chars=2048)
    assert err.value.too_long


def test_content_paths_split_into_title_version_path():
    assert split_content_path("a", "video/r/1.m4s") == ("a", None, "video/r/1.m4s")
    assert split_content_path("a", "@v2/master.m3u8") == ("a", "v2", "master.m3u8")
    for title, rest in (("a", "@v2"), ("a", "x/@v2/y"), ("-a", "x"), ("a", "x y"), ("a", ".hidden")):
        with pytest.raises(BadPath):
            split_content_path(title, rest)


@pytest.mark.parametrize(
    ("header", "span"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-", (90, 99)),
        ("bytes=90-1000", (90, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-1000", (0, 99)),
    ],
)
def test_single_ranges(header, span):
    assert parse_range(header, 100) == span


@pytest.mark.parametrize(
    "header",
    [
        "bytes=100-",
        "bytes=200-300",
        "bytes=5-1",
        "bytes=-0",
        "bytes=-",
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=a-b",
        "bytes=0-" + "9" * 40,
        "bytes=" + "1" * 200 + "-",
    ],
)
def test_unsatisfiable_malformed_multiple_and_oversized_ranges(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_etag_weak_comparison_and_star():
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches('"x", "abc"', '"abc"')
    assert etag_matches("*", '"abc"')
    assert not etag_matches('"abd"', '"abc"')


def test_gzip_negotiation():
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1.0, gzip;q=0.5")
    assert accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0")
    assert not accepts_gzip("identity")
    assert not accepts_gzip("")
