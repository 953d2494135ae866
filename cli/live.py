"""``vodflow live start|stop|status CHANNEL``: a live channel from a source, served with LL-HLS and LL-DASH."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError

from flows.live import ChannelConfig, ChannelStatus, start, status, stop
from packager import DASH_MANIFEST, HLS_MASTER
from vodflow.errors import UsageError

__all__ = ["cmd_live"]


def _config(args: argparse.Namespace) -> ChannelConfig:
    fields: dict = {}
    if args.config:
        path = Path(args.config)
        try:
            fields = json.loads(path.read_text())
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the channel config ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise UsageError(f"{path}: not JSON ({exc})") from None
        if not isinstance(fields, dict):
            raise UsageError(f"{path}: a channel config is a JSON object")
    fields["name"] = args.channel
    if args.source:
        fields["source"] = args.source
    if args.port is not None:
        fields["port"] = args.port
    if args.origin:
        fields["origin"] = args.origin
    if args.no_archive:
        fields["archive"] = False
    if "source" not in fields:
        raise UsageError("live start needs --source (or a config with a source)")
    try:
        return ChannelConfig.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise UsageError(f"{args.config or 'channel config'}: {where}: {err['msg']}") from None


def _print(st: ChannelStatus, as_json: bool) -> None:
    if as_json:
        print(st.to_json())
        return
    speed = "-" if st.speed is None else f"{st.speed:.2f}x"
    print(f"{st.name}: {st.state}, {st.segments} segments, encoder runs {st.runs}, speed {speed}, dropped {st.dropped}")
    if st.url and st.state in ("live", "stalled"):
        print(f"  LL-HLS  {st.url}{HLS_MASTER}\n  LL-DASH {st.url}{DASH_MANIFEST}")
    if st.message:
        print(f"  {st.message}")


def cmd_live(args: argparse.Namespace) -> int:
    if args.action == "start":
        st = start(_config(args), root=args.dir)
    elif args.action == "stop":
        st = stop(args.channel, args.dir)
    else:
        st = status(args.channel, args.dir)
    _print(st, args.json)
    return 1 if st.state == "failed" else 0
