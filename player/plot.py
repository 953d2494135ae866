"""A PNG timeline of one session: trace throughput, the bitrate chosen per download, buffer level and
stalls (shaded)."""

from __future__ import annotations

from pathlib import Path

from player.records import SessionResult
from player.trace import Trace

__all__ = ["timeline"]


def timeline(result: SessionResult, trace: Trace, out: str | Path) -> Path:
    """Draw ``result`` over ``trace`` into ``out`` (PNG); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    end = result.total_time
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    xs, ys, t = [], [], 0.0
    while t < end:
        for p in trace.periods:
            xs += [t, t + p.duration]
            ys += [p.bandwidth / 1e6] * 2
            t += p.duration
            if t >= end:
                break
    ax1.plot(xs, ys, color="0.6", lw=1, label="trace throughput")
    rates = result.movie.bitrates
    ax1.step(
        [d.start for d in result.downloads], [rates[d.quality] / 1e6 for d in result.downloads],
        where="post", color="C0", label="bitrate requested",
    )  # fmt: skip
    ab = [d for d in result.downloads if d.abandoned]
    ax1.scatter([d.start + d.elapsed for d in ab], [rates[d.quality] / 1e6 for d in ab], marker="x", color="C3",
                label="abandoned")  # fmt: skip
    ax1.set_ylabel("Mb/s")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.plot([d.start + d.elapsed for d in result.downloads], [d.buffer_after for d in result.downloads], color="C2")
    ax2.set_ylabel("buffer (s)")
    ax2.set_xlabel("session time (s)")
    for ax in (ax1, ax2):
        for s in result.stalls:
            ax.axvspan(s.start, s.start + s.duration, color="C3", alpha=0.2)
    ax1.set_title(f"{result.abr} on {result.trace}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
