"""HTTP rules of the edge that need no server: request paths, ``Range``, entity tags, gzip negotiation.

Paths are checked on the raw request line, before aiohttp decodes or normalises them, so ``..`` cannot
arrive disguised as ``%2e%2e`` or be folded away into another title's path.

Ranges: one ``bytes=`` range is served as 206; a range starting past the end is 416. Several ranges in
one header, a malformed header or one longer than ``MAX_RANGE_CHARS`` are answered 416 too: players ask
for one range at a time, and refusing is cheaper and safer than building multipart bodies or guessing.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from edge.errors import BadPath, RangeNotSatisfiable
from vodflow.ids import ID_PATTERN, is_id

__all__ = [
    "CONTENT_TYPES",
    "MAX_RANGE_CHARS",
    "SEGMENT_PATTERN",
    "BadPath",
    "RangeNotSatisfiable",
    "accepts_gzip",
    "check_raw_path",
    "content_type",
    "etag_matches",
    "parse_range",
    "split_content_path",
]

MAX_RANGE_CHARS = 100
SEGMENT_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}"  # one segment of an object path in a package
_SEGMENT = re.compile(SEGMENT_PATTERN)
_VERSION_SEGMENT = re.compile("@" + ID_PATTERN)  # a pinned version: /titles/<id>/@<version>/...
_RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


def check_raw_path(raw: str, *, max_chars: int) -> None:
    """Refuse a raw request target (path and query as sent) that is too long, or whose path has a
    dot segment, an empty segment, a backslash, a NUL or control character, or an encoded slash, in
    plain or percent-encoded form. Raises ``BadPath``."""
    if len(raw) > max_chars:
        raise BadPath(f"request target longer than {max_chars} characters", too_long=True)
    path = raw.split("?", 1)[0]
    if not path.startswith("/"):
        raise BadPath("request path is not absolute")
    segments = path[1:].split("/")
    for i, seg in enumerate(segments):
        if "%" in seg:
            if not re.fullmatch(r"(?:[^%]|%[0-9A-Fa-f]{2})*", seg):
                raise BadPath("bad percent-encoding in path")
            seg = unquote(seg, errors="strict")
        if seg == "" and i != len(segments) - 1:
            raise BadPath("empty path segment")
        if seg in (".", ".."):
            raise BadPath("dot segment in path")
        if any(c in seg for c in "/\\") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in seg):
            raise BadPath("forbidden character in path")


def split_content_path(title: str, rest: str) -> tuple[str, str | None, str]:
    """``(title, version or None, path)`` for ``/titles/<title>/<rest>``; ``@<version>/`` as the first
    segment pins a version. Raises ``BadPath`` for names outside the package layout's alphabet."""
    if not is_id(title):
        raise BadPath("bad title name")
    parts = rest.split("/")
    version = None
    if parts and _VERSION_SEGMENT.fullmatch(parts[0]):
        version = parts.pop(0)[1:]
    if not parts or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise BadPath("bad object path")
    return title, version, "/".join(parts)


def parse_range(header: str, size: int) -> tuple[int, int]:
    """The inclusive byte span ``(first, last)`` one ``bytes=`` range asks for in a body of ``size``
    bytes; raises ``RangeNotSatisfiable`` for anything else (see the module docstring)."""
    if len(header) > MAX_RANGE_CHARS:
        raise RangeNotSatisfiable("Range header too long")
    m = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if m is None:
        raise RangeNotSatisfiable("malformed or multiple ranges")
    a, b = m.groups()
    if a == "" and b == "":
        raise RangeNotSatisfiable("empty range")
    if a == "":  # suffix: the last b bytes
        n = int(b)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return max(size - n, 0), size - 1
    first = int(a)
    last = size - 1 if b == "" else min(int(b), size - 1)
    if b != "" and int(b) < first:
        raise RangeNotSatisfiable("range ends before it starts")
    if first >= size:
        raise RangeNotSatisfiable("range starts past the end")
    return first, last


def _strip_weak(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` (a list or ``*``) against ``etag``, as RFC 9110 asks for GET."""
    if if_none_match.strip() == "*":
        return True
    mine = _strip_weak(etag)
    return any(_strip_weak(t) == mine for t in if_none_match.split(","))


def accepts_gzip(accept_encoding: str) -> bool:
    """True when ``Accept-Encoding`` lists gzip (or ``*``) with a non-zero q-value."""
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() not in ("gzip", "*"):
            continue
        q = params.strip()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}


def content_type(path: str, given: str | None = None) -> str:
    """The Content-Type to send for ``path``: ``given`` (the upstream's) unless it is a generic octet
    stream, else the one its extension names (``CONTENT_TYPES``), else ``application/octet-stream``."""
    if given and given != "binary/octet-stream" and given != "application/octet-stream":
        return given
    dot = path.rfind(".")
    return CONTENT_TYPES.get(path[dot:], "application/octet-stream") if dot >= 0 else "application/octet-stream"
