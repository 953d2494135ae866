"""A file's packets as ffprobe lists them: measuring a finished one-stream file (duration, frames, average
bitrate and the peak over GOP-aligned windows, the segments a packager will cut), and the video packets
with their keyframe flags (chunk and join checks, warm-up tails)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pipeline.ffprobe import ffprobe

__all__ = ["Measured", "Packet", "measure", "video_packets"]

# A whole title's packets: ffprobe reads every one of them.
_MEASURE_TIMEOUT_S = 300.0
_LIST_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Measured:
    """What the packets of one file say; sizes and rates are ``None`` where the stream has none."""

    duration: float
    frames: int
    size_bytes: int
    bitrate_kbps: float
    peak_bitrate_kbps: float
    width: int | None
    height: int | None
    channels: int | None
    sample_rate: int | None


def measure(path: Path, window_seconds: float) -> Measured:
    """Measure the one-stream file at ``path`` from its packets, the peak over windows of ``window_seconds``.

    Returns a ``Measured`` (all zero for a file without packets). Raises ``ProbeError`` when ffprobe
    cannot read the file.
    """
    doc = ffprobe(
        path,
        "-select_streams",
        "0",
        "-show_entries",
        "packet=pts_time,duration_time,size:stream=width,height,channels,sample_rate",
        timeout=_MEASURE_TIMEOUT_S,
    )
    stream = (doc.get("streams") or [{}])[0]
    packets = [
        (float(p["pts_time"]), float(p.get("duration_time") or 0), int(p["size"]))
        for p in doc.get("packets") or []
        if p.get("pts_time") not in (None, "N/A")
    ]
    size = path.stat().st_size
    if not packets:
        return Measured(0.0, 0, size, 0.0, 0.0, None, None, None, None)
    start = min(p[0] for p in packets)
    end = max(p[0] + p[1] for p in packets)
    duration = max(end - start, 1e-6)
    total = sum(p[2] for p in packets)
    windows: dict[int, int] = {}
    for pts, _, nbytes in packets:
        k = int((pts - start) / window_seconds + 1e-6)
        windows[k] = windows.get(k, 0) + nbytes
    # Every window counts as a full window (a file shorter than one as its length): a short last
    # segment holding one audio packet must not pass for the peak.
    peak = max(windows.values()) * 8 / 1000 / min(window_seconds, duration)

    def _int(key: str) -> int | None:
        v = stream.get(key)
        return int(v) if v not in (None, "N/A") else None

    return Measured(
        duration=duration,
        frames=len(packets),
        size_bytes=size,
        bitrate_kbps=total * 8 / 1000 / duration,
        peak_bitrate_kbps=peak,
        width=_int("width"),
        height=_int("height"),
        channels=_int("channels"),
        sample_rate=_int("sample_rate"),
    )


class Packet(NamedTuple):
    """One video packet: presentation time (s), payload bytes, keyframe or not."""

    pts: float
    size: int
    key: bool


def video_packets(path: str | os.PathLike[str], *, timeout: float = _LIST_TIMEOUT_S) -> list[Packet]:
    """Every timestamped packet of the first video stream of ``path``, in presentation order.

    Raises ``ProbeError`` when ffprobe cannot read the file, ``ProcessTimeout`` past ``timeout``.
    """
    doc = ffprobe(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,size,flags", timeout=timeout)
    return sorted(
        Packet(float(p["pts_time"]), int(p.get("size") or 0), "K" in (p.get("flags") or ""))
        for p in doc.get("packets") or []
        if p.get("pts_time") not in (None, "N/A")
    )
