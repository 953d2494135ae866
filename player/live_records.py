"""The live session's records: a ``LiveSample`` every half second of wall time and the ``LiveReport`` of a
whole session (latency percentiles, stalls, switches, time-average bitrate, what the server refused).

Latency is wall clock minus the program date time of the instant shown; percentiles are over the samples
taken once playback had begun (a stall's samples count: latency grows while nothing plays).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Literal

from vodflow.records import Record

__all__ = ["LiveReport", "LiveSample", "percentile"]

EndReason = Literal["seconds", "ended", "gone", "stalled"]


class LiveSample(Record):
    """The player at ``t_s`` seconds into the session (seconds, kbit/s; ``rate`` is the playback rate).
    ``state``: ``starting`` (before playback first began), ``playing``, ``stalled`` (nothing to show),
    ``seeking`` (a jump back to the target: the buffer flushed, media fetched again)."""

    t_s: float
    latency_s: float | None
    buffer_s: float
    rendition: str | None
    bitrate_kbps: float | None
    rate: float
    state: Literal["starting", "playing", "stalled", "seeking"]


class LiveReport(Record):
    """One live session. ``end``: ``seconds`` (the session's length ran out), ``ended`` (the playlist got
    ``EXT-X-ENDLIST`` and the buffer played out), ``gone`` (the server stopped answering), ``stalled``
    (no new media for ``idle_timeout_s``)."""

    url: str
    trace: str
    abr: str
    mode: Literal["ll-hls", "hls"]
    target_latency_s: float
    seconds: float
    startup_s: float | None
    start_latency_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_mean_s: float | None
    latency_min_s: float | None
    latency_max_s: float | None
    stalls: int
    stall_s: float
    switches: int
    mean_bitrate_kbps: float | None
    max_rate: float
    min_rate: float
    seeks: int
    seek_wait_s: float  # wall seconds between a seek and playback going on (not stalls)
    media_requests: int
    playlist_requests: int
    bytes_downloaded: int
    refused: dict[str, int]  # HTTP status -> count of answers the player had to work around (400, 503, ...)
    end: EndReason
    samples: list[LiveSample]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` by the nearest rank, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None
