"""Verify a ladder after its final encode: the measured VMAF and bitrate of every rung beside its prediction."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ladders.model import Ladder
from pipeline.encode import encode
from pipeline.quality import vmaf_many
from pipeline.renditions import DEFAULT_AUDIO, EncodeResult
from vodflow.errors import UsageError

__all__ = ["encode_ladder", "measure"]


def measure(
    source: str | os.PathLike[str],
    ladder: Ladder,
    result: EncodeResult,
    *,
    subsample: int = 1,
    show_progress: bool = True,
) -> Ladder:
    """Return ``ladder`` with ``measured_vmaf`` and ``measured_kbps`` filled in from ``result``.

    Every rung's file is scored with VMAF against ``source`` (every ``subsample``-th frame). Raises
    ``UsageError`` when a rung has no encoded file in ``result``, and what ``pipeline.quality.vmaf_many``
    raises.
    """
    files = {f.rendition.name: f for f in result.video}
    matched = []
    for rung in ladder.rungs:
        f = files.get(rung.rendition().name)
        if f is None:
            raise UsageError(f"{source}: rung {rung.rendition().name} has no encoded file to verify")
        matched.append((rung, f))
    # One process for every rung: the source is decoded once, not once per rung. Batches of four keep
    # the full-size frames libvmaf holds per input within memory at 4K.
    scores = vmaf_many(source, [f.path for _, f in matched], subsample=subsample, batch=4, show_progress=show_progress)
    rungs = [
        rung.model_copy(update={"measured_vmaf": score.mean, "measured_kbps": f.bitrate_kbps})
        for (rung, f), score in zip(matched, scores, strict=True)
    ]
    return ladder.model_copy(update={"rungs": rungs})


def encode_ladder(
    source: str | os.PathLike[str],
    ladder: Ladder,
    out_dir: str | os.PathLike[str],
    *,
    codecs: Sequence[str] | None = None,
    audio: bool = True,
    verify: bool = True,
    subsample: int = 1,
    show_progress: bool = True,
) -> tuple[EncodeResult, Ladder]:
    """Encode every rung of ``ladder`` (only ``codecs`` if given) and, unless ``verify`` is false,
    measure each rung. Returns the encode result and the ladder with measurements.

    Raises ``UsageError`` when ``codecs`` leaves no rung, and whatever ``encode``/``measure`` raise.
    """
    if codecs is not None:
        ladder = ladder.model_copy(update={"rungs": [r for r in ladder.rungs if r.codec in codecs]})
    if not ladder.rungs:
        raise UsageError(f"{source}: the ladder has no rung for {', '.join(codecs or ())}")
    renditions = [r.rendition() for r in ladder.rungs]
    result = encode(
        source,
        renditions,
        out_dir,
        audio=(ladder.audio or DEFAULT_AUDIO) if audio else (),
        show_progress=show_progress,
    )
    if verify:
        ladder = measure(source, ladder, result, subsample=subsample, show_progress=show_progress)
    return result, ladder
