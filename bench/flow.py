"""Orchestration overhead: one title through ``ingest_title`` against the same stage functions called
directly, in one process, after Prefect's server has started (goal: flow / direct <= 1.10).

    .venv/bin/python -m bench.flow [--seconds 10] [--size 1280x720] [--codecs h264] [--out out/bench-flow]

Both runs start cold: each has its own analysis cache and the flow its own workspace, so neither takes
anything from the other or from an earlier run. Neither publishes (the origin is not what is measured).
A warm-up flow run starts Prefect's embedded server first (unless ``PREFECT_API_URL`` names a server).

``MEASURES`` is where further measures plug in (the chunked encode on a local Dask cluster against one
process is ``flows.distributed``'s, see ``bench/`` for it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path


def _title(out: Path, seconds: float, size: str) -> Path:
    from pipeline.synth import excerpt
    from samples import DEFAULT_DIR, make_samples

    (src,) = make_samples(DEFAULT_DIR, names=["testsrc2"], show_progress=False)
    w, h = (int(x) for x in size.split("x"))
    path = out / f"testsrc2_{size}_{seconds:g}s.mp4"
    return path if path.exists() else excerpt(src, path, width=w, height=h, seconds=seconds, show_progress=False)


def _direct(src: Path, settings, out: Path) -> None:
    """The flow's stages as plain calls, in the flow's order, with the flow's arguments."""
    from flows.tasks import merge
    from ladders.model import LadderPolicy
    from ladders.per_title import per_title
    from ladders.verify import encode_ladder, measure
    from packager.package import package
    from packager.sidecar import write_sidecar
    from packager.validate import validate
    from pipeline.probe import probe
    from pipeline.qa import qa

    probe(src)
    qa(src, show_progress=False).raise_for_failure()
    policy = LadderPolicy(target_vmaf=settings.target_vmaf, max_rungs=settings.max_rungs)
    _, ladder = per_title(src, settings.codecs, policy, settings.analysis, show_progress=False)
    results = [
        encode_ladder(src, ladder, out / "renditions" / c, codecs=[c], audio=i == 0, verify=False, show_progress=False)[
            0
        ]
        for i, c in enumerate(c for c in settings.codecs if ladder.for_codec(c))
    ]
    renditions = merge(results)
    measure(src, ladder, renditions, subsample=settings.quality_every, show_progress=False)
    pkg = package(renditions, out / "package", encrypt=settings.encrypt, segment_seconds=settings.segment_seconds,
                  keystore=settings.keystore, title=settings.title_for(src))  # fmt: skip
    write_sidecar(pkg.root, src, subsample=settings.sidecar_every)
    validate(pkg.root, keys=settings.keystore).raise_for_problems()


def overhead(args: argparse.Namespace) -> None:
    out = Path(args.out).absolute()
    shutil.rmtree(out / "runs", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(out / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # "database is locked"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from prefect import flow

    from flows.ingest import ingest_title
    from flows.settings import Settings

    src = _title(out, args.seconds, args.size)
    settings = Settings(codecs=tuple(args.codecs.split(",")), publish=False, keystore=str(out / "keys"),
                        workspace=str(out / "runs" / "work"))  # fmt: skip

    @flow
    def warm_up() -> None:  # starts the embedded server; not measured
        pass

    t = time.monotonic()
    warm_up()
    print(f"server start + warm-up flow: {time.monotonic() - t:.1f} s")

    os.environ["VODFLOW_CACHE"] = str(out / "runs" / "cache-direct")
    t = time.monotonic()
    _direct(src, settings, out / "runs" / "direct")
    direct = time.monotonic() - t
    print(f"direct stage calls: {direct:.1f} s")

    os.environ["VODFLOW_CACHE"] = str(out / "runs" / "cache-flow")
    t = time.monotonic()
    state = ingest_title(str(src), settings, return_state=True)
    flowed = time.monotonic() - t
    result = state.result(raise_on_failure=False)
    if not state.is_completed():
        raise SystemExit(f"ingest_title failed: {state.message}")
    ran = sorted(set(result.stages.values()))
    print(f"ingest_title: {flowed:.1f} s (task states: {', '.join(ran)})")
    ratio = flowed / direct
    print(f"orchestration overhead: flow / direct = {ratio:.3f} (goal <= 1.10): {'PASS' if ratio <= 1.10 else 'FAIL'}")


MEASURES = {"overhead": overhead}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="title length (default 10)")
    p.add_argument("--size", default="1280x720", help="title size (default 1280x720)")
    p.add_argument("--codecs", default="h264", help="codecs (default h264)")
    p.add_argument("--out", default="out/bench-flow", help="working folder (default out/bench-flow)")
    p.add_argument("--measure", choices=sorted(MEASURES), default="overhead")
    args = p.parse_args()
    MEASURES[args.measure](args)


if __name__ == "__main__":
    main()
