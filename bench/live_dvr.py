"""The DVR window in real players (``python -m bench.live_dvr [--back S] [--json]``).

One channel with the default window (5 minutes) runs from the generated source (``vodflow live start``'s
supervisor, in its own process) until it holds ``--back`` seconds (default 240: the issue's "seek back 4
min") and 20 more; then hls.js (LL-HLS), Shaka Player (LL-HLS and LL-DASH) and dash.js (LL-DASH) in
headless Chromium each join at the live edge, watch 5 s, seek ``--back`` seconds behind live and watch
8 s. A seek passes when the first frame after it is dated ``--back`` (within 1.5 s) before the frame
before it and the playhead then moves on at least 2 s (``e2e/tests/live_harness.seek_problems``). Takes
``--back`` + 60 s or so. With ``--json`` the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from flows.live import ChannelConfig, start, stop
from packager import DASH_MANIFEST, HLS_MASTER
from pipeline.live_ladder import parse_ladder

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e" / "tests"))
from browser_harness import serve
from live_harness import LiveCase, play_live, seek_problems

LADDER = "640x360@800k,320x180@250k"
PLAYS = (("llhls-hlsjs", "hlsjs", HLS_MASTER), ("llhls-shaka", "shaka", HLS_MASTER),
         ("lldash-dashjs", "dashjs", DASH_MANIFEST), ("lldash-shaka", "shaka", DASH_MANIFEST))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--back", type=float, default=240.0, help="seconds to seek back behind live (default 240)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = ap.parse_args()
    name = "dvr"
    with tempfile.TemporaryDirectory(prefix="bench-live-dvr-") as tmp:
        work = Path(tmp)
        config = ChannelConfig(name=name, source="testsrc", ladder=parse_ladder(LADDER), archive=False, publish=False)
        st = start(config, root=work / "live")
        wait = args.back + 20
        print(f"channel {name} live (DVR {config.dvr_s:g} s); filling {wait:g} s of it before the players join")
        try:
            time.sleep(wait)
            cases = [
                LiveCase(id=play, player=player, manifest=f"/live/{name}/{manifest}", seconds=5.0,
                         seek_back=args.back, seek_watch=8.0, timeout_ms=60000, shot_every_ms=0)
                for play, player, manifest in PLAYS
            ]  # fmt: skip
            with serve(work) as server:
                server.proxy(f"/live/{name}/", st.url.split("/live/")[0])
                results = play_live(cases, server.url, work / "browser")
        finally:
            stop(name, work / "live")
    out: dict = {"seek_back_s": args.back}
    for c in cases:
        r = results[c.id]
        problems = seek_problems(c, r)
        seek = r.get("seek") or {}
        out[f"{c.id}_seek_ok"] = not problems
        out[f"{c.id}_advanced_s"] = seek.get("advancedS")
        print(f"  {c.id}: {'plays' if not problems else 'FAILS: ' + '; '.join(problems)} (seek {json.dumps(seek)})")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
