"""Objective quality of a distorted rendition against its reference: VMAF, SSIM and PSNR.

VMAF runs in libvmaf inside ffmpeg 6.0 (``Tool.FFMPEG_VMAF``), per-frame scores read from its JSON log.
SSIM and PSNR are computed with scikit-image on the luma planes of frames decoded with PyAV; the
ffmpeg ``ssim``/``psnr`` filters are kept for cross-checks only (:func:`ffmpeg_ssim_psnr`).

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
:func:`_paired` re-implements it for PyAV frames with exact rational timestamps, and the tests check
that both paths pair the same frames (PSNR per frame equal to ffmpeg's psnr filter). For renditions at
the reference's frame rate, which every ladder rung is, it pairs frame *i* with frame *i*.

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
import math
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation
from skimage.metrics import mean_squared_error, structural_similarity

from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import MediaInfo, VideoStream, parse_rate, probe, require_video
from vodflow import tools
from vodflow.errors import DecodeError, DurationMismatch, ProbeError, ProcessError, UnsupportedMedia, UsageError
from vodflow.progress import Progress
from vodflow.records import Record

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "MODEL_4K",
    "PSNR_CAP_DB",
    "FrameMetrics",
    "QualityReport",
    "VmafScore",
    "duration_tolerance",
    "ffmpeg_ssim_psnr",
    "frame_metrics",
    "harmonic_mean",
    "percentile",
    "pick_model",
    "score",
    "vmaf",
    "vmaf_many",
]

DEFAULT_MODEL = "vmaf_v0.6.1"
MODEL_4K = "vmaf_4k_v0.6.1"
# The models built into the libvmaf (2.3.0) of our ffmpeg 6.0; any other name fails inside ffmpeg.
MODELS = frozenset({DEFAULT_MODEL, "vmaf_v0.6.1neg", MODEL_4K})
# The 4K model is trained for 2160p viewed at 1.5 screen heights; above 1440p that is the closer match.
_4K_ABOVE_HEIGHT = 1440

# Identical frames have an MSE of 0 and an infinite PSNR, which JSON cannot carry and a mean cannot
# use. We report 100 dB instead, both from scikit-image and from ffmpeg's psnr filter (which prints
# "inf"). The largest finite 8-bit PSNR is 10*log10(255^2 * pixels): 95.7 dB at 320x180, 111 dB at 1080p,
# so the cap only touches frames whose squared errors sum to less than 14 code values^2 at 1080p.
PSNR_CAP_DB = 100.0

# libvmaf gains little past 16 threads and each one holds frames in memory.
_MAX_THREADS = 16
# A duration may be rounded to the container's time base (1 ms in Matroska) on top of the frame slack.
_TIMESTAMP_SLACK_S = 0.001
_FALLBACK_FPS = 25.0


class VmafScore(Record):
    model: str
    subsample: int
    frames: int  # frames scored: len(per_frame)
    mean: float
    harmonic_mean: float  # 1 / mean(1 / (1 + x)) - 1, the VMAF project's definition
    p5: float  # 5th percentile of per_frame, linear interpolation between ranks
    min: float
    per_frame: list[float]
    seconds: float  # wall time of the ffmpeg run (shared by every score of one vmaf_many run)
    fps: float  # frames of the reference decoded and processed per wall second (all, whatever subsample)
    ssim: float | None = None  # mean of ssim_per_frame, when libvmaf's float_ssim was asked for
    ssim_per_frame: list[float] | None = None  # libvmaf's float_ssim (luma) of the same scored frames


class FrameMetrics(Record):
    frames: int  # frames scored
    subsample: int
    ssim_mean: float
    ssim_min: float
    psnr_mean: float  # mean of per-frame PSNR of the Y plane, each capped at PSNR_CAP_DB
    psnr_min: float
    ssim: list[float]
    psnr: list[float]
    seconds: float


class QualityReport(Record):
    reference: str
    distorted: str
    width: int  # reference size: what the distorted was scaled to
    height: int
    vmaf: VmafScore
    metrics: FrameMetrics | None


def pick_model(height: int) -> str:
    """Return the VMAF model for a reference ``height``: the 4K model above 1440p, else vmaf_v0.6.1."""
    return MODEL_4K if height > _4K_ABOVE_HEIGHT else DEFAULT_MODEL


def harmonic_mean(scores: Iterable[float]) -> float:
    """The VMAF project's harmonic mean, ``1 / mean(1 / (1 + x)) - 1``.

    The +1 keeps a frame scoring 0 from making the mean 0; the pooling still weighs the worst frames
    more than the plain mean does, and it is never above it.
    """
    xs = list(scores)
    return len(xs) / sum(1.0 / (1.0 + x) for x in xs) - 1.0


def percentile(scores: Iterable[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation between closest ranks (numpy's default)."""
    return float(np.percentile(np.asarray(list(scores), dtype=np.float64), q))


