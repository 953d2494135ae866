"""The per-segment quality sidecar of a package: ``quality.json`` at the package root, listed in
``package.json`` so it is published (and versioned) with the segments it describes.

::

    {"model": "vmaf_v0.6.1", "subsample": 2, "reference": "bbb.mp4",
     "streams": {"<video stream id>": [VMAF of segment 1, segment 2, ...], ...}}

Stream ids are the folders under ``video/`` (the ``Stream.id`` of ``package.json``). ``QualitySidecar``
is that document; ``load_sidecar`` / ``parse_sidecar`` read it from a package folder or from bytes.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

from packager.model import PACKAGE_RECORD, QUALITY_SIDECAR, Package
from vodflow.errors import MediaError
from vodflow.records import Record

__all__ = ["QualitySidecar", "load_sidecar", "parse_sidecar", "write_sidecar"]


class QualitySidecar(Record):
    """``quality.json``: the VMAF ``model`` and ``subsample`` used, the ``reference`` file's name, and per
    video stream id the score of each of its segments, in order."""

    model: str
    subsample: int
    reference: str
    streams: dict[str, list[float]]


def parse_sidecar(text: str | bytes, *, where: str | os.PathLike[str] = QUALITY_SIDECAR) -> QualitySidecar:
    """The ``QualitySidecar`` in a ``quality.json`` document (e.g. fetched over HTTP). Raises
    ``MediaError`` naming ``where`` when it is not one."""
    try:
        return QualitySidecar.from_json(text)
    except ValueError as exc:
        raise MediaError(where, f"not a quality sidecar ({str(exc).splitlines()[0]})") from None


def load_sidecar(package_dir: str | os.PathLike[str]) -> QualitySidecar:
    """The sidecar of the package at ``package_dir``. Raises ``FileNotFoundError`` when it has none and
    ``MediaError`` when the file is not a sidecar."""
    path = Path(package_dir) / QUALITY_SIDECAR
    return parse_sidecar(path.read_bytes(), where=path)


def write_sidecar(
    package_dir: str | os.PathLike[str], reference: str | os.PathLike[str], *, subsample: int = 2
) -> Path:
    """Score every video stream of the package at ``package_dir`` against ``reference`` per segment,
    write ``quality.json`` and list it in ``package.json``; returns the sidecar's path. Raises what
    ``pipeline.quality.vmaf`` raises (the stream's ``source`` rendition file must still exist)."""
    from pipeline.segment_quality import segment_vmaf  # deferred: scikit-image + scipy cost readers 1 s

    root = Path(package_dir)
    pkg = Package.load(root / PACKAGE_RECORD)
    streams = {}
    for s in pkg.streams:
        if s.kind != "video":
            continue
        fps = float(Fraction(s.frame_rate)) if s.frame_rate else 25.0
        starts = [seg.start for seg in s.segments]
        streams[s.id] = [
            round(x, 3) for x in segment_vmaf(reference, s.source, starts, frame_rate=fps, subsample=subsample)
        ]
    side = QualitySidecar(model="vmaf_v0.6.1", subsample=subsample, reference=Path(reference).name, streams=streams)
    path = root / QUALITY_SIDECAR
    # json.dumps, not Record.save: the file stays byte for byte what earlier versions wrote (its hash is
    # part of the published version).
    path.write_text(json.dumps(side.model_dump(mode="json"), indent=1))
    if QUALITY_SIDECAR not in pkg.files:
        pkg.model_copy(update={"files": sorted([*pkg.files, QUALITY_SIDECAR])}).save(root / PACKAGE_RECORD)
    return path
