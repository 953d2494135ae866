"""The edge's key and licence endpoints: content keys from the key store, to a token scoped to the title.

Routes (added by ``edge.app.make_app``)::

    POST /license/<id>       W3C ClearKey licence: ``{"kids": [base64url, ...], "type": "temporary"}`` in,
                             ``{"keys": [{"kty": "oct", "kid", "k"}, ...], "type": "temporary"}`` out
    GET  /keys/<id>/<kid>    HLS AES-128 / SAMPLE-AES key, 16 raw bytes

Both always need a token (even on an ``--open`` edge) and are never cached (``Cache-Control: no-store``).
The pieces (``load_keys``, ``read_licence_request``, ``licence_response``, ``key_response``) serve a live
channel's keys too (``edge.live``: ``/live/<channel>/license`` and ``/live/<channel>/key/<kid>``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import MutableMapping

from aiohttp import web

from edge.http import BadPath, split_content_path
from edge.server import NO_STORE, Edge
from packager import KeyStore, KeyStoreError, TitleKeys

__all__ = [
    "MAX_LICENSE_BODY",
    "KeyEndpoints",
    "key_response",
    "licence_response",
    "load_keys",
    "parse_kid",
    "read_licence_request",
]

MAX_LICENSE_BODY = 8192  # bytes of a licence request; also the application's client_max_size
_MAX_KIDS = 64
_HEADERS = {"Cache-Control": NO_STORE, "Pragma": "no-cache"}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("bad kid")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def load_keys(keystore: KeyStore | None, title: str) -> TitleKeys:
    """``title``'s keys from ``keystore`` (read off the loop); 404 when there is no store or no keys."""
    if keystore is None:
        raise web.HTTPNotFound(text="this edge serves no keys\n")
    try:
        return await asyncio.get_running_loop().run_in_executor(None, keystore.load, title)
    except KeyStoreError:
        raise web.HTTPNotFound(text="no keys for this title\n") from None


def parse_kid(text: str) -> str:
    """A key ID from a URL (hex, any case, dashes allowed) as 32 lower-case hex digits; 400 otherwise."""
    kid = text.replace("-", "").lower()
    if len(kid) != 32 or any(c not in "0123456789abcdef" for c in kid):
        raise web.HTTPBadRequest(text="bad key ID\n")
    return kid


async def read_licence_request(request: web.Request, errors: MutableMapping[str, int] | None = None) -> list[bytes]:
    """The key IDs a ClearKey licence request asks for (16 bytes each); 413 for a body over
    ``MAX_LICENSE_BODY``, 400 for one that is not ``{"kids": [base64url, ...], "type": "temporary"}``
    (counted in ``errors["bad_license_request"]``)."""
    if (request.content_length or 0) > MAX_LICENSE_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_LICENSE_BODY, actual_size=request.content_length)
    raw = await request.content.read(MAX_LICENSE_BODY + 1)
    if len(raw) > MAX_LICENSE_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_LICENSE_BODY, actual_size=len(raw))
    try:
        req = json.loads(raw)
        kids = req["kids"]
        kind = req.get("type", "temporary")
        if not isinstance(kids, list) or not kids or len(kids) > _MAX_KIDS or kind != "temporary":
            raise ValueError
        wanted = [_b64url_decode(k) for k in kids]
        if any(len(k) != 16 for k in wanted):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        if errors is not None:
            errors["bad_license_request"] += 1
        want = '{"kids": [base64url, ...], "type": "temporary"}'
        raise web.HTTPBadRequest(text=f"bad licence request: want {want}\n") from None
    return wanted


def licence_response(keys: TitleKeys, wanted: list[bytes], headers: dict[str, str] | None = None) -> web.Response:
    """The ClearKey licence (JSON Web Key set) for the ``wanted`` key IDs ``keys`` holds, never cached, with
    ``headers`` (CORS) added; 404 when it holds none of them."""
    by_kid = {k.kid_bytes: k for k in keys.keys.values()}
    found = [by_kid[k] for k in wanted if k in by_kid]
    if not found:
        raise web.HTTPNotFound(text="no such key\n")
    body = {
        "keys": [{"kty": "oct", "kid": _b64url(k.kid_bytes), "k": _b64url(k.key_bytes)} for k in found],
        "type": "temporary",
    }
    out = {"Content-Type": "application/json", **_HEADERS, **(headers or {})}
    return web.Response(body=json.dumps(body).encode(), headers=out)


def key_response(keys: TitleKeys, kid: str, headers: dict[str, str] | None = None) -> web.Response:
    """The 16 raw bytes of key ``kid`` (32 lower-case hex digits, see ``parse_kid``) of ``keys``, never
    cached, with ``headers`` added; 404 when ``keys`` has no such key."""
    match = [k for k in keys.keys.values() if k.kid == kid]
    if not match:
        raise web.HTTPNotFound(text="no such key\n")
    out = {"Content-Type": "application/octet-stream", **_HEADERS, **(headers or {})}
    return web.Response(body=match[0].key_bytes, headers=out)


class KeyEndpoints:
    """The ``/keys/`` and ``/license/`` handlers of one edge: ``edge`` authorises and counts, its
    ``config.keystore`` (None: this edge serves no keys) holds the keys."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.metrics = edge.metrics

    def _check_title(self, title: str) -> None:
        try:
            split_content_path(title, "x")
        except BadPath:
            self.metrics.errors["bad_path"] += 1
            raise web.HTTPBadRequest(text="bad title name\n") from None

    async def key(self, request: web.Request) -> web.Response:
        """``GET /keys/<title>/<kid>``: the 16 key bytes; 400 for a bad kid, 403 without a token, 404."""
        title = request.match_info["title"]
        self._check_title(title)
        kid = parse_kid(request.match_info["kid"])
        self.edge.authorise(request, title, f"/titles/{title}/", keys=True)
        keys = await load_keys(self.edge.config.keystore, title)
        headers: dict[str, str] = {}
        self.edge.cors(request, headers)
        return key_response(keys, kid, headers)

    async def license(self, request: web.Request) -> web.Response:
        """``POST /license/<title>``: a ClearKey licence for the kids asked for that the title has; 400 for
        a malformed request, 403 without a token, 404 when none of the kids is the title's, 413."""
        title = request.match_info["title"]
        self._check_title(title)
        self.edge.authorise(request, title, f"/titles/{title}/", keys=True)
        wanted = await read_licence_request(request, self.metrics.errors)
        keys = await load_keys(self.edge.config.keystore, title)
        headers: dict[str, str] = {}
        self.edge.cors(request, headers)
        return licence_response(keys, wanted, headers)