# --- inputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Pair:
    ref_info: MediaInfo
    dist_info: MediaInfo
    ref: VideoStream
    dist: VideoStream
    duration: float  # reference, seconds
    skip: int = 0  # frames at the distorted input's start that the reference does not have

    @property
    def reference(self) -> Path:
        return Path(self.ref_info.path)

    @property
    def distorted(self) -> Path:
        return Path(self.dist_info.path)

    @property
    def pix_fmt(self) -> str:
        return "yuv420p10le" if self.ref.bit_depth > 8 else "yuv420p"

    @property
    def peak(self) -> int:
        return 1023 if self.ref.bit_depth > 8 else 255


def _frame_seconds(v: VideoStream) -> float:
    return 1.0 / (v.fps or _FALLBACK_FPS)


def _seconds(info: MediaInfo, v: VideoStream) -> float:
    # The video stream's own duration first: the container's includes audio, which may run longer.
    if v.duration:
        return v.duration
    if v.frames and v.fps:
        return v.frames / v.fps
    if info.duration:
        return info.duration
    raise ProbeError(info.path, "duration unknown, so it cannot be checked against the other input")


def duration_tolerance(ref: VideoStream, dist: VideoStream) -> float:
    """Seconds two inputs may differ by and still be compared: one frame (the longer one) plus 1 ms.

    Legitimate differences are constant, not proportional to length: the last frame's duration, an
    encoder's edit list, a container rounding to its time base. A percentage would let a two-hour
    title lose a whole scene unnoticed.
    """
    return max(_frame_seconds(ref), _frame_seconds(dist)) + _TIMESTAMP_SLACK_S


def _prepare(reference: str | os.PathLike[str], distorted: str | os.PathLike[str]) -> _Pair:
    """Probe both inputs and check they can be compared; raises before any scoring starts."""
    return _pair(probe(reference), probe(distorted))


def _pair(ref_info: MediaInfo, dist_info: MediaInfo, skip: int = 0) -> _Pair:
    """Check two probed inputs can be compared frame by frame; raises as :func:`_prepare`."""
    ref, dist = require_video(ref_info), require_video(dist_info)
    ref_s, dist_s = _seconds(ref_info, ref), _seconds(dist_info, dist)
    if skip:
        dist_s -= skip / float(parse_rate(dist.frame_rate) or parse_rate(dist.avg_frame_rate) or _FALLBACK_FPS)
    tol = duration_tolerance(ref, dist)
    if abs(ref_s - dist_s) > tol:
        raise DurationMismatch(
            dist_info.path,
            f"lasts {dist_s:.3f} s but its reference {ref_info.path} lasts {ref_s:.3f} s; "
            f"they must match within one frame ({tol * 1000:.0f} ms) to be compared frame by frame",
        )
    return _Pair(ref_info, dist_info, ref, dist, ref_s, skip)


def _check_subsample(subsample: int) -> None:
    if subsample < 1:
        raise UsageError(f"subsample must be 1 or more (every Nth frame), not {subsample}")


# --- ffmpeg -------------------------------------------------------------------------------------------


def _filter_value(text: str) -> str:
    """Escape ``text`` as an option value inside a filtergraph: once for the option, once for the graph."""
    option = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def _prepared_streams(pair: _Pair, select: str = "") -> str:
    """Graph head: the distorted (input 0) as [dist] and the reference (input 1) as [ref], made comparable."""
    return f"{_prepared_distorted(pair, 0, 'dist', select)};{_prepared_reference(pair, 1, select)}[ref];"


