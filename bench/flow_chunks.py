"""Chunked encoding benchmark, run by hand (``python -m bench.flow_chunks``); it prints figures.

A 60 s 720p title (the long sample title scaled to 1280x720, made once under ``samples/media``), a
two-rung H.264 ladder (720p, 360p; x264 medium, capped CRF) plus AAC/Opus audio:

1. one process: ``pipeline.encode.encode``;
2. ``flows.distributed.encode_distributed`` on a local Dask cluster of 2 worker processes, through the
   embedded SeaweedFS, under a temporary Prefect server (started before the clock starts; the cluster
   starts inside the measured call, as it would for ``--workers 2``);
3. the parts, for the scaling model: every chunk encoded one after the other in this process, one
   rendition's join, and the S3 transfers (source up, a chunk up and down).

Prints both wall times, their ratio, the VMAF difference per rung and the model's figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from prefect.testing.utilities import prefect_test_harness

from flows.distributed import encode_distributed
from origin.seaweed import Seaweed
from pipeline.chunks import encode_chunk, join_chunks, plan_chunks
from pipeline.encode import encode
from pipeline.ffmpeg import run_ffmpeg
from pipeline.quality import vmaf
from pipeline.rung_spec import parse_rung
from samples import DEFAULT_DIR, make_long_title

LADDER = ("h264:1280x720:crf23@3000k", "h264:640x360:crf23@800k")


def title_720p(show_progress: bool) -> Path:
    src = make_long_title(DEFAULT_DIR, seconds=60, show_progress=show_progress)
    out = DEFAULT_DIR / "long_60s_720p.mp4"
    if not out.exists():
        tmp = out.with_suffix(".part.mp4")
        args = ["-y", "-i", str(src), "-vf", "scale=1280:720:flags=lanczos", "-c:v", "libx264", "-preset", "fast"]
        args += ["-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "copy", str(tmp)]
        run_ffmpeg(args, label="720p title", show_progress=show_progress)
        os.replace(tmp, out)
    return out


def parts(src: Path, work: Path, origin, chunk_seconds: float) -> dict[str, float]:
    """Seconds of each piece of the distributed encode, measured one at a time on this machine."""
    rungs = [parse_rung(s) for s in LADDER]
    plan = plan_chunks(src, rungs, chunk_seconds=chunk_seconds)
    chunk_walls = []
    for i in range(len(plan.starts)):
        t = time.monotonic()
        encode_chunk(plan, i, work / "chunks", show_progress=False)
        chunk_walls.append(time.monotonic() - t)
    r = plan.renditions[0]
    t = time.monotonic()
    join_chunks(plan, r, [work / "chunks" / plan.chunk_name(r, i) for i in range(len(plan.starts))], work / "j.mp4")
    join = time.monotonic() - t
    client, bucket = origin.client(), origin.location.bucket
    t = time.monotonic()
    client.upload_file(str(src), bucket, "bench/source.mp4")
    up = time.monotonic() - t
    chunk = work / "chunks" / plan.chunk_name(r, 0)
    t = time.monotonic()
    client.upload_file(str(chunk), bucket, "bench/chunk.mp4")
    client.download_file(bucket, "bench/chunk.mp4", str(work / "back.mp4"))
    chunk_rt = time.monotonic() - t
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "bench/source.mp4"}, {"Key": "bench/chunk.mp4"}]})
    return {
        "chunks": len(plan.starts),
        "chunk_mean": sum(chunk_walls) / len(chunk_walls),
        "chunk_max": max(chunk_walls),
        "chunk_sum": sum(chunk_walls),
        "join": join,
        "source_up": up,
        "source_mb": src.stat().st_size / 1e6,
        "chunk_roundtrip": chunk_rt,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flow_chunks", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-seconds", type=float, default=10.0)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    src = title_720p(args.progress)
    rungs = [parse_rung(s) for s in LADDER]
    print(f"source: {src} ({src.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} CPUs, ladder {', '.join(LADDER)}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-chunks-") as tmp,
        Seaweed(Path(tmp) / "origin") as sw,
        prefect_test_harness(server_startup_timeout=180),
    ):
        work = Path(tmp)
        origin = sw.origin()
        t = time.monotonic()
        whole = encode(src, rungs, work / "whole", show_progress=args.progress)
        single = time.monotonic() - t
        t = time.monotonic()
        chunked = encode_distributed(
            src, rungs, work / "dist", workers=args.workers, origin=origin, chunk_seconds=args.chunk_seconds
        )
        dist = time.monotonic() - t
        p = parts(src, work / "parts", origin, args.chunk_seconds)
        print(f"\none process              {single:7.1f} s wall")
        print(f"{args.workers} Dask workers (chunks)  {dist:7.1f} s wall  (cluster start included)")
        print(f"ratio distributed/single {dist / single:7.2f}")
        for a, b in zip(whole.video, chunked.video, strict=True):
            va = vmaf(src, a.path, subsample=2, show_progress=False).mean
            vb = vmaf(src, b.path, subsample=2, show_progress=False).mean
            print(
                f"  {a.rendition.name:24s} VMAF single {va:6.2f} chunked {vb:6.2f} diff {vb - va:+.2f}  "
                f"frames {a.frames}/{b.frames}  kb/s {a.bitrate_kbps:.0f}/{b.bitrate_kbps:.0f}"
            )
        print(
            f"\nparts (one at a time): {p['chunks']} chunks of {args.chunk_seconds:g} s, "
            f"mean {p['chunk_mean']:.1f} s (max {p['chunk_max']:.1f}, sum {p['chunk_sum']:.1f}); "
            f"join {p['join']:.2f} s per rendition; source upload {p['source_up']:.2f} s "
            f"({p['source_mb']:.0f} MB); chunk up+down {p['chunk_roundtrip']:.2f} s"
        )
        # Model for N machines like this one, each taking one chunk at a time on all its cores, with the
        # cluster already running: upload once, ceil(chunks / N) rounds of a chunk, a join, a download.
        chunks = int(p["chunks"])
        for n in (1, 2, 4, chunks):
            est = p["source_up"] + -(-chunks // n) * p["chunk_mean"] + p["join"] + 2 * p["chunk_roundtrip"]
            print(f"model, {n} machine(s): {est:6.1f} s  ratio to one process {est / single:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
