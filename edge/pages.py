"""The edge's browser pages: the catalogue (``/``) and a Shaka Player page per title (``/watch/<id>``).

Routes (added to the edge's app by ``add_pages``)::

    GET /                     published titles this viewer may watch (title, version, manifests, watch link)
    GET /watch/<id>           a page that plays the title's current version with Shaka Player
    GET /player/<file>        Shaka Player from the npm install (``shaka-player.compiled.js`` only)
    GET /static/<file>        the page's own script (``watch.js``)

The catalogue is read from the origin, not from a list of our own: every pointer object
(``<prefix>/titles/<id>/current.json``, written last by ``origin.publish``) found by one delimited S3
listing, cached for ``CATALOGUE_TTL`` seconds with one fetch for concurrent requests.

Tokens. A page never hands out a token the viewer could not already get:

- a title is *public* when the edge is ``--open`` or its ID is in the config's ``pages.public`` (``"*"``:
  every title); anyone (who passes geo) gets a watch page for it;
- otherwise ``/watch/<id>`` needs a viewer token covering ``/titles/<id>/`` (``vodflow sign /titles/ --ttl
  86400`` for the whole catalogue), as ``?token=`` or the ``vodflow_viewer`` cookie that such a query sets
  (HttpOnly, SameSite=Strict, expiring with the token), so the long-lived token leaves the address bar.

The page then gets a new token scoped to ``/titles/<id>/`` alone that lives ``pages.token_ttl`` seconds
(600) and never beyond the viewer's token. Its script adds it to the manifest, segment, key and licence
requests of that title only; the page is ``no-store`` with ``Referrer-Policy: no-referrer`` and a
same-origin CSP, so the token is not cached or leaked to other sites. The manifest URL pins the version
the page was made for (``/titles/<id>/@<version>/``), so a publication during playback cannot mix two
versions' segments.

Shaka Player is served from ``e2e/node_modules/shaka-player/dist`` (``make e2e`` installs it with ``npm ci``),
or ``$VODFLOW_PLAYER_DIR``, or ``--player-dir``; never from this repository. When it is missing the watch
page says how to install it (503), nothing else breaks.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from edge.cache import Coalescer
from edge.errors import BadToken, UpstreamError, UpstreamNotFound
from edge.http import BadPath, split_content_path
from edge.tokens import covers
from edge.upstream import S3Upstream
from vodflow.ids import is_id

__all__ = ["CATALOGUE_TTL", "DEFAULT_PLAYER_DIR", "PLAYER_FILE", "PagesConfig", "add_pages"]

log = logging.getLogger("vodflow.edge")

DEFAULT_PLAYER_DIR = Path(__file__).resolve().parents[1] / "e2e" / "node_modules" / "shaka-player" / "dist"
PLAYER_FILE = "shaka-player.compiled.js"
INSTALL_HINT = "cd e2e && npm ci (make e2e does it), or start the edge with --player-dir DIR"
VIEWER_COOKIE = "vodflow_viewer"
CATALOGUE_TTL = 2.0
_STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"watch.js": "text/javascript"}
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_MAX_LIST_PAGES = 20  # 20 000 titles: a bound, so a broken listing cannot loop
_POINTER_FETCHES = 8  # pointers read at once while building the catalogue
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; media-src 'self' blob:; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True, kw_only=True)
class PagesConfig:
    """``public``: title IDs anyone may watch (``"*"`` for all); ``token_ttl``: the page token's lifetime."""

    player_dir: Path | None = None
    public: tuple[str, ...] = ()
    token_ttl: float = 600.0

    @classmethod
    def from_json(cls, cfg: dict, *, player_dir: str | os.PathLike[str] | None = None) -> PagesConfig:
        """From the edge config's ``pages`` object (``{"public": [...], "token_ttl": 600}``)."""
        public = cfg.get("public") or ()
        return cls(
            player_dir=Path(player_dir) if player_dir else None,
            public=(public,) if isinstance(public, str) else tuple(public),
            token_ttl=float(cfg.get("token_ttl", 600)),
        )

    @property
    def player(self) -> Path:
        return (self.player_dir or Path(os.environ.get("VODFLOW_PLAYER_DIR") or DEFAULT_PLAYER_DIR)) / PLAYER_FILE


@dataclass(frozen=True)
class Listed:
    """A published title as its pointer describes it (manifest paths relative to the version)."""

    title: str
    version: str
    dash: str | None
    hls: str | None
    published_at: str


