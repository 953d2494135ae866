"""The edge's key and licence endpoints: content keys from the key store, to a token scoped to the title.

Routes (added by ``edge.app.make_app``)::

    POST /license/<id>       W3C ClearKey licence: ``{"kids": [base64url, ...], "type": "temporary"}`` in,
                             ``{"keys": [{"kty": "oct", "kid", "k"}, ...], "type": "temporary"}`` out
    GET  /keys/<id>/<kid>    HLS AES-128 / SAMPLE-AES key, 16 raw bytes

Both always need a token (even on an ``--open`` edge) and are never cached (``Cache-Control: no-store``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json

from aiohttp import web

from edge.http import BadPath, split_content_path
from edge.server import NO_STORE, Edge
from packager import KeyStoreError, TitleKeys

__all__ = ["MAX_LICENSE_BODY", "KeyEndpoints"]

MAX_LICENSE_BODY = 8192  # bytes of a licence request; also the application's client_max_size
_MAX_KIDS = 64


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("bad kid")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyEndpoints:
    """The ``/keys/`` and ``/license/`` handlers of one edge: ``edge`` authorises and counts, its
    ``config.keystore`` (None: this edge serves no keys) holds the keys."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.metrics = edge.metrics

    async def _keys_of(self, title: str) -> TitleKeys:
        keystore = self.edge.config.keystore
        if keystore is None:
            raise web.HTTPNotFound(text="this edge serves no keys\n")
        try:
            return await asyncio.get_running_loop().run_in_executor(None, keystore.load, title)
        except KeyStoreError:
            raise web.HTTPNotFound(text="no keys for this title\n") from None

    def _check_title(self, title: str) -> None:
        try:
            split_content_path(title, "x")
        except BadPath:
            self.metrics.errors["bad_path"] += 1
            raise web.HTTPBadRequest(text="bad title name\n") from None

    async def key(self, request: web.Request) -> web.Response:
        """``GET /keys/<title>/<kid>``: the 16 key bytes; 400 for a bad kid, 403 without a token, 404."""
        title, kid = request.match_info["title"], request.match_info["kid"].replace("-", "").lower()
        self._check_title(title)
        if len(kid) != 32 or any(c not in "0123456789abcdef" for c in kid):
            raise web.HTTPBadRequest(text="bad key ID\n")
        self.edge.authorise(request, title, f"/titles/{title}/", keys=True)
        keys = await self._keys_of(title)
        match = [k for k in keys.keys.values() if k.kid == kid]
        if not match:
            raise web.HTTPNotFound(text="no such key\n")
        headers = {"Content-Type": "application/octet-stream", "Cache-Control": NO_STORE, "Pragma": "no-cache"}
        self.edge.cors(request, headers)
        return web.Response(body=match[0].key_bytes, headers=headers)

    async def license(self, request: web.Request) -> web.Response:
        """``POST /license/<title>``: a ClearKey licence for the kids asked for that the title has; 400 for
        a malformed request, 403 without a token, 404 when none of the kids is the title's, 413."""
        title = request.match_info["title"]
        self._check_title(title)
        self.edge.authorise(request, title, f"/titles/{title}/", keys=True)
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
            self.metrics.errors["bad_license_request"] += 1
            want = '{"kids": [base64url, ...], "type": "temporary"}'
            raise web.HTTPBadRequest(text=f"bad licence request: want {want}\n") from None
        keys = await self._keys_of(title)
        by_kid = {k.kid_bytes: k for k in keys.keys.values()}
        found = [by_kid[k] for k in wanted if k in by_kid]
        if not found:
            raise web.HTTPNotFound(text="no such key\n")
        body = {
            "keys": [{"kty": "oct", "kid": _b64url(k.kid_bytes), "k": _b64url(k.key_bytes)} for k in found],
            "type": "temporary",
        }
        headers = {"Content-Type": "application/json", "Cache-Control": NO_STORE, "Pragma": "no-cache"}
        self.edge.cors(request, headers)
        return web.Response(body=json.dumps(body).encode(), headers=headers)
