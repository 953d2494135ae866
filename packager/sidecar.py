"""The per-segment quality sidecar of a package: ``quality.json`` at the package root, listed in
``package.json`` so it is published (and versioned) with the segments it describes.

::

    {"model": "vmaf_v0.6.1", "subsample": 2, "reference": "bbb.mp4",
     "streams": {"<video stream id>": [VMAF of segment 1, segment 2, ...], ...}}

Stream ids are the folders under ``video/`` (the ``Stream.id`` of ``package.json``).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

from packager.model import Package
from pipeline.segment_quality import segment_vmaf

__all__ = ["SIDECAR", "write_sidecar"]

SIDECAR = "quality.json"


def write_sidecar(
    package_dir: str | os.PathLike[str], reference: str | os.PathLike[str], *, subsample: int = 2
) -> Path:
    """Score every video stream of the package at ``package_dir`` against ``reference`` per segment,
    write ``quality.json`` and list it in ``package.json``; returns the sidecar's path. Raises what
    ``pipeline.quality.vmaf`` raises (the stream's ``source`` rendition file must still exist)."""
    root = Path(package_dir)
    pkg = Package.load(root / "package.json")
    streams = {}
    for s in pkg.streams:
        if s.kind != "video":
            continue
        fps = float(Fraction(s.frame_rate)) if s.frame_rate else 25.0
        starts = [seg.start for seg in s.segments]
        streams[s.id] = [
            round(x, 3) for x in segment_vmaf(reference, s.source, starts, frame_rate=fps, subsample=subsample)
        ]
    path = root / SIDECAR
    body = {"model": "vmaf_v0.6.1", "subsample": subsample, "reference": Path(reference).name, "streams": streams}
    path.write_text(json.dumps(body, indent=1))
    if SIDECAR not in pkg.files:
        pkg.model_copy(update={"files": sorted([*pkg.files, SIDECAR])}).save(root / "package.json")
    return path
