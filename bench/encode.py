"""Encoding benchmark, run by hand (``make bench`` or ``python -m bench.encode``); it prints figures.

1. Decode once vs once per rung: a 4-rung H.264 ladder (1080p/720p/480p/240p, x264 medium) from the
   hard 1080p sample (``grain``), encoded by ``pipeline.encode.encode`` both ways in the same run, with
   the very same encoder arguments (``decode_once=False`` only splits the work into one process per
   rung). Goal: decode-once wall time <= 0.85 of per-rung.
2. Encode fps per codec at 720p (x264 medium, x265 medium, SVT-AV1 preset 8, VP9 cpu-used 4 row-mt),
   each codec's default preset, from the first ``--seconds`` of the same sample.
3. VMAF fps at 1080p (``pipeline.quality.vmaf``) on the ladder's 1080p rung against the source.

The sample is made once under ``samples/media`` (git-ignored); outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.codecs import DEFAULT_PRESET
from pipeline.encode import encode
from pipeline.ffmpeg import run_ffmpeg
from pipeline.renditions import RateControl, Rendition
from pipeline.rung_spec import parse_rung
from samples import DEFAULT_DIR, make_samples

LADDER = (
    "h264:1920x1080:crf23@6000k",
    "h264:1280x720:crf23@3000k",
    "h264:854x480:crf23@1050k",
    "h264:426x240:crf23@300k",
)
GOAL_RATIO = 0.85
# Mid-quality settings of similar visual quality per codec; the figure wanted is speed, not size.
CODEC_CRF = {"h264": 23, "hevc": 26, "av1": 35, "vp9": 35}


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float  # encode() from probe to the last rename
    ffmpeg: float  # the ffmpeg processes alone
    processes: int


def ladder_walls(src: Path, work: Path, *, show_progress: bool) -> tuple[Timing, Timing]:
    """Encode LADDER decode-once and per-rung; return both timings (per-rung first, then decode-once)."""
    rungs = [parse_rung(s) for s in LADDER]
    timings = {}
    for decode_once in (False, True):
        started = time.monotonic()
        result = encode(
            src,
            rungs,
            work / ("once" if decode_once else "per_rung"),
            audio=(),
            show_progress=show_progress,
            decode_once=decode_once,
        )
        wall = time.monotonic() - started
        # Every rung carries the wall time of the process that wrote it: one shared figure when the
        # ladder is decoded once, one per rung otherwise.
        seconds = [result.video[0].encode_seconds] if decode_once else [f.encode_seconds for f in result.video]
        timings[decode_once] = Timing(wall=wall, ffmpeg=sum(seconds), processes=len(seconds))
    return timings[False], timings[True]


def excerpt(src: Path, seconds: float, work: Path) -> Path:
    """The first ``seconds`` of ``src``, stream-copied (the sample starts on a keyframe)."""
    out = work / f"{src.stem}_{seconds:g}s.mp4"
    run_ffmpeg(["-y", "-i", src, "-t", f"{seconds:g}", "-map", "0:v:0", "-c", "copy", out], show_progress=False)
    return out


def codec_fps(src: Path, work: Path, *, show_progress: bool) -> dict[str, tuple[float, str]]:
    """Encode fps of each codec at 720p with its default preset: codec -> (fps, preset)."""
    figures = {}
    for codec, crf in CODEC_CRF.items():
        r = Rendition(codec=codec, width=1280, height=720, rate=RateControl(mode="crf", crf=crf))
        result = encode(src, [r], work / f"fps_{codec}", audio=(), show_progress=show_progress)
        (f,) = result.video
        figures[codec] = (f.frames / f.encode_seconds, DEFAULT_PRESET[codec])
    return figures


# --- VMAF fps at 1080p ------------------------------------------------------------------------------


def vmaf_fps(reference: Path, distorted: Path, *, show_progress: bool) -> float:
    """Frames of the 1080p reference scored by libvmaf per wall second (pipeline.quality.vmaf)."""
    from pipeline.quality import vmaf

    return vmaf(reference, distorted, subsample=1, show_progress=show_progress).fps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encode", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of the per-codec fps excerpt")
    parser.add_argument("--keep", type=Path, help="write outputs here and keep them (default: a temp folder)")
    parser.add_argument("--no-vmaf", action="store_true", help="skip the VMAF fps figure")
    parser.add_argument("--progress", action="store_true", help="show ffmpeg progress")
    args = parser.parse_args(argv)

    (src,) = make_samples(DEFAULT_DIR, names=["grain"], show_progress=args.progress)
    src.read_bytes()  # into the page cache, so the first encode does not pay the disk for both
    print(f"source: {src} ({src.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="vodflow-bench-") as tmp:
        work = args.keep or Path(tmp)
        per_rung, once = ladder_walls(src, work, show_progress=args.progress)
        print(f"\nH.264 ladder {', '.join(s.split(':')[1] for s in LADDER)} (x264 medium, capped CRF 23):")
        for label, t in (("per rung", per_rung), ("decode once", once)):
            print(f"  {label:12s} {t.wall:7.1f} s wall  ({t.ffmpeg:.1f} s in {t.processes} ffmpeg process(es))")
        ratio = once.wall / per_rung.wall
        verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
        print(f"  ratio        {ratio:7.2f}  (goal <= {GOAL_RATIO}: {verdict})")

        short = excerpt(src, args.seconds, work)
        print(f"\nencode fps at 1280x720 from the first {args.seconds:g} s of {src.name}:")
        for codec, (fps, preset) in codec_fps(short, work, show_progress=args.progress).items():
            print(f"  {codec:5s} preset {preset:7s} {fps:6.1f} fps")

        if not args.no_vmaf:
            dist = work / "once" / f"{parse_rung(LADDER[0]).name}.mp4"
            print(f"\nVMAF fps at 1920x1080: {vmaf_fps(src, dist, show_progress=args.progress):.1f} fps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