def _prepared_distorted(pair: _Pair, input_index: int, label: str, select: str = "") -> str:
    w, h, fmt = pair.ref.width, pair.ref.height, pair.pix_fmt
    return (
        # Leave out a lead the reference does not have; then rebase to 0 (the reference too) so that
        # pairing by timestamp ignores a start offset.
        f"[{input_index}:{pair.dist.index}]{f'trim=start_frame={pair.skip},' if pair.skip else ''}"
        f"setpts=PTS-STARTPTS{select},"
        # Bicubic to the reference size; scale passes frames through untouched when sizes already match.
        f"scale={w}:{h}:flags=bicubic,format={fmt}[{label}]"
    )


def _prepared_reference(pair: _Pair, input_index: int, select: str = "") -> str:
    """The reference's chain, without its output label (a caller may end it with a split)."""
    return f"[{input_index}:{pair.ref.index}]setpts=PTS-STARTPTS{select},format={pair.pix_fmt}"


def _same_constant_rate(pair: _Pair) -> bool:
    """True when frame n of the distorted is paired with frame n of the reference."""
    return (
        not pair.ref.vfr
        and not pair.dist.vfr
        and pair.ref.frame_rate is not None
        and parse_rate(pair.ref.frame_rate) == parse_rate(pair.dist.frame_rate)
    )


def _frame_selection(pairs: Sequence[_Pair], subsample: int) -> tuple[str, int]:
    """(select filter to add to every chain, libvmaf n_subsample) scoring every ``subsample``-th frame.

    See the module docstring: frames 0, 1 and each scored frame's neighbours are all libvmaf needs.
    """
    if subsample <= 3 or not all(_same_constant_rate(p) for p in pairs):
        return "", subsample
    return f",select='lte(mod(n+1\\,{subsample})\\,2)'", 3


def _refuse_mpegts(info: MediaInfo) -> None:
    if "mpegts" in info.container.split(","):
        # The static ffmpeg 6.0 that carries libvmaf segfaults on every MPEG-TS input, even with -c copy.
        raise UnsupportedMedia(
            info.path,
            "MPEG-TS cannot be scored: the ffmpeg build with libvmaf crashes on it; "
            "remux it to MP4 first (ffmpeg -i in.ts -c copy out.mp4)",
        )


def _ffmpeg_inputs(pair: _Pair) -> list[str]:
    for info in (pair.dist_info, pair.ref_info):
        _refuse_mpegts(info)
    # The distorted goes first: libvmaf, ssim and psnr call input 0 "main" and input 1 "reference".
    return ["-i", str(pair.distorted), "-i", str(pair.reference)]


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
    _check_subsample(subsample)
    return _vmaf(_prepare(reference, distorted), subsample, model, threads, show_progress, ssim=ssim)


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
    _check_subsample(subsample)
    if not distorted:
        raise UsageError("vmaf_many needs at least one distorted input")
    if batch is not None and batch < 1:
        raise UsageError(f"batch must be 1 or more, not {batch}")
    ref_info = probe(reference)
    if skip < 0:
        raise UsageError(f"skip must be 0 or more frames, not {skip}")
    pairs = [_pair(ref_info, probe(d), skip) for d in distorted]
    size = batch or len(pairs)
    scores: list[VmafScore] = []
    for i in range(0, len(pairs), size):
        scores += _vmaf_batch(pairs[i : i + size], subsample, model, threads, show_progress, ssim=ssim)
    return scores


def _vmaf(
    pair: _Pair, subsample: int, model: str | None, threads: int | None, show_progress: bool, *, ssim: bool = False
) -> VmafScore:
    return _vmaf_batch([pair], subsample, model, threads, show_progress, ssim=ssim)[0]


