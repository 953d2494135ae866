"""The names vodflow gives things, each pattern written once.

A title ID and a version ID name objects in the bucket (``titles/<title>/v/<version>/``), files in the
key store (``<title>.json``) and path segments at the edge, so they share one alphabet: letters, digits,
``.``, ``_`` and ``-``, starting with a letter or digit, at most 128 characters. Nothing else (no ``/``,
no ``..``, no escapes) can reach a key or a path through them.
"""

from __future__ import annotations

import re

from vodflow.errors import UsageError

__all__ = ["ID", "ID_PATTERN", "check_title", "is_id", "title_from"]

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"  # for patterns that embed it (the edge's request target)
ID = re.compile(ID_PATTERN)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_id(text: object) -> bool:
    """True when ``text`` is a string fit to be a title or version ID."""
    return isinstance(text, str) and ID.fullmatch(text) is not None


def check_title(title: str) -> str:
    """``title`` itself; raises ``UsageError`` when it is not a valid title ID."""
    if not is_id(title):
        raise UsageError(f"title {title!r} is not a valid title ID (letters, digits, . _ -; at most 128)")
    return title


def title_from(name: str) -> str:
    """A title ID made from a file name or stem (``Big Buck Bunny.mp4`` → ``Big_Buck_Bunny``); ``title`` if
    nothing of it is left."""
    return _UNSAFE.sub("_", name).strip("._-")[:128] or "title"
