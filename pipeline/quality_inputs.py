"""The two inputs of a quality comparison, probed and checked before any scoring: a ``Pair`` of a
reference and a distorted rendition that last the same time within one frame."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.probe import MediaInfo, VideoStream, parse_rate, probe, require_video
from vodflow.errors import DurationMismatch, ProbeError, UsageError

__all__ = ["FALLBACK_FPS", "Pair", "check_subsample", "duration_tolerance", "pair_inputs", "prepare_pair"]

# A duration may be rounded to the container's time base (1 ms in Matroska) on top of the frame slack.
_TIMESTAMP_SLACK_S = 0.001
# The rate assumed for a stream that states none.
FALLBACK_FPS = 25.0


@dataclass(frozen=True, slots=True)
class Pair:
    """A reference and a distorted input, probed and checked, with the reference's duration."""

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
    return 1.0 / (v.fps or FALLBACK_FPS)


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


def prepare_pair(reference: str | os.PathLike[str], distorted: str | os.PathLike[str]) -> Pair:
    """Probe both inputs and return them as a ``Pair``; raises before any scoring starts.

    Raises ``UsageError`` for a missing input, ``ProbeError`` for an unreadable one or one of unknown
    duration, ``NoVideoStream``/``UnsupportedMedia`` as ``require_video``, ``DurationMismatch`` when the
    two differ by more than :func:`duration_tolerance`.
    """
    return pair_inputs(probe(reference), probe(distorted))


def pair_inputs(ref_info: MediaInfo, dist_info: MediaInfo, skip: int = 0) -> Pair:
    """Return two probed inputs as a ``Pair`` once checked that they can be compared frame by frame, with
    ``skip`` frames at the distorted input's start left out; raises as :func:`prepare_pair`."""
    ref, dist = require_video(ref_info), require_video(dist_info)
    ref_s, dist_s = _seconds(ref_info, ref), _seconds(dist_info, dist)
    if skip:
        dist_s -= skip / float(parse_rate(dist.frame_rate) or parse_rate(dist.avg_frame_rate) or FALLBACK_FPS)
    tol = duration_tolerance(ref, dist)
    if abs(ref_s - dist_s) > tol:
        raise DurationMismatch(
            dist_info.path,
            f"lasts {dist_s:.3f} s but its reference {ref_info.path} lasts {ref_s:.3f} s; "
            f"they must match within one frame ({tol * 1000:.0f} ms) to be compared frame by frame",
        )
    return Pair(ref_info, dist_info, ref, dist, ref_s, skip)


def check_subsample(subsample: int) -> None:
    """Return if ``subsample`` (every Nth frame) is 1 or more; raise ``UsageError`` otherwise."""
    if subsample < 1:
        raise UsageError(f"subsample must be 1 or more (every Nth frame), not {subsample}")
