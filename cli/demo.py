"""``make demo``: the whole job end to end on the embedded defaults, small enough for two cores.

Samples → short 640x360 excerpts → SeaweedFS (its own state folder) → Prefect's embedded server →
``ingest_batch`` (per-title ladder, H.264 + VP9, cenc, published) → the edge (its own process) → the
player simulator on a few network traces through the edge → watch URLs and a QoE table. Everything it
starts is stopped before it returns, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

from cli.console import StageBoard, prefect_console_off, quiet_prefect
from edge.process import EdgeProcess
from edge.tokens import TokenSigner
from flows.settings import Settings
from ladders.policy import AnalysisPolicy
from origin.seaweed import Seaweed
from pipeline.synth import excerpt
from player import trace
from player.play import play_edge
from player.qoe import qoe
from samples import DEFAULT_DIR, make_samples
from vodflow.tables import table

__all__ = ["DEMO_SECONDS", "cmd_demo", "run_demo"]

log = logging.getLogger(__name__)

DEMO_SECONDS = 6.0  # each sample's excerpt: three 2 s GOPs
DEMO_SIZE = (640, 360)
ABR = "bolae"


def _settings(out: Path) -> Settings:
    # A small analysis (two sizes x three H.264 / two VP9 CRFs on the whole 6 s excerpt) and three rungs.
    policy = AnalysisPolicy(
        heights=(360, 216), crfs={"h264": (23, 29, 35), "vp9": (34, 46)}, extend=0, extend_down=0, subsample=5
    )
    return Settings(
        codecs=("h264", "vp9"),
        encrypt="cenc",
        segment_seconds=2.0,
        max_rungs=3,
        analysis=policy,
        quality_every=3,
        sidecar_every=3,
        origin_state=str(out / "origin"),
        keystore=str(out / "keys"),
        workspace=str(out / "work"),
    )


def _sources(out: Path) -> list[Path]:
    made = make_samples(DEFAULT_DIR)
    src_dir = out / "sources"
    src_dir.mkdir(parents=True, exist_ok=True)
    w, h = DEMO_SIZE
    return [
        p if p.exists() else excerpt(s, p, width=w, height=h, seconds=DEMO_SECONDS, show_progress=False)
        for s in made
        for p in [src_dir / s.name]
    ]


def _play(edge: str, results, token: str) -> list[tuple]:
    """The simulator on three traces for every published title; rows of the QoE table."""
    traces = [
        trace.steady(3_000_000, name="steady 3 Mb/s"),
        trace.step([(8, 2_000_000), (8, 400_000), (8, 1_500_000)], name="2 Mb/s, dip to 0.4"),
        trace.steady(600_000, name="steady 0.6 Mb/s"),
    ]
    rows = []
    for r in results:
        if r.state != "completed":
            continue
        url = f"{edge}/titles/{r.title}/master.m3u8?token={token}"
        rungs = json.loads((Path(r.workspace) / "ladder.json").read_text())["rungs"]
        # A title whose per-title ladder is a single H.264 rung has nothing to adapt: the throughput rule
        # plays it, so the table does not suggest BOLA-E chose anything.
        abr = ABR if sum(x["codec"] == "h264" for x in rungs) > 1 else "throughput"
        for q in map(qoe, play_edge(url, traces, abr, session_s=30.0, codec="h264")):
            vmaf = "-" if q.time_average_vmaf is None else f"{q.time_average_vmaf:.1f}"
            rebuffer = f"{100 * q.rebuffer_ratio:.1f}"
            rows.append((r.title, abr, q.trace, f"{q.qoe_lin:.2f}", f"{q.startup_s:.2f}", rebuffer,
                         f"{q.time_average_bitrate_kbps:.0f}", vmaf, q.switches))  # fmt: skip
    return rows


def run_demo(out: Path, *, keep: bool = False) -> int:
    """Run the demo in ``out`` (emptied first unless ``keep``); return 0, or 1 if a title failed."""
    started = time.monotonic()
    out = Path(out).absolute()
    if out.exists() and not keep:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    # Prefect's embedded server (SQLite) in the demo's folder, unless the caller points at a server.
    os.environ.setdefault("PREFECT_HOME", str(out / "prefect"))
    quiet_prefect()
    from flows.ingest import ingest_batch, observe  # deferred: Prefect reads PREFECT_* at import, set just above
    from flows.report import qoe_artifact  # deferred: Prefect reads PREFECT_* at import, set just above

    print("samples: making the corpus and 6 s 640x360 excerpts ...", flush=True)
    sources = _sources(out)
    settings = _settings(out)
    secret = secrets.token_hex(32)
    env = {**os.environ, "VODFLOW_EDGE_SECRET": secret, "VODFLOW_KEYS": str(out / "keys")}
    origin = Seaweed(out / "origin")
    edge = None
    try:
        print("origin: starting SeaweedFS ...", flush=True)
        origin.up()
        os.environ["VODFLOW_ORIGIN"] = str(out / "origin")  # what the edge resolves as the embedded origin
        env["VODFLOW_ORIGIN"] = str(out / "origin")
        print("ingest: per-title ladders, H.264 + VP9, cenc (Prefect's embedded server starts first) ...", flush=True)
        prefect_console_off(0)
        stop = observe(StageBoard())
        try:
            state = ingest_batch([str(s) for s in sources], settings, 1, return_state=True)
        finally:
            stop()
        results = state.result(raise_on_failure=False)
        if not isinstance(results, list):
            print(f"ingest failed: {state.message}")
            return 1
        print("edge: starting ...", flush=True)
        edge = EdgeProcess(["--port", "0", "--no-access-log", "--keys", out / "keys"], env=env, log=out / "edge.log")
        signer = TokenSigner(bytes.fromhex(secret))
        token = signer.sign("/titles/", ttl=24 * 3600)
        qoe_rows = _play(edge.url, results, token)
        print()
        rows = [
            (
                r.title,
                r.state,
                r.message or f"{edge.url}/watch/{r.title}?token={signer.sign(f'/titles/{r.title}/', ttl=3600)}",
            )
            for r in results
        ]
        print(table(rows, ("title", "state", "watch (token valid 1 h, while the edge runs)")))
        if qoe_rows:
            print()
            header = ("title", "abr", "trace", "QoE_lin", "startup s", "rebuffer %", "kb/s", "VMAF", "switches")
            print(table(qoe_rows, header))
            qoe_artifact("demo", qoe_rows, header)
        print(f"\n{len(results)} titles in {time.monotonic() - started:.0f} s; workspace {out / 'work'}")
        print(
            f"The edge and the origin stop now. To watch again: VODFLOW_ORIGIN={out / 'origin'} vodflow origin up, "
            f"then VODFLOW_ORIGIN={out / 'origin'} vodflow edge --keys {out / 'keys'} and sign with its secret "
            f"(`vodflow sign /titles/`); `vodflow status --workspace {out / 'work'}` lists the titles."
        )
        return 0 if all(r.state == "completed" for r in results) else 1
    finally:
        if edge is not None:
            edge.stop()
        origin.down()


def cmd_demo(args: argparse.Namespace) -> int:
    """``vodflow demo``: run the demo in ``--out``; returns 0, or 1 if a title failed."""
    return run_demo(out=Path(args.out), keep=args.keep)