def _vmaf_batch(
    pairs: Sequence[_Pair], subsample: int, model: str | None, threads: int | None, show_progress: bool, *, ssim: bool
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
        inputs = _ffmpeg_inputs(first)
    else:
        for info in (first.ref_info, *(p.dist_info for p in pairs)):
            _refuse_mpegts(info)
        # Distorted inputs first (0..n-1), the reference last, so that with one pair the graph is vmaf()'s.
        inputs = [arg for p in pairs for arg in ("-i", str(p.distorted))] + ["-i", str(first.reference)]
    n = len(pairs)
    with tempfile.TemporaryDirectory(prefix="vodflow-vmaf-") as tmp:
        logs = [Path(tmp) / f"vmaf{i}.json" for i in range(n)]
        select, n_subsample = _frame_selection(pairs, subsample)
        if n == 1:
            graph = [_prepared_streams(first, select)[:-1]]
            refs = ["ref"]
            dists = ["dist"]
        else:
            refs = [f"ref{i}" for i in range(n)]
            dists = [f"dist{i}" for i in range(n)]
            # The reference decoded and prepared once, then split to every libvmaf.
            graph = [_prepared_reference(first, n, select) + f",split={n}" + "".join(f"[{r}]" for r in refs)]
            graph += [_prepared_distorted(p, i, dists[i], select) for i, p in enumerate(pairs)]
        features = ":feature=name=float_ssim" if ssim else ""
        for i in range(n):
            graph.append(
                f"[{dists[i]}][{refs[i]}]libvmaf=model=version={model}{features}"
                f":n_threads={threads}:n_subsample={n_subsample}"
                f":log_fmt=json:log_path={_filter_value(str(logs[i]))}"
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


def _score(pair: _Pair, doc: dict, model: str, subsample: int, seconds: float, *, ssim: bool) -> VmafScore:
    frames = sorted(doc.get("frames") or [], key=lambda f: f["frameNum"])
    per_frame = [float(f["metrics"]["vmaf"]) for f in frames]
    if not per_frame:
        raise DecodeError(pair.distorted, "no frame could be paired with the reference, so there is no VMAF")
    ssims = [float(f["metrics"]["float_ssim"]) for f in frames] if ssim else None
    ref_frames = pair.ref.frames or round(pair.duration * (pair.ref.fps or _FALLBACK_FPS))
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


def _read_stats(path: Path, key: str) -> list[float]:
    values = []
    for line in path.read_text().splitlines():
        fields = dict(f.split(":", 1) for f in line.split() if ":" in f)
        if key in fields:
            values.append(float(fields[key]))  # float() reads ffmpeg's "inf" too
    return values


def ffmpeg_ssim_psnr(
    reference: str | os.PathLike[str], distorted: str | os.PathLike[str]
) -> tuple[list[float], list[float]]:
    """Per-frame SSIM and PSNR of the Y plane from ffmpeg's ``ssim`` and ``psnr`` filters.

    Frames are prepared and paired as for VMAF; PSNR is capped at ``PSNR_CAP_DB`` like ours. Meant for
    cross-checking :func:`frame_metrics`. Raises as :func:`vmaf`.
    """
    pair = _prepare(reference, distorted)
    with tempfile.TemporaryDirectory(prefix="vodflow-ssim-") as tmp:
        ssim_log, psnr_log = Path(tmp) / "ssim.log", Path(tmp) / "psnr.log"
        graph = _prepared_streams(pair) + (
            "[ref]split[ref1][ref2];"
            # ssim passes its main input through, so psnr can follow it on the same frames.
            f"[dist][ref1]ssim=stats_file={_filter_value(str(ssim_log))}:shortest=1[checked];"
            f"[checked][ref2]psnr=stats_file={_filter_value(str(psnr_log))}:shortest=1[out]"
        )
        run_ffmpeg(
            [*_ffmpeg_inputs(pair), "-filter_complex", graph, "-map", "[out]", "-f", "null", "-"],
            duration=pair.duration,
            label=f"ssim/psnr {pair.distorted.name}",
            tool=tools.Tool.FFMPEG_VMAF,
            show_progress=False,
        )
        ssim = _read_stats(ssim_log, "Y")
        psnr = [min(v, PSNR_CAP_DB) for v in _read_stats(psnr_log, "psnr_y")]
    return ssim, psnr


# --- scikit-image on PyAV frames ----------------------------------------------------------------------


def _time(frame: av.VideoFrame, index: int, fallback_rate: Fraction) -> Fraction:
    if frame.pts is None or frame.time_base is None:
        return index / fallback_rate
    return frame.pts * Fraction(frame.time_base)


def _timed(frames: Iterable[av.VideoFrame], rate: Fraction) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """Yield (time, frame) with times rebased to the first frame, like ``setpts=PTS-STARTPTS``."""
    start: Fraction | None = None
    for i, f in enumerate(frames):
        t = _time(f, i, rate)
        if start is None:
            start = t
        yield t - start, f


def _paired(
    ref_frames: Iterable[av.VideoFrame],
    dist_frames: Iterable[av.VideoFrame],
    ref_rate: Fraction,
    dist_rate: Fraction,
) -> Iterator[tuple[Fraction, av.VideoFrame, av.VideoFrame]]:
    """Yield (time, reference, distorted) paired by framesync's rule (see the module docstring)."""
    refs = _timed(ref_frames, ref_rate)
    current = next(refs, None)
    upcoming = next(refs, None)
    if current is None:
        return
    for t, dist in _timed(dist_frames, dist_rate):
        while upcoming is not None and upcoming[0] <= t:
            current, upcoming = upcoming, next(refs, None)
        if upcoming is None and t > current[0]:
            return  # past the reference's end, which ffmpeg 6.0 puts at its last frame's time
        if current[0] <= t:
            yield t, current[1], dist


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane as float32: scikit-image's SSIM runs 1.7x faster than on float64, within 1e-7 of it."""
    plane = frame.planes[0]
    dtype = np.dtype(np.uint8) if frame.format.name == "yuv420p" else np.dtype("<u2")
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)
    return rows[:, : plane.width].astype(np.float32)


def _psnr(mse: float, peak: int) -> float:
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(peak * peak / mse))


