"""The key-leak scan, written once: does a file hold one of a title's content keys, in any usual form?

A 16-byte key is looked for as raw bytes, as hex (lower and upper case), as a UUID (lower and upper
case), and as standard and URL-safe base64, each padded and unpadded. ``validate`` reports the files
that do; ``origin.publish`` refuses to send a package with one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from pathlib import Path

from packager.keys import TitleKeys

__all__ = ["contains_key", "find_key_material", "key_forms", "needles"]

_BLOCK = 4 * 1024 * 1024  # files are read in blocks this big, so a large segment costs no more memory


def key_forms(key: bytes) -> list[bytes]:
    """Every form in which ``key`` is usually written down (see the module docstring), sorted."""
    hx = key.hex()
    uuid = f"{hx[:8]}-{hx[8:12]}-{hx[12:16]}-{hx[16:20]}-{hx[20:]}"
    b64, url = base64.b64encode(key), base64.urlsafe_b64encode(key)
    forms = {key, hx.encode(), hx.upper().encode(), uuid.encode(), uuid.upper().encode(), b64, url}
    forms |= {b64.rstrip(b"="), url.rstrip(b"=")}
    return sorted(forms)


def needles(keys: TitleKeys | Iterable[bytes]) -> list[bytes]:
    """Every form of every key in ``keys`` (a title's keys, or raw keys): what ``contains_key`` looks for."""
    raw = [k.key_bytes for k in keys.keys.values()] if isinstance(keys, TitleKeys) else list(keys)
    return sorted({form for k in raw for form in key_forms(k)})


def contains_key(path: str | Path, forms: list[bytes]) -> bool:
    """True when the file at ``path`` contains any of ``forms`` (from ``needles``); raises ``OSError``."""
    if not forms:
        return False
    overlap = max(len(n) for n in forms) - 1  # a form split across two blocks is still found
    tail = b""
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            window = tail + block
            if any(n in window for n in forms):
                return True
            tail = window[-overlap:]
    return False


def find_key_material(paths: Iterable[str | Path], keys: TitleKeys | Iterable[bytes]) -> Iterator[Path]:
    """The files among ``paths`` that contain one of ``keys`` in any form, in the order given; raises
    ``OSError`` for a file that cannot be read."""
    forms = needles(keys)
    for p in paths:
        if contains_key(p, forms):
            yield Path(p)
