"""What is left of an encode without its first frames: what warm-up probes measure.

A probe encode of an excerpt starts one GOP early, so that the encoder has the keyframe and the
rate-control history its frames have inside the title. The lead is then left out of the measurement:
its frames by ``pipeline.quality.vmaf_many(skip=...)``, its bits here, from the packets' presentation
times. (Cutting the lead away by stream copy was tried first: with B-frames, ffmpeg's copy at the
keyframe kept the right number of packets but shifted frames against the reference.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.packets import video_packets
from vodflow.errors import ProbeError, UsageError

__all__ = ["Tail", "tail"]


@dataclass(frozen=True, slots=True)
class Tail:
    frames: int  # video frames from the cut on
    bits: int  # their payload, without the container
    duration: float  # seconds: frames over the rate


def tail(path: str | os.PathLike[str], *, skip: int, fps: float) -> Tail:
    """The frames, bits and seconds of ``path``'s video from frame ``skip`` on (in presentation order).

    Frame ``skip`` must be a keyframe, so that what is left decodes on its own as the title's frames
    would. Raises ``UsageError`` for a negative ``skip`` or a rate that is not positive, ``ProbeError``
    when frame ``skip`` is missing or is no keyframe, or when ffprobe cannot read the file.
    """
    if skip < 0 or fps <= 0:
        raise UsageError(f"cannot skip {skip} frames at {fps} fps")
    path = Path(path)
    packets = video_packets(path)
    if not packets:
        raise ProbeError(path, "has no video packets")
    first = packets[0].pts
    # Half a frame either side of frame `skip`'s time absorbs timestamp rounding.
    kept = [p for p in packets if p.pts - first >= (skip - 0.5) / fps]
    if skip and (not kept or not kept[0].key):
        raise ProbeError(path, f"frame {skip} is no keyframe, so what follows it does not stand on its own")
    return Tail(len(kept), 8 * sum(p.size for p in kept), len(kept) / fps)
