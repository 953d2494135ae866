"""The end-to-end demo behind ``make demo``: every sample through probe, QA, a small ladder and VMAF.

It only wires stages together and prints what they return; later stages (per-title ladders, packaging,
publishing, the edge and the player) join it as they land.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flows.tables import table
from pipeline.encode import DEFAULT_AUDIO, encode, parse_rung
from pipeline.probe import probe
from pipeline.qa import qa
from pipeline.quality import score
from samples import DEFAULT_DIR, make_samples

__all__ = ["DEMO_RUNGS", "run_demo"]

log = logging.getLogger(__name__)

# A small H.264 ladder in capped CRF: quality-targeted, with a VBV cap so the bitrate is a real bound.
DEMO_RUNGS = ("h264:1280x720:crf23@3000k", "h264:854x480:crf23@1050k", "h264:426x240:crf23@300k")


def run_demo(out: Path, *, every: int = 3) -> int:
    """Run the demo into ``out`` and print a table; return 0, or 1 if a sample failed QA."""
    started = time.monotonic()
    sources = make_samples(DEFAULT_DIR)
    rows = []
    failed = 0
    for src in sources:
        info = probe(src)
        report = qa(src)
        status = "pass" if report.passed else "FAIL"
        warn = ", ".join(c.name for c in report.warnings()) or "-"
        if not report.passed:
            failed += 1
            rows.append((src.stem, f"{info.video.width}x{info.video.height}", status, warn, "", "", "", "", ""))
            continue
        result = encode(src, [parse_rung(r) for r in DEMO_RUNGS], out / src.stem, audio=DEFAULT_AUDIO)
        for f in result.video:
            q = score(src, f.path, subsample=every, ssim=False)
            rows.append(
                (
                    src.stem,
                    f"{info.video.width}x{info.video.height}",
                    status,
                    warn,
                    f"{f.width}x{f.height}",
                    f"{f.bitrate_kbps:.0f}",
                    f"{q.vmaf.mean:.2f}",
                    f"{q.vmaf.p5:.2f}",
                    f"{f.encode_seconds:.1f}",
                )
            )
    print()
    print(table(rows, ("title", "source", "QA", "warnings", "rung", "kb/s", "VMAF", "VMAF p5", "enc s")))
    print(f"\n{len(sources)} titles in {time.monotonic() - started:.0f} s; outputs in {out}")
    return 1 if failed else 0
