"""Signed-URL tokens: scope, expiry, tampering, and the secret's state file."""

from __future__ import annotations

import os
import stat

import pytest

from edge.errors import BadToken, EdgeError
from edge.tokens import TokenSigner, covers, load_secret

SECRET = bytes(range(32))


def test_a_token_covers_its_title_and_nothing_else():
    s = TokenSigner(SECRET)
    tok = s.sign("/titles/a/", ttl=60)
    assert s.authorise(tok, "/titles/a/master.m3u8") == "/titles/a/"
    assert s.authorise(tok, "/titles/a/video/r/1.m4s")
    for other in ("/titles/b/master.m3u8", "/titles/ab/master.m3u8", "/titles/", "/keys/a/00"):
        with pytest.raises(BadToken, match="scope"):
            s.authorise(tok, other)


def test_scope_without_slash_is_a_folder_not_a_string_prefix():
    assert covers("/titles/a", "/titles/a/x")
    assert covers("/titles/a", "/titles/a")
    assert not covers("/titles/a", "/titles/ab/x")


def test_expired_token_is_refused():
    s = TokenSigner(SECRET)
    tok = s.sign("/titles/a/", ttl=10, now=1000)
    assert s.verify(tok, now=1009) == "/titles/a/"
    with pytest.raises(BadToken, match="expired"):
        s.verify(tok, now=1010)


def test_tampering_with_any_part_breaks_the_token():
    s = TokenSigner(SECRET)
    tok = s.sign("/titles/a/", ttl=60)
    exp, scope, mac = tok.split(".")
    forged_scope = TokenSigner(b"x" * 32).sign("/titles/", ttl=60).split(".")[1]
    for bad in (
        f"{int(exp) + 1000}.{scope}.{mac}",  # longer life
        f"{exp}.{forged_scope}.{mac}",  # wider scope
        f"{exp}.{scope}.{mac[:-2]}{'BB' if mac.endswith('AA') else 'AA'}",  # another MAC
        TokenSigner(b"y" * 32).sign("/titles/a/", ttl=60),  # another secret
    ):
        with pytest.raises(BadToken, match="signature"):
            s.verify(bad)
    # The MAC's last character with other padding bits decodes to the same bytes: still refused.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(mac[-1])
    twin = mac[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    for bad in (
        "",
        None,
        "a.b",
        "x.y.z",
        f"{exp}.{scope}.{mac}.x",
        f"{exp}.!!.{mac}",
        "1." * 600,
        f"{exp}.{scope}.{twin}",
    ):
        with pytest.raises(BadToken):
            s.verify(bad)


def test_short_secrets_and_relative_scopes_are_refused():
    with pytest.raises(EdgeError):
        TokenSigner(b"short")
    with pytest.raises(EdgeError):
        TokenSigner(SECRET).sign("titles/a/", ttl=60)


def test_secret_state_file_is_made_once_with_mode_600(tmp_path, monkeypatch):
    monkeypatch.delenv("VODFLOW_EDGE_SECRET", raising=False)
    path = tmp_path / "edge" / "secret"
    first = load_secret(path=path)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path=path) == first
    os.chmod(path, 0o644)
    with pytest.raises(EdgeError, match="600"):
        load_secret(path=path)


def test_secret_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("VODFLOW_EDGE_SECRET", "ab" * 32)
    assert load_secret(path=tmp_path / "unused") == bytes([0xAB]) * 32
    assert not (tmp_path / "unused").exists()
    monkeypatch.setenv("VODFLOW_EDGE_SECRET", "not hex")
    with pytest.raises(EdgeError, match="hex"):
        load_secret(path=tmp_path / "unused")