class _Pages:
    def __init__(self, edge, config: PagesConfig) -> None:
        self.edge = edge
        self.config = config
        self._catalogue: tuple[float, list[Listed]] | None = None
        self._fetch: Coalescer[list[Listed]] = Coalescer()

    # --- who may watch ------------------------------------------------------------------------------
    def _public(self, title: str) -> bool:
        return not self.edge.config.require_tokens or "*" in self.config.public or title in self.config.public

    def _viewer(self, request: web.Request) -> tuple[str, str, int] | None:
        """(token, scope, expiry) of a valid viewer token in the query or the viewer cookie, else None."""
        signer = self.edge.config.signer
        if signer is None:
            return None
        for token in (request.query.get("token"), request.cookies.get(VIEWER_COOKIE)):
            if token:
                try:
                    return token, signer.verify(token), int(token.split(".", 1)[0])
                except BadToken:
                    continue
        return None

    def _may_watch(self, title: str, viewer: tuple[str, str, int] | None) -> bool:
        return self._public(title) or (viewer is not None and covers(viewer[1], f"/titles/{title}/"))

    def _remember(self, request: web.Request, response: web.Response, viewer) -> None:
        """A valid viewer token given as ``?token=`` becomes a cookie, so links need not carry it."""
        if viewer is not None and request.query.get("token") == viewer[0]:
            age = max(0, viewer[2] - int(time.time()))
            response.headers.add(
                "Set-Cookie", f"{VIEWER_COOKIE}={viewer[0]}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict"
            )

    # --- the origin's titles ------------------------------------------------------------------------
    async def _pointer(self, title: str) -> Listed:
        pointer = await self.edge.upstream.pointer(title)

        def path(value: str | None) -> str | None:
            try:
                return split_content_path(title, value)[2] if value is not None else None
            except BadPath:
                return None

        return Listed(title, pointer.version, path(pointer.dash), path(pointer.hls), pointer.published_at)

    async def _titles(self) -> list[str]:
        """Every title with a pointer: one delimited listing of the titles prefix (paged)."""
        up = self.edge.upstream
        if not isinstance(up, S3Upstream):
            raise UpstreamError(f"{up!r} cannot list titles (only an S3 origin can)", kind="protocol")
        prefix = up.titles + "/"
        titles: list[str] = []
        query = {"list-type": "2", "prefix": prefix, "delimiter": "/"}
        for _ in range(_MAX_LIST_PAGES):
            fetched = await up._get(f"{up._base}/?{urlencode(sorted(query.items()))}", f"list {prefix}")
            try:
                root = ET.fromstring(fetched.body)
            except ET.ParseError:
                raise UpstreamError(f"list {prefix}: not an S3 listing", kind="protocol") from None
            for p in root.iter(f"{_S3_NS}CommonPrefixes"):
                name = (p.findtext(f"{_S3_NS}Prefix") or "")[len(prefix) :].rstrip("/")
                if is_id(name):
                    titles.append(name)
            more = root.findtext(f"{_S3_NS}NextContinuationToken")
            if root.findtext(f"{_S3_NS}IsTruncated") != "true" or not more:
                break
            query["continuation-token"] = more
        return titles

    async def _build(self) -> list[Listed]:
        gate = asyncio.Semaphore(_POINTER_FETCHES)

        async def one(title: str) -> Listed | None:
            async with gate:
                try:
                    return await self._pointer(title)
                except UpstreamNotFound:
                    return None  # a title being unpublished (or one with versions but no pointer)

        found = await asyncio.gather(*(one(t) for t in await self._titles()))
        listed = sorted((t for t in found if t is not None), key=lambda t: t.title)
        self._catalogue = (time.monotonic() + CATALOGUE_TTL, listed)
        return listed

    async def catalogue(self) -> list[Listed]:
        cached = self._catalogue
        if cached is not None and time.monotonic() < cached[0]:
            return cached[1]
        listed, _ = await self._fetch.run("catalogue", self._build)
        return listed

    # --- handlers -----------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        viewer = self._viewer(request)
        try:
            listed = await self.catalogue()
        except UpstreamError as exc:
            log.warning("catalogue: %s", exc)
            return _page("Titles", "<p>The catalogue cannot be read from the origin right now.</p>", 502)
        rows = []
        for t in listed:
            if not self._may_watch(t.title, viewer):
                continue
            name = html.escape(t.title)
            links = " ".join(
                f'<a class="manifest" href="/titles/{name}/{html.escape(p)}">{kind}</a>'
                for kind, p in (("DASH", t.dash), ("HLS", t.hls))
                if p
            )
            rows.append(
                f'<tr data-title="{name}"><td><a class="watch" href="/watch/{name}">{name}</a></td>'
                f"<td><code>{html.escape(t.version)}</code></td><td>{html.escape(t.published_at)}</td>"
                f"<td>{links}</td></tr>"
            )
        hidden = len(listed) - len(rows)
        body = (
            "<table><thead><tr><th>title</th><th>version</th><th>published</th><th>manifests</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            if rows
            else "<p>No published titles you can watch.</p>"
        )
        if hidden:
            sign = "<code>vodflow sign /titles/</code>"
            body += f"<p>Some titles need a viewer token: open <code>/?token=TOKEN</code> ({sign}).</p>"
        response = _page("Titles", body)
        self._remember(request, response, viewer)
        return response

    async def watch(self, request: web.Request) -> web.Response:
        title = request.match_info["title"]
        edge = self.edge
        if not is_id(title):
            return _page("Not found", "<p>There is no such title.</p>", 404)
        if not edge.config.geo.allowed(title, request.remote, request.headers.get("X-Forwarded-For")):
            edge.metrics.errors["geo"] += 1
            return _page("Not available", "<p>This title is not available in your country.</p>", 403)
        viewer = self._viewer(request)
        if not self._may_watch(title, viewer):
            edge.metrics.errors["token"] += 1
            return _page("Forbidden", "<p>This title needs a viewer token: open this page with ?token=.</p>", 403)
        if edge.config.signer is None:
            return _page("Unavailable", "<p>This edge has no token secret, so it cannot issue licences.</p>", 503)
        try:
            listed = await self._pointer(title)
        except UpstreamNotFound:
            return _page("Not found", f"<p>There is no published title <code>{html.escape(title)}</code>.</p>", 404)
        except UpstreamError as exc:
            log.warning("watch page of %s: %s", title, exc)
            return _page("Unavailable", "<p>The origin cannot be reached right now.</p>", 502)
        manifest = listed.dash or listed.hls
        if manifest is None:
            return _page("Not playable", "<p>This title has no DASH or HLS manifest.</p>", 404)
        if not self.config.player.is_file():
            hint = f"<p>Shaka Player is not installed: {html.escape(INSTALL_HINT)}.</p>"
            return _page("Player missing", hint, 503)
        ttl = self.config.token_ttl
        if viewer is not None and not self._public(title):
            ttl = min(ttl, viewer[2] - time.time())
        token = edge.config.signer.sign(f"/titles/{title}/", ttl=max(ttl, 1))
        config = {
            "title": title,
            "version": listed.version,
            "manifest": f"/titles/{title}/@{listed.version}/{manifest}",
            "license": f"/license/{title}",
            "token": token,
            "scopes": [f"/titles/{title}/", f"/keys/{title}/", f"/license/{title}"],
        }
        data = json.dumps(config).replace("<", "\\u003c").replace("&", "\\u0026")
        body = (
            '<video id="video" controls autoplay muted playsinline></video>'
            f'<p id="status">Loading {html.escape(title)} (version <code>{html.escape(listed.version)}</code>)...</p>'
            '<p><a href="/">All titles</a></p>'
            f'<script type="application/json" id="watch-config">{data}</script>'
            f'<script src="/player/{PLAYER_FILE}"></script><script src="/static/watch.js"></script>'
        )
        response = _page(title, body)
        self._remember(request, response, viewer)
        return response

    async def player(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["file"] != PLAYER_FILE or not self.config.player.is_file():
            raise web.HTTPNotFound(text=f"no player here: {INSTALL_HINT}\n")
        return web.FileResponse(self.config.player, headers={"Content-Type": "text/javascript"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["file"]
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound(text="not found\n")
        return web.FileResponse(_STATIC / name, headers={"Content-Type": _STATIC_FILES[name]})


_STYLE = (
    "body{font-family:sans-serif;margin:2em;background:#111;color:#eee}a{color:#8cf}"
    "td,th{padding:.3em 1em;text-align:left}video{width:640px;height:360px;background:#000}"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - vodflow</title>'
        f'<link rel="icon" href="data:,"><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=_PAGE_HEADERS)


def add_pages(app: web.Application, edge, config: PagesConfig | None = None) -> None:
    """Add the catalogue, watch page and player files to the edge's ``app`` (``edge``: its state)."""
    pages = _Pages(edge, config or PagesConfig())
    app.router.add_get("/", pages.index)
    app.router.add_get("/watch/{title}", pages.watch)
    app.router.add_get("/player/{file}", pages.player)
    app.router.add_get("/static/{file}", pages.static)
