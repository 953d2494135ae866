"""How a live encoder keeps up: ffmpeg's ``-progress`` reports, read as they come, as ``LiveStats``."""

from __future__ import annotations

import threading
import time
from typing import IO

from vodflow.records import Record

__all__ = ["LiveProgress", "LiveStats"]


class LiveStats(Record):
    """How the encoder keeps up: ffmpeg's own counters from its last progress report, and the wall time
    since start at that report. ``speed_measured`` (media seconds per wall second) stays at 1 when live."""

    frames: int = 0
    fps: float = 0.0
    speed: float = 0.0
    dropped: int = 0
    duplicated: int = 0
    out_time_s: float = 0.0
    wall_s: float = 0.0

    @property
    def speed_measured(self) -> float:
        return self.out_time_s / self.wall_s if self.wall_s > 0 else 0.0


def _number(text: str | None, kind: type[int] | type[float]) -> int | float | None:
    try:
        return kind((text or "").strip().removesuffix("x"))
    except ValueError:
        return None  # "N/A" until ffmpeg knows


class LiveProgress:
    """Reads ffmpeg's ``-progress`` blocks from ``stream`` (its stdout) in a thread of its own into the
    latest ``LiveStats``; ``wall_s`` counts from ``started`` (a ``time.monotonic()``). It ends at EOF."""

    def __init__(self, stream: IO[bytes], started: float) -> None:
        self._stream = stream
        self._started = started
        self._lock = threading.Lock()
        self._stats = LiveStats()
        self.thread = threading.Thread(target=self._run, name="live-progress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block: dict[str, str] = {}
        for raw in iter(self._stream.readline, b""):
            key, sep, value = raw.decode("utf-8", "replace").strip().partition("=")
            if not sep:
                continue
            block[key] = value
            if key == "progress":  # the last line of each block
                self._update(block, time.monotonic() - self._started)
                block = {}
        self._stream.close()

    def _update(self, block: dict[str, str], wall_s: float) -> None:
        old = self._stats
        us = _number(block.get("out_time_us"), int)  # out_time_ms is microseconds too, misnamed
        values = {
            "frames": _number(block.get("frame"), int),
            "fps": _number(block.get("fps"), float),
            "speed": _number(block.get("speed"), float),
            "dropped": _number(block.get("drop_frames"), int),
            "duplicated": _number(block.get("dup_frames"), int),
            "out_time_s": us / 1e6 if us is not None and us >= 0 else None,
        }
        new = old.model_copy(update={k: v for k, v in values.items() if v is not None} | {"wall_s": wall_s})
        with self._lock:
            self._stats = new

    def latest(self) -> LiveStats:
        """The stats of the last complete report (all 0 before the first)."""
        with self._lock:
            return self._stats
