"""Per-title analysis: probe encodes over resolutions x CRFs on excerpts of a title, scored with VMAF.

``analyze(source, codecs, policy)`` returns the title's :class:`~ladders.model.RDPoints`: for every
codec, every resolution up to the source's and every CRF of the policy, the bitrate and quality a
probe encode reached on a sample of the title.

How it stays cheap and faithful:

* **A sample of the title.** A title no longer than ``policy.whole_below`` seconds is analysed whole;
  a longer one through ``policy.excerpts`` excerpts of ``policy.excerpt_seconds`` each, one centred in
  each of as many equal parts of the title, so every stretch of the title has its say and the cost of
  analysis stays fixed however long the title is. Each excerpt is cut once, losslessly, into a
  temporary folder (raw frames, by ``pipeline.excerpts``); it is both the probes' source and their VMAF reference.
* **Excerpts as the title has them.** An excerpt starts on the final encode's GOP grid and is encoded
  with the GOP before it, which is then left out of its bits (``pipeline.trim``) and VMAF: its frames get the
  keyframe and the rate-control history they have inside the title. Encoded cold, the same frames
  scored 0.4-3.0 VMAF lower than in the full-title encode (60 s sample title, 720p CRF 30); warmed up
  and aligned, within 0.2. It costs a second GOP of encoding per excerpt, none of scoring.
* **Decode once.** All resolution x CRF probes of one excerpt and codec are written by one ffmpeg
  process (``pipeline.encode.encode``: the very rungs the final encode would write, with its closed
  GOPs), and scored by one ffmpeg process per ``policy.vmaf_batch`` probes
  (``pipeline.quality.vmaf_many``: the reference decoded once, libvmaf's SSIM in the same pass).
* **Probes where the ladder needs them.** A small CRF grid first (three per codec), then rounds of one
  more CRF only at the sizes that own an end of the hull: up, where a size's cheapest probe is still
  above the ladder's floor; down, where its best probe is still under the top rung's target (+1).
  Easy titles pay nothing for qualities no rung will have; hard ones get the probes their top needs.
* **In parallel up to the cores.** (excerpt, codec) jobs run on ``policy.jobs`` threads, each driving
  one ffmpeg at a time, so no more heavy processes run at once than there are cores.
* **Cached by content.** Each probe's measurements (bits, duration, per-frame VMAF and SSIM, encode
  seconds) are saved as one JSON file under the cache folder, keyed by the sha256 of the source's
  bytes and every setting that changes the measurement. A second analysis of the same title with the
  same settings runs no ffmpeg at all; an interrupted one resumes with every probe already saved; a
  changed setting re-measures only the probes it changes.

A point's bitrate is the bits of all its excerpt encodes over their total duration; its VMAF mean,
harmonic mean and 5th percentile pool the per-frame scores of every excerpt together (less each cut
excerpt's first frame when subsampled: see ``ladders.probing``); its SSIM is
libvmaf's ``float_ssim`` mean; its ``encode_seconds`` sums the excerpt encodes' shares (an encode
process's wall time shared among its probes in proportion to their pixels).

The stage's parts, one module each: ``ladders.policy`` (``AnalysisPolicy``), ``ladders.probes`` (the
probe grid), ``ladders.excerpts`` (placing and cutting excerpts), ``ladders.cache`` (the content-hash
cache), ``ladders.probing`` (measuring in parallel, pooling into points) and ``ladders.extend`` (the
adaptive ends).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ladders.cache import media_info, source_hash
from ladders.excerpts import excerpts, place
from ladders.extend import extensions
from ladders.model import RDPoints
from ladders.policy import AnalysisPolicy
from ladders.probes import ProbeEncode, sizes
from ladders.probing import ProbeRun, point
from pipeline.codecs import CODECS
from pipeline.probe import parse_rate, probe, require_video
from pipeline.scores import pick_model
from vodflow.errors import ProbeError, UnsupportedMedia, UsageError
from vodflow.state import State, folder

__all__ = ["analyze"]


def analyze(
    source: str | os.PathLike[str],
    codecs: Sequence[str] = ("h264",),
    policy: AnalysisPolicy | None = None,
    *,
    cache: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
) -> RDPoints:
    """Measure rate-quality points of ``source`` for each of ``codecs`` and return its ``RDPoints``.

    Points: every size of :func:`sizes` x every CRF of the policy, per codec, on the excerpts of
    :func:`excerpts`, and the adaptive ends' extra CRFs (see ``AnalysisPolicy``). Cached under
    ``vodflow.state.folder(State.CACHE, cache)``, so a repeated call runs no ffmpeg.
    ``RDPoints.seconds`` is this call's wall time, 0 when every point came from the cache.

    Raises ``UsageError`` for an unknown codec or a missing path, ``ProbeError``/``NoVideoStream``/
    ``UnsupportedMedia`` for a source that cannot be analysed (as ``probe``/``require_video``), and
    what ``pipeline.encode.encode`` and ``pipeline.quality.vmaf_many`` raise for a failed probe encode
    or score (every probe finished before the failure stays cached).
    """
    started = time.monotonic()
    policy = policy or AnalysisPolicy()
    wanted = list(dict.fromkeys(codecs))
    if not wanted:
        raise UsageError("analyze needs at least one codec")
    for c in wanted:
        if c not in CODECS:
            raise UsageError(f"unknown codec {c!r}: analyze takes {', '.join(CODECS)}")
    src = Path(source)
    if not src.is_file():
        probe(src)  # the one-line error for a missing path, a directory, ...
        raise UsageError(f"{src}: not a file")
    root = folder(State.CACHE, cache)
    title_hash = source_hash(src, root)
    info = media_info(src, root, title_hash)
    v = require_video(info)
    rate = parse_rate(v.frame_rate) or parse_rate(v.avg_frame_rate)
    if rate is None:
        raise UnsupportedMedia(src, "video stream has no frame rate")
    duration = info.duration or v.duration
    if not duration:
        raise ProbeError(src, "duration unknown, so excerpts cannot be placed")
    frame_sizes = sizes(info, policy.heights)  # never empty: the source height stands in
    model = policy.model or pick_model(v.height)
    cuts = place(duration, float(rate), policy)
    probes = {
        c: [ProbeEncode(c, w, h, crf, policy.preset_for(c)) for (w, h) in frame_sizes for crf in policy.crfs_for(c)]
        for c in wanted
    }
    for c in wanted:
        try:
            [p.rendition(policy.gop_seconds) for p in probes[c][:1] + probes[c][-1:]]
        except ValidationError as exc:
            first = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise UsageError(f"analysis policy for {c}: {first}") from None

    run = ProbeRun(src, info, rate, cuts, policy, model, root, title_hash, v.width, v.height, show_progress)
    found = run.measure([p for c in wanted for p in probes[c]])
    # The adaptive ends: rounds of one more CRF on the sizes that still own the hull's cheap end, or its
    # top short of the ladder's target.
    for _ in range(max(policy.extend, policy.extend_down)):
        points = {p: point(p, [found[(i, p)] for i in range(len(cuts))]) for c in wanted for p in probes[c]}
        more = [q for c in wanted for q in extensions(c, probes[c], points, policy)]
        if not more:
            break
        for q in more:
            probes[q.codec].append(q)
        found.update(run.measure(more))

    points = [point(p, [found[(i, p)] for i in range(len(cuts))]) for c in wanted for p in probes[c]]
    return RDPoints(
        source=str(src),
        source_hash=title_hash,
        width=v.width,
        height=v.height,
        fps=float(rate),
        duration=duration,
        excerpts=excerpts(duration, float(rate), policy),
        codecs=wanted,  # type: ignore[arg-type]
        points=points,
        seconds=time.monotonic() - started if run.measured else 0.0,
    )