def frame_metrics(
    reference: str | os.PathLike[str],
    distorted: str | os.PathLike[str],
    *,
    subsample: int = 1,
    show_progress: bool = True,
) -> FrameMetrics:
    """SSIM and PSNR of the Y plane per paired frame, with scikit-image on frames decoded by PyAV.

    SSIM: ``structural_similarity`` with its defaults (7x7 uniform window, sample covariance) and the
    data range of the reference's bit depth (255 or 1023). PSNR from the mean squared error, capped at
    ``PSNR_CAP_DB``. Raises as :func:`vmaf`, and ``DecodeError`` if PyAV cannot decode an input.
    """
    _check_subsample(subsample)
    return _frame_metrics(_prepare(reference, distorted), subsample, show_progress)


def _rate(v: VideoStream) -> Fraction:
    return parse_rate(v.frame_rate) or Fraction(_FALLBACK_FPS)


def _frame_metrics(pair: _Pair, subsample: int, show_progress: bool) -> FrameMetrics:
    started = time.monotonic()
    w, h, fmt, peak = pair.ref.width, pair.ref.height, pair.pix_fmt, pair.peak
    ssim: list[float] = []
    psnr: list[float] = []
    try:
        with (
            av.open(str(pair.reference)) as rc,
            av.open(str(pair.distorted)) as dc,
            Progress(f"ssim/psnr {pair.distorted.name}", pair.duration, enabled=show_progress) as progress,
        ):
            rs, ds = rc.streams[pair.ref.index], dc.streams[pair.dist.index]
            rs.thread_type = ds.thread_type = "AUTO"
            pairs = _paired(rc.decode(rs), dc.decode(ds), _rate(pair.ref), _rate(pair.dist))
            for i, (t, rf, df) in enumerate(pairs):
                if i % subsample:
                    continue
                ref_y = _luma(rf.reformat(format=fmt))
                dist_y = _luma(df.reformat(w, h, fmt, interpolation=Interpolation.BICUBIC))
                ssim.append(float(structural_similarity(ref_y, dist_y, data_range=peak)))
                psnr.append(_psnr(float(mean_squared_error(ref_y, dist_y)), peak))
                progress.update(float(t))
    except av.FFmpegError as exc:
        raise DecodeError(pair.distorted, f"PyAV could not decode the pair ({exc})") from exc
    if not ssim:
        raise DecodeError(pair.distorted, "no frame could be paired with the reference, so there is no SSIM")
    return FrameMetrics(
        frames=len(ssim),
        subsample=subsample,
        ssim_mean=statistics.fmean(ssim),
        ssim_min=min(ssim),
        psnr_mean=statistics.fmean(psnr),
        psnr_min=min(psnr),
        ssim=ssim,
        psnr=psnr,
        seconds=time.monotonic() - started,
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

    Returns a :class:`QualityReport`; raises as :func:`vmaf` and :func:`frame_metrics`.
    """
    _check_subsample(subsample)
    pair = _prepare(reference, distorted)
    return QualityReport(
        reference=str(pair.reference),
        distorted=str(pair.distorted),
        width=pair.ref.width,
        height=pair.ref.height,
        vmaf=_vmaf(pair, subsample, None, None, show_progress),
        metrics=_frame_metrics(pair, subsample, show_progress) if ssim else None,
    )
