"""The key store: random keys per title and class, files only the owner can read, clear errors."""

from __future__ import annotations

import stat

import pytest

from packager.errors import KeyStoreError
from packager.keys import KeyStore, TrackClass, track_class
from vodflow.state import State, folder


def test_keys_are_random_per_title_and_class_and_kept(tmp_path):
    store = KeyStore(tmp_path / "keys")
    a = store.get_or_create("bbb")
    b = store.get_or_create("pan")
    assert set(a.keys) == set(TrackClass)
    values = [k.key for k in a.keys.values()] + [k.key for k in b.keys.values()]
    kids = [k.kid for k in a.keys.values()] + [k.kid for k in b.keys.values()]
    assert len(set(values)) == len(values) and len(set(kids)) == len(kids)
    assert all(len(bytes.fromhex(v)) == 16 for v in values + kids)
    assert store.get_or_create("bbb") == a == store.load("bbb")
    assert a.by_kid(a.keys[TrackClass.SD].kid.upper()).track_class is TrackClass.SD
    assert a.clearkeys()[a.keys[TrackClass.AUDIO].kid] == a.keys[TrackClass.AUDIO].key
    assert stat.S_IMODE(store.path("bbb").stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VODFLOW_KEYS", str(tmp_path / "k"))
    assert KeyStore().root == tmp_path / "k" == folder(State.KEYS)
    monkeypatch.delenv("VODFLOW_KEYS")
    assert folder(State.KEYS).parts[-2:] == (".vodflow", "keys")


def test_track_classes():
    assert [track_class("video", h) for h in (180, 576, 720, 1080, 2160)] == ["sd", "sd", "hd", "hd", "uhd"]
    assert track_class("audio") is TrackClass.AUDIO


@pytest.mark.parametrize(
    ("title", "setup", "words"),
    [
        ("../etc", None, "not a valid key store name"),
        ("nope", None, "no keys for title 'nope'"),
        ("bad", "{not json", "not a key file"),
    ],
)
def test_key_store_errors_are_one_line(tmp_path, title, setup, words):
    store = KeyStore(tmp_path)
    if setup:
        (tmp_path / f"{title}.json").write_text(setup)
    with pytest.raises(KeyStoreError, match=words) as exc:
        store.load(title)
    assert "\n" not in str(exc.value)
