"""Signed-URL tokens: HMAC-SHA256 over an expiry and a path-prefix scope.

A token is ``<expiry>.<scope>.<mac>``: the expiry in Unix seconds, the scope base64url-encoded and the
MAC base64url-encoded (no padding), so it travels unescaped in a query string or a cookie. The MAC
covers a version tag, the expiry and the scope, so changing any of them breaks it. One token covers a
whole title when its scope is ``/titles/<id>/``; a scope without a trailing slash covers that exact
path and everything below it as a folder (``/titles/a`` covers ``/titles/a/x`` but not ``/titles/ab``).

The secret comes from, in order: the caller, ``$VODFLOW_EDGE_SECRET`` (hex), or a state file
(``$VODFLOW_EDGE_SECRET_FILE``, else ``.vodflow/edge/secret``) generated once with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
import time

from edge.errors import BadToken, EdgeError
from vodflow.state import edge_secret_file

__all__ = ["MAX_TOKEN_CHARS", "TokenSigner", "covers", "load_secret"]

MAX_TOKEN_CHARS = 1024
_VERSION = b"vodflow-edge-token-v1"
_MEMO_TOKENS = 4096  # valid tokens remembered, so the hit path checks a token's MAC once, not per request


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # One spelling per token: the decoder ignores the last character's padding bits, so without this a
    # token with them changed would still verify.
    if _b64e(raw) != text:
        raise ValueError("not canonical base64url")
    return raw


def covers(scope: str, path: str) -> bool:
    """True when a token scoped to ``scope`` may read ``path`` (both already-decoded absolute paths)."""
    if scope.endswith("/"):
        return path.startswith(scope)
    return path == scope or path.startswith(scope + "/")


class TokenSigner:
    """Signs and verifies tokens with one secret. ``TokenSigner(secret).sign("/titles/bbb/", ttl=3600)``."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise EdgeError("the edge token secret must be at least 16 bytes")
        self._secret = secret
        self._valid: dict[str, tuple[int, str]] = {}  # token -> (expiry, scope): each MAC checked once

    def __repr__(self) -> str:
        return "TokenSigner(<secret>)"

    def _mac(self, expiry: int, scope: str) -> bytes:
        msg = b"\n".join((_VERSION, str(expiry).encode(), scope.encode("utf-8")))
        return hmac.new(self._secret, msg, hashlib.sha256).digest()

    def sign(self, scope: str, *, ttl: float, now: float | None = None) -> str:
        """A token for ``scope`` (an absolute path prefix) valid for ``ttl`` seconds from ``now``."""
        if not scope.startswith("/"):
            raise EdgeError(f"token scope {scope!r} must be an absolute path (start with /)")
        if ttl <= 0:
            raise EdgeError(f"token lifetime must be positive, not {ttl}")
        expiry = int((time.time() if now is None else now) + ttl)
        return f"{expiry}.{_b64e(scope.encode('utf-8'))}.{_b64e(self._mac(expiry, scope))}"

    def verify(self, token: str | None, *, now: float | None = None) -> str:
        """The scope of a valid, unexpired ``token``; raises ``BadToken`` saying why otherwise."""
        if not token:
            raise BadToken("no token")
        known = self._valid.get(token)
        if known is not None and known[0] > (time.time() if now is None else now):
            return known[1]
        if len(token) > MAX_TOKEN_CHARS:
            raise BadToken("token too long")
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
            raise BadToken("malformed token")
        try:
            scope_raw, mac = _b64d(parts[1]), _b64d(parts[2])
            scope = scope_raw.decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadToken("malformed token") from None
        expiry = int(parts[0])
        if not hmac.compare_digest(mac, self._mac(expiry, scope)):
            raise BadToken("token signature does not match")
        if expiry <= (time.time() if now is None else now):
            raise BadToken("token expired")
        if len(self._valid) >= _MEMO_TOKENS:
            self._valid.clear()  # a bound, not an LRU: players re-present few tokens, each for hours
        self._valid[token] = (expiry, scope)
        return scope

    def authorise(self, token: str | None, path: str, *, now: float | None = None) -> str:
        """The token's scope if it is valid and covers ``path``; raises ``BadToken`` otherwise."""
        scope = self.verify(token, now=now)
        if not covers(scope, path):
            raise BadToken("token scope does not cover this path")
        return scope


def load_secret(secret: str | bytes | None = None, *, path: str | os.PathLike[str] | None = None) -> bytes:
    """The token secret: ``secret`` if given (hex text or raw bytes), else ``$VODFLOW_EDGE_SECRET`` (hex),
    else the state file (``path`` or the default), created with 32 random bytes and mode 0600 on first use.
    Raises ``EdgeError`` for a secret that is not hex, or a state file readable by others."""
    if isinstance(secret, bytes):
        return secret
    text = secret if secret is not None else os.environ.get("VODFLOW_EDGE_SECRET")
    if text:
        try:
            return bytes.fromhex(text.strip())
        except ValueError:
            raise EdgeError("the edge token secret must be hex digits") from None
    file = edge_secret_file(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, file)  # first writer wins; a concurrent edge reads the same secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise EdgeError(f"{file}: the edge secret file has mode {mode:o}; it must be 600")
    return load_secret(file.read_text().strip())
