"""The edge as an aiohttp application: its routes, the guard in front of every handler, ``make_app``.

Routes::

    GET|HEAD /titles/<id>/...        content (edge.server.Edge)
    POST     /license/<id>           ClearKey licence (edge.keys)
    GET      /keys/<id>/<kid>        HLS key (edge.keys)
    GET      /healthz, /metrics      liveness; Prometheus text
    GET      /, /watch/<id>          catalogue and Shaka Player page (edge.pages)
    GET|HEAD /live/<channel>/...     live channels, when make_app is given some (edge.live)
    OPTIONS  anything                CORS preflight
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiohttp import web

from edge.http import BadPath, check_raw_path
from edge.keys import MAX_LICENSE_BODY, KeyEndpoints
from edge.live import add_live
from edge.live_relay import add_live_relay
from edge.pages import add_pages
from edge.server import EDGE_KEY, Edge, EdgeConfig
from packager import ChannelState

__all__ = ["make_app"]

log = logging.getLogger("vodflow.edge")


@web.middleware
async def _guard(request: web.Request, handler):
    """Refuse bad request targets before any handler runs; never let a traceback reach a client."""
    edge = request.app[EDGE_KEY]
    try:
        check_raw_path(request.raw_path, max_chars=edge.config.max_url_chars)
    except BadPath as exc:
        edge.metrics.errors["url_too_long" if exc.too_long else "bad_path"] += 1
        if exc.too_long:
            raise web.HTTPRequestURITooLong() from None
        raise web.HTTPBadRequest(text=f"bad request: {exc}\n") from None
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        edge.metrics.errors["internal"] += 1
        raise web.HTTPInternalServerError(text="internal error\n") from None


def make_app(config: EdgeConfig, *, live: Mapping[str, ChannelState] | None = None) -> web.Application:
    """The edge as an ``aiohttp.web.Application`` (closing it closes the upstream's connections), serving
    the live channels ``live`` (name -> state) too when given. Raises ``EdgeError`` for a bad channel name."""
    app = web.Application(middlewares=[_guard], client_max_size=MAX_LICENSE_BODY)
    edge = Edge(config)
    keys = KeyEndpoints(edge)
    app[EDGE_KEY] = edge
    app.router.add_get("/titles/{title}/{rest:.+}", edge.content)  # and HEAD
    app.router.add_post("/license/{title}", keys.license)
    app.router.add_get("/keys/{title}/{kid}", keys.key, allow_head=False)
    app.router.add_get("/healthz", edge.healthz)
    app.router.add_get("/metrics", edge.metrics_page)
    add_pages(app, edge, config.pages)  # /, /watch/<id>, /player/, /static/
    if live:
        add_live(
            app,
            live,
            signer=config.signer,
            require_tokens=config.require_tokens,
            cors=edge.cors,
            keystore=config.keystore,
        )
    elif config.live_dir is not None:
        add_live_relay(
            app,
            config.live_dir,
            signer=config.signer,
            require_tokens=config.require_tokens,
            cors=edge.cors,
            keystore=config.keystore,
        )
    app.router.add_route("OPTIONS", "/{tail:.*}", edge.preflight)

    async def close(_app: web.Application) -> None:
        await edge.cache.drain()
        await edge.upstream.close()

    app.on_cleanup.append(close)
    return app
