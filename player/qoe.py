"""QoE of a session, with the reference simulator's definitions (``../shared/abr-reference``):

- total time = startup (first segments' download) + media played + stalls (+ seek waits);
- rebuffer ratio = stall time / total time; rebuffer count = times the buffer ran dry;
- time-average bitrate = Σ bitrate of each played segment × its duration / total time;
- time-average bitrate change = Σ |b_i − b_{i−1}| × segment i's duration / total time;
- time-average VMAF = Σ VMAF of each played segment × its duration / media time played (a stall shows
  no picture, it does not show a bad one, so VMAF is averaged over what was shown);
- switches = played segments whose rendition differs from the one before;
- QoE_lin (Pensieve) per chunk = (Σ R_n − 4.3 Σ T_n − Σ |R_{n+1} − R_n|) / chunks, R in Mb/s, T the
  stall seconds while chunk n was being fetched (startup excluded).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence

from player.records import SessionResult
from vodflow.records import Record

__all__ = ["QoE", "QoESummary", "qoe", "summarise"]

REBUFFER_PENALTY = 4.3


class QoE(Record):
    """One session's QoE (seconds, kbit/s, VMAF points, bytes)."""

    abr: str
    trace: str
    startup_s: float
    rebuffer_s: float
    rebuffer_ratio: float
    rebuffer_count: int
    total_time_s: float
    time_average_bitrate_kbps: float
    time_average_vmaf: float | None
    bitrate_change_kbps: float
    mean_bitrate_change_kbps: float
    switches: int
    qoe_lin: float
    segments: int
    abandoned: int
    bytes_downloaded: int
    seek_wait_s: float = 0.0


class QoESummary(Record):
    """Many sessions of one algorithm: means, medians and the share of sessions that stalled."""

    abr: str
    sessions: int
    qoe_lin: float
    rebuffer_ratio: float
    stall_share: float
    time_average_bitrate_kbps: float
    time_average_vmaf: float | None
    startup_s: float
    median_startup_s: float
    switches: float
    mean_bitrate_change_kbps: float
    bytes_downloaded: float


def qoe(result: SessionResult) -> QoE:
    """The QoE record of a finished session."""
    movie = result.movie
    total = result.total_time
    rates = [movie.bitrates[q] for _, _, q in result.played]
    lengths = [movie.durations[i] for _, i, _ in result.played]
    changes = [abs(b - a) for a, b in itertools.pairwise(rates)]
    rebuffer = sum(s.duration for s in result.stalls)
    vmaf = None
    if movie.vmaf is not None and result.played:
        shown = sum(movie.vmaf[i][q] * movie.durations[i] for _, i, q in result.played)
        vmaf = shown / sum(lengths)
    mbps = [r / 1e6 for r in rates]
    stall_per_chunk = sum(d.stall for d in result.downloads[1:])
    n = max(len(mbps), 1)
    lin = (sum(mbps) - REBUFFER_PENALTY * stall_per_chunk - sum(c / 1e6 for c in changes)) / n
    return QoE(
        abr=result.abr,
        trace=result.trace,
        startup_s=result.startup,
        rebuffer_s=rebuffer,
        rebuffer_ratio=rebuffer / total if total else 0.0,
        rebuffer_count=len(result.stalls),
        total_time_s=total,
        time_average_bitrate_kbps=_weighted(rates, lengths) / total / 1000 if total else 0.0,
        time_average_vmaf=vmaf,
        bitrate_change_kbps=_weighted(changes, lengths[1:]) / total / 1000 if total else 0.0,
        mean_bitrate_change_kbps=sum(changes) / len(changes) / 1000 if changes else 0.0,
        switches=sum(1 for c in changes if c),
        qoe_lin=lin,
        segments=len(result.played),
        abandoned=sum(1 for d in result.downloads if d.abandoned),
        bytes_downloaded=round(result.bits_downloaded / 8),
        seek_wait_s=result.seek_wait,
    )


def _weighted(values: Sequence[float], seconds: Sequence[float]) -> float:
    return sum(v * d for v, d in zip(values, seconds, strict=True))


def summarise(records: Sequence[QoE]) -> QoESummary:
    """Aggregate sessions of one algorithm (means unless named otherwise)."""
    if not records:
        raise ValueError("no sessions to summarise")

    def mean(xs: Sequence[float]) -> float:
        return statistics.fmean(xs)

    vmafs = [r.time_average_vmaf for r in records if r.time_average_vmaf is not None]
    return QoESummary(
        abr=records[0].abr,
        sessions=len(records),
        qoe_lin=mean([r.qoe_lin for r in records]),
        rebuffer_ratio=mean([r.rebuffer_ratio for r in records]),
        stall_share=sum(1 for r in records if r.rebuffer_count) / len(records),
        time_average_bitrate_kbps=mean([r.time_average_bitrate_kbps for r in records]),
        time_average_vmaf=mean(vmafs) if vmafs else None,
        startup_s=mean([r.startup_s for r in records]),
        median_startup_s=statistics.median([r.startup_s for r in records]),
        switches=mean([r.switches for r in records]),
        mean_bitrate_change_kbps=mean([r.mean_bitrate_change_kbps for r in records]),
        bytes_downloaded=mean([r.bytes_downloaded for r in records]),
    )
