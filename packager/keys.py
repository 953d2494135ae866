"""The key store: one random 128-bit content key and key ID per title and track class.

A title's keys live in one JSON file, ``<root>/<title>.json`` (mode 0600, its folder 0700). The root is
``$VODFLOW_KEYS`` if set, else ``.vodflow/keys`` under the current directory: never inside a package
tree, because a package tree gets published and a key must only ever be served by the edge, to an
authorised request. Packages and their records carry key IDs only.

Track classes follow common DRM practice: audio, SD video (up to 576 lines), HD (up to 1080) and UHD
(above), so a licence policy can hand out SD keys more freely than UHD ones.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from enum import StrEnum
from pathlib import Path

from packager.errors import KeyStoreError
from vodflow.ids import is_id
from vodflow.records import Record
from vodflow.state import State, folder

__all__ = ["ContentKey", "KeyStore", "TitleKeys", "TrackClass", "track_class"]

_HEX32 = re.compile(r"[0-9a-f]{32}")


class TrackClass(StrEnum):
    AUDIO = "audio"
    SD = "sd"
    HD = "hd"
    UHD = "uhd"


def track_class(kind: str, height: int | None = None) -> TrackClass:
    """The key class of a stream: ``audio`` for audio (and text), else SD/HD/UHD by frame height."""
    if kind != "video":
        return TrackClass.AUDIO
    h = height or 0
    return TrackClass.SD if h <= 576 else TrackClass.HD if h <= 1080 else TrackClass.UHD


class ContentKey(Record):
    """One key: its class, key ID and key, both 32 lower-case hex digits."""

    track_class: TrackClass
    kid: str
    key: str

    @property
    def kid_bytes(self) -> bytes:
        return bytes.fromhex(self.kid)

    @property
    def key_bytes(self) -> bytes:
        return bytes.fromhex(self.key)


class TitleKeys(Record):
    """Every key of one title, one per track class."""

    title: str
    keys: dict[TrackClass, ContentKey]

    def for_class(self, cls: TrackClass) -> ContentKey:
        return self.keys[cls]

    def by_kid(self, kid: str) -> ContentKey:
        """The key whose ID is ``kid`` (hex, any case, dashes allowed); raises ``KeyStoreError``."""
        want = kid.replace("-", "").lower()
        for k in self.keys.values():
            if k.kid == want:
                return k
        raise KeyStoreError(f"title {self.title!r} has no key with ID {kid}")

    def clearkeys(self) -> dict[str, str]:
        """Key ID -> key, both hex, for every class: what a ClearKey player configuration needs."""
        return {k.kid: k.key for k in self.keys.values()}


def _new_key(cls: TrackClass) -> ContentKey:
    return ContentKey(track_class=cls, kid=secrets.token_hex(16), key=secrets.token_hex(16))


class KeyStore:
    """Keys of many titles under one folder. ``KeyStore().load("bbb").for_class(TrackClass.SD).key``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = folder(State.KEYS, root)

    def __repr__(self) -> str:
        return f"KeyStore({str(self.root)!r})"

    def path(self, title: str) -> Path:
        """The file that holds ``title``'s keys; raises ``KeyStoreError`` for a name unfit for a file."""
        if not is_id(title):
            raise KeyStoreError(f"title {title!r} is not a valid key store name (letters, digits, . _ -)")
        return self.root / f"{title}.json"

    def exists(self, title: str) -> bool:
        return self.path(title).is_file()

    def load(self, title: str) -> TitleKeys:
        """Return ``title``'s keys; raises ``KeyStoreError`` when the store has none or the file is bad."""
        path = self.path(title)
        try:
            keys = TitleKeys.from_json(path.read_bytes())
        except FileNotFoundError:
            raise KeyStoreError(f"{path}: no keys for title {title!r} in this key store") from None
        except ValueError as exc:
            raise KeyStoreError(f"{path}: not a key file ({str(exc).splitlines()[0]})") from None
        for k in keys.keys.values():
            if not (_HEX32.fullmatch(k.kid) and _HEX32.fullmatch(k.key)):
                raise KeyStoreError(f"{path}: key {k.track_class} is not 32 hex digits")
        return keys

    def get_or_create(self, title: str) -> TitleKeys:
        """``title``'s keys, generating and storing them on first use (so re-packaging keeps its keys)."""
        if self.exists(title):
            return self.load(title)
        keys = TitleKeys(title=title, keys={c: _new_key(c) for c in TrackClass})
        self._write(self.path(title), keys)
        return keys

    def _write(self, path: Path, keys: TitleKeys) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o700)  # mkdir's mode is masked by umask and ignored if it existed
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(keys.model_dump(mode="json"), fh, indent=2)
            os.replace(tmp, path)
        except OSError as exc:
            raise KeyStoreError(f"{path}: cannot write the key file ({exc.strerror or exc})") from None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != 0o600:  # pragma: no cover - only on filesystems that ignore modes
            raise KeyStoreError(f"{path}: key file has mode {mode:o}, not 600")
