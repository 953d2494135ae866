"""Objective quality of a distorted rendition against its reference: VMAF, SSIM and PSNR.

VMAF runs in libvmaf inside ffmpeg 6.0 (``Tool.FFMPEG_VMAF``), per-frame scores read from its JSON log.
SSIM and PSNR are computed with scikit-image on the luma planes of frames decoded with PyAV; the
ffmpeg ``ssim``/``psnr`` filters are kept for cross-checks only (``pipeline.frame_metrics.ffmpeg_ssim_psnr``).

Both paths prepare frames the same way:

* the distorted frame is scaled with bicubic to the reference's width and height;
* both are 8-bit 4:2:0 (``yuv420p``), or 10-bit (``yuv420p10le``) when the reference has more than 8 bits;
* both streams are rebased to start at 0 (``setpts=PTS-STARTPTS``), so an offset start does not shift
  the pairing.

Pairing, the same in both paths: the distorted stream drives. Each distorted frame at time ``t`` is
compared with the reference frame on screen at ``t`` (the last one whose timestamp is <= ``t``);
comparison stops when either stream ends, and a distorted frame later than the reference's last frame
is not scored. That is ffmpeg 6.0's framesync rule for two-input filters (the distorted is libvmaf's
"main" input) with ``shortest=1``, whose end-of-stream time is the last frame's timestamp;
:func:`pipeline.frame_metrics.paired` re-implements it for PyAV frames with exact rational timestamps,
and the tests check that both paths pair the same frames (PSNR per frame equal to ffmpeg's psnr
filter). For renditions at the reference's frame rate, which every ladder rung is, it pairs frame *i*
with frame *i*.

Every Nth frame (``subsample=N``) means paired frames 0, N, 2N, ..., as libvmaf's ``n_subsample``.
libvmaf still reads every frame for its one temporal feature (motion2, which for frame *i* needs
reference frames *i-1*, *i* and *i+1*), and upscaling frames it then skips costs about as much as
scoring them. So when both inputs run at one constant rate (frame *n* meets frame *n*) and N > 3, only
frames 0, 1 and *kN-1*, *kN*, *kN+1* are passed on, with ``n_subsample=3``: libvmaf then scores frames
0, N, 2N, ... from the very same neighbours, so every per-frame score is unchanged (the tests compare
them), at about half the cost at N = 5.

:func:`vmaf_many` scores several distorted inputs against one reference in one ffmpeg process: the
reference is decoded and prepared once and split to one libvmaf per distorted input, each prepared and
paired exactly as :func:`vmaf` does, so each score equals what :func:`vmaf` gives for that pair. Either
can add libvmaf's own SSIM (``float_ssim``, luma, computed in the same pass on the same prepared frames)
to the score: far cheaper than a second decode for scikit-image, though not the same number (libvmaf's
SSIM uses an 11x11 Gaussian window).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from pipeline.frame_metrics import pair_metrics
from pipeline.probe import probe
from pipeline.quality_inputs import FALLBACK_FPS, Pair, check_subsample, pair_inputs, prepare_pair
from pipeline.scores import MODELS, QualityReport, VmafScore, harmonic_mean, percentile, pick_model
from pipeline.vmaf_graph import (
    ffmpeg_inputs,
    filter_value,
    frame_selection,
    prepared_distorted,
    prepared_reference,
    prepared_streams,
    refuse_mpegts,
)
from vodflow import tools
from vodflow.errors import DecodeError, ProcessError, UsageError

__all__ = ["score", "vmaf", "vmaf_many"]

# libvmaf gains little past 16 threads and each one holds frames in memory.
_MAX_THREADS = 16


def _default_threads() -> int:
    try:
        n = len(os.sched_getaffinity(0))  # what this process may use, not what the machine has
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, _MAX_THREADS))


def vmaf(
    reference: str | os.PathLike[str],
    distorted: str | os.PathLike[str],
    *,
    subsample: int = 1,
    model: str | None = None,
    threads: int | None = None,
    ssim: bool = False,
    show_progress: bool = True,
) -> VmafScore:
    """Score ``distorted`` against ``reference`` with libvmaf and return a :class:`VmafScore`.

    ``model`` is a libvmaf built-in (``MODELS``); by default :func:`pick_model` of the reference height.
    ``subsample=N`` scores every Nth paired frame; ``threads`` defaults to the CPUs this process may use
    (at most 16); ``ssim`` adds libvmaf's float_ssim of the same frames. Raises ``UsageError`` for a
    missing input or a bad option, ``ProbeError`` for an unreadable one, ``NoVideoStream``/
    ``UnsupportedMedia`` as ``require_video``, ``DurationMismatch`` when the two differ by more than
    :func:`duration_tolerance`, ``ProcessError`` if ffmpeg fails.
    """
    check_subsample(subsample)
    return _vmaf(prepare_pair(reference, distorted), subsample, model, threads, show_progress, ssim=ssim)


def vmaf_many(
    reference: str | os.PathLike[str],
    distorted: Sequence[str | os.PathLike[str]],
    *,
    subsample: int = 1,
    model: str | None = None,
    threads: int | None = None,
    ssim: bool = False,
    batch: int | None = None,
    skip: int = 0,
    show_progress: bool = True,
) -> list[VmafScore]:
    """Score every file of ``distorted`` against one ``reference``; return their scores in that order.

    One ffmpeg process per ``batch`` distorted inputs (default: all of them in one) decodes the reference
    once and feeds one libvmaf per distorted input, each with ``threads`` threads; frames are prepared,
    paired and subsampled exactly as by :func:`vmaf`, so every score equals :func:`vmaf`'s for that pair
    (``seconds`` and ``fps`` are the batch's). ``skip`` frames at the start of every distorted input are
    left out (a warm-up lead encoded before the reference's first frame). Every input is probed and
    checked before any scoring.
    Raises as :func:`vmaf`, and ``UsageError`` for an empty ``distorted`` or a batch under 1.
    """
    check_subsample(subsample)
    if not distorted:
        raise UsageError("vmaf_many needs at least one distorted input")
    if batch is not None and batch < 1:
        raise UsageError(f"batch must be 1 or more, not {batch}")
    ref_info = probe(reference)
    if skip < 0:
        raise UsageError(f"skip must be 0 or more frames, not {skip}")
    pairs = [pair_inputs(ref_info, probe(d), skip) for d in distorted]
    size = batch or len(pairs)
    scores: list[VmafScore] = []
    for i in range(0, len(pairs), size):
        scores += _vmaf_batch(pairs[i : i + size], subsample, model, threads, show_progress, ssim=ssim)
    return scores


def _vmaf(
    pair: Pair, subsample: int, model: str | None, threads: int | None, show_progress: bool, *, ssim: bool = False
) -> VmafScore:
    return _vmaf_batch([pair], subsample, model, threads, show_progress, ssim=ssim)[0]


def _vmaf_batch(
    pairs: Sequence[Pair], subsample: int, model: str | None, threads: int | None, show_progress: bool, *, ssim: bool
) -> list[VmafScore]:
    """Run one ffmpeg with a libvmaf per pair; every pair shares the same reference (the last input)."""
    first = pairs[0]
    model = model or pick_model(first.ref.height)
    if model not in MODELS:
        raise UsageError(f"unknown VMAF model {model!r}; built in: {', '.join(sorted(MODELS))}")
    threads = threads if threads is not None else _default_threads()
    if threads < 1:
        raise UsageError(f"threads must be 1 or more, not {threads}")
    if len(pairs) == 1:
        inputs = ffmpeg_inputs(first)
    else:
        for info in (first.ref_info, *(p.dist_info for p in pairs)):
            refuse_mpegts(info)
        # Distorted inputs first (0..n-1), the reference last, so that with one pair the graph is vmaf()'s.
        inputs = [arg for p in pairs for arg in ("-i", str(p.distorted))] + ["-i", str(first.reference)]
    n = len(pairs)
    with tempfile.TemporaryDirectory(prefix="vodflow-vmaf-") as tmp:
        logs = [Path(tmp) / f"vmaf{i}.json" for i in range(n)]
        select, n_subsample = frame_selection(pairs, subsample)
        if n == 1:
            graph = [prepared_streams(first, select)[:-1]]
            refs = ["ref"]
            dists = ["dist"]
        else:
            refs = [f"ref{i}" for i in range(n)]
            dists = [f"dist{i}" for i in range(n)]
            # The reference decoded and prepared once, then split to every libvmaf.
            graph = [prepared_reference(first, n, select) + f",split={n}" + "".join(f"[{r}]" for r in refs)]
            graph += [prepared_distorted(p, i, dists[i], select) for i, p in enumerate(pairs)]
        features = ":feature=name=float_ssim" if ssim else ""
        for i in range(n):
            graph.append(
                f"[{dists[i]}][{refs[i]}]libvmaf=model=version={model}{features}"
                f":n_threads={threads}:n_subsample={n_subsample}"
                f":log_fmt=json:log_path={filter_value(str(logs[i]))}"
                f":shortest=1[out{'' if n == 1 else i}]"  # stop at the shorter input's end, no repeats
            )
        outputs = [arg for i in range(n) for arg in ("-map", f"[out{'' if n == 1 else i}]", "-f", "null", "-")]
        label = f"vmaf {first.distorted.name}" if n == 1 else f"vmaf x{n} vs {first.reference.name}"
        done = run_ffmpeg(
            [*inputs, "-filter_complex", ";".join(graph), *outputs],
            duration=first.duration,
            label=label,
            tool=tools.Tool.FFMPEG_VMAF,
            show_progress=show_progress,
        )
        docs = []
        for log_path in logs:
            try:
                docs.append(json.loads(log_path.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                raise ProcessError(f"libvmaf wrote no readable log ({exc})", argv=done.argv) from exc
    return [_score(p, doc, model, subsample, done.seconds, ssim=ssim) for p, doc in zip(pairs, docs, strict=True)]


def _score(pair: Pair, doc: dict, model: str, subsample: int, seconds: float, *, ssim: bool) -> VmafScore:
    frames = sorted(doc.get("frames") or [], key=lambda f: f["frameNum"])
    per_frame = [float(f["metrics"]["vmaf"]) for f in frames]
    if not per_frame:
        raise DecodeError(pair.distorted, "no frame could be paired with the reference, so there is no VMAF")
    ssims = [float(f["metrics"]["float_ssim"]) for f in frames] if ssim else None
    ref_frames = pair.ref.frames or round(pair.duration * (pair.ref.fps or FALLBACK_FPS))
    return VmafScore(
        model=model,
        subsample=subsample,
        frames=len(per_frame),
        mean=statistics.fmean(per_frame),
        harmonic_mean=harmonic_mean(per_frame),
        p5=percentile(per_frame, 5),
        min=min(per_frame),
        per_frame=per_frame,
        seconds=seconds,
        fps=ref_frames / seconds if seconds > 0 else 0.0,
        ssim=statistics.fmean(ssims) if ssims else None,
        ssim_per_frame=ssims,
    )


# --- both ---------------------------------------------------------------------------------------------


def score(
    reference: str | os.PathLike[str],
    distorted: str | os.PathLike[str],
    *,
    subsample: int = 1,
    ssim: bool = True,
    show_progress: bool = True,
) -> QualityReport:
    """VMAF (model by reference height) and, unless ``ssim`` is false, SSIM/PSNR; one probe of each input.

    Returns a :class:`QualityReport`; raises as :func:`vmaf` and ``pipeline.frame_metrics.frame_metrics``.
    """
    check_subsample(subsample)
    pair = prepare_pair(reference, distorted)
    return QualityReport(
        reference=str(pair.reference),
        distorted=str(pair.distorted),
        width=pair.ref.width,
        height=pair.ref.height,
        vmaf=_vmaf(pair, subsample, None, None, show_progress),
        metrics=pair_metrics(pair, subsample, show_progress) if ssim else None,
    )
