"""Running an edge as a process: command-line options, the config they make, and the server loop.

``vodflow edge`` and ``python -m edge`` share ``add_arguments`` and ``serve``, so a benchmark can
start the edge as its own process with ``--port``, ``--origin``/``--upstream`` and ``--cache-bytes``.
SIGTERM and SIGINT stop it gracefully: the listener closes, requests in flight finish (up to
``--shutdown-timeout``), then the upstream connections close.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from pathlib import Path

from aiohttp import web

from edge.access import AccessLogger, access_log
from edge.app import make_app
from edge.errors import EdgeError
from edge.fast import EdgeRunner
from edge.geo import Geo, IPTable
from edge.pages import PagesConfig
from edge.server import EdgeConfig
from edge.tokens import TokenSigner, load_secret
from edge.upstream import HttpUpstream, Retry, S3Upstream, Timeouts, Upstream
from origin.config import Origin
from packager import KeyStore
from vodflow.errors import UsageError
from vodflow.state import State, folder, help_text, secret_help

__all__ = ["add_arguments", "config_from_args", "parse_bytes", "serve"]

log = logging.getLogger("vodflow.edge")


def parse_bytes(text: str) -> int:
    """``"256M"`` → 268435456 (K, M, G are powers of 1024); raises ``UsageError``."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)[bB]?\s*", str(text))
    if m is None:
        raise UsageError(f"{text!r} is not a size (e.g. 512M, 2G, 1048576)")
    return int(m.group(1)) * 1024 ** " KMG".index((m.group(2) or " ").upper())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--origin", help="s3://bucket/prefix (default: the embedded origin, `vodflow origin up`)")
    src.add_argument("--upstream", metavar="URL", help="another edge to fetch from (tiered caching)")
    p.add_argument("--cache-bytes", default="256M", help="memory cache size (default 256M)")
    p.add_argument("--cache-policy", choices=["tinylfu", "lru"], default="tinylfu",
                   help="memory admission: tinylfu (frequency-aware, default) or lru (admit everything)")  # fmt: skip
    p.add_argument("--disk-cache", metavar="DIR", help="a bounded disk tier in this folder")
    p.add_argument("--disk-bytes", default="0", help="disk tier size (e.g. 4G; default 0 = none)")
    p.add_argument("--keys", help=f"key store folder ({help_text(State.KEYS)})")
    p.add_argument("--secret-file", help=f"token secret file ({secret_help()})")
    p.add_argument("--open", action="store_true", help="serve content without tokens (keys always need one)")
    p.add_argument("--config", metavar="JSON", help="geo rules, IP table, trusted proxies, CORS origins, TTLs")
    p.add_argument("--connections", type=int, default=32, help="upstream connection pool size (default 32)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds for a whole upstream fetch (default 5)")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds to let requests finish")
    p.add_argument("--live-dir", help=f"relay /live/<channel>/ to the channels there ({help_text(State.LIVE)})")
    p.add_argument("--player-dir", help="Shaka Player dist folder (default e2e/node_modules/shaka-player/dist)")
    p.add_argument("--no-access-log", action="store_true", help="do not write JSON access log lines to stdout")


def _geo(cfg: dict, base: Path) -> Geo:
    table = cfg.get("ip_table")
    if isinstance(table, str):
        path = Path(table) if Path(table).is_absolute() else base / table
        try:
            table = IPTable.parse(path.read_text())
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the IP table ({exc.strerror or exc})") from None
    elif isinstance(table, dict):
        table = IPTable(table)
    else:
        table = IPTable()
    return Geo.build(table=table, titles=cfg.get("titles") or {}, trusted_proxies=cfg.get("trusted_proxies") or ())


def _read_config(path: str | None) -> tuple[dict, Path]:
    if not path:
        return {}, Path.cwd()
    try:
        return json.loads(Path(path).read_text()), Path(path).resolve().parent
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the edge config ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None


def _upstream(args: argparse.Namespace, signer: TokenSigner, **kwargs) -> Upstream:
    if args.upstream:
        if not re.match(r"https?://", args.upstream):
            raise UsageError(f"--upstream {args.upstream!r}: expected http(s)://host:port")
        return HttpUpstream(args.upstream, signer=signer, **kwargs)
    return S3Upstream.from_origin(Origin.resolve(args.origin), **kwargs)


def config_from_args(args: argparse.Namespace) -> EdgeConfig:
    """The ``EdgeConfig`` the options describe; raises ``UsageError``/``EdgeError`` for bad ones."""
    cfg, base = _read_config(args.config)
    signer = TokenSigner(load_secret(path=args.secret_file))
    timeouts = Timeouts(connect=min(1.0, args.timeout), read=min(3.0, args.timeout), total=args.timeout)
    upstream = _upstream(args, signer, timeouts=timeouts, retry=Retry(), connections=args.connections)
    ttl = cfg.get("ttl") or {}
    return EdgeConfig(
        upstream=upstream,
        signer=signer,
        require_tokens=not args.open,
        keystore=KeyStore(args.keys),
        geo=_geo(cfg.get("geo") or {}, base),
        cache_bytes=parse_bytes(args.cache_bytes),
        cache_admission=args.cache_policy == "tinylfu",
        disk_dir=Path(args.disk_cache) if args.disk_cache else None,
        disk_bytes=parse_bytes(args.disk_bytes),
        ttl_segment=float(ttl.get("segment", 86400)),
        ttl_manifest=float(ttl.get("manifest", 2)),
        ttl_pointer=float(ttl.get("pointer", 1)),
        cors_origins=tuple(cfg.get("cors_origins") or ("*",)),
        pages=PagesConfig.from_json(cfg.get("pages") or {}, player_dir=args.player_dir),
        live_dir=folder(State.LIVE, args.live_dir),
    )


def serve(args: argparse.Namespace) -> int:
    """Run the edge until SIGTERM/SIGINT; prints one JSON line with the address when listening."""
    config = config_from_args(args)
    if not args.no_access_log and not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    elif args.no_access_log:
        access_log.setLevel(logging.WARNING)
    app = make_app(config)
    # As aiohttp's run_app does: a signal raises GracefulExit out of the loop; then only the main task is
    # cancelled, so its cleanup waits for the request handlers, which asyncio.run would cancel with it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(app, args.host, args.port, args.shutdown_timeout, repr(config.upstream)))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        main.cancel()
        with contextlib.suppress(asyncio.CancelledError, web.GracefulExit, KeyboardInterrupt):
            loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        if rest:
            loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


async def _serve(app: web.Application, host: str, port: int, shutdown_timeout: float, upstream: str) -> None:
    runner = EdgeRunner(
        app,
        handle_signals=True,  # SIGTERM/SIGINT raise GracefulExit here
        shutdown_timeout=shutdown_timeout,
        access_log=access_log,
        access_log_class=AccessLogger,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise EdgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound_host, bound_port = runner.addresses[0][:2]
        ready = {"edge": f"http://{bound_host}:{bound_port}", "upstream": upstream, "pid": os.getpid()}
        print(json.dumps(ready), flush=True)
        await asyncio.Event().wait()  # until a signal raises GracefulExit
    finally:
        await runner.cleanup()  # stop listening, let requests in flight finish, then on_cleanup
