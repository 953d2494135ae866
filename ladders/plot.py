"""A PNG per title and codec: probe points by resolution, the hull, the chosen rungs and the fixed ladder.

Drawn with matplotlib's Agg canvas directly (no pyplot, so no display and no global figure state; safe in
workers and threads). Bitrate is on a log2 axis, as the hull is convex there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ladders.errors import CurveError
from ladders.hull import hull
from ladders.model import Ladder, RDPoints
from pipeline.codecs import Codec

__all__ = ["plot"]

_SIZE_INCHES = (10.0, 6.0)
_DPI = 100
# Resolutions never in red or orange: those mark the chosen and the fixed rungs.
_PALETTE = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:cyan", "tab:olive", "tab:pink", "tab:gray")
# 1-2-5 steps read better than powers of two (1.024M) on the log2 axis.
_TICKS = [m * 10**e for e in range(0, 6) for m in (1, 2, 5)]


def _kbps_label(kbps: float, _pos: object = None) -> str:
    return f"{kbps / 1000:g}M" if kbps >= 1000 else f"{kbps:g}k"


def plot(
    points: RDPoints,
    ladder: Ladder | None,
    path: str | os.PathLike[str],
    *,
    fixed: Ladder | None = None,
    codec: Codec = "h264",
) -> Path:
    """Draw ``codec``'s probe points, hull, chosen rungs and the fixed ladder; return the PNG's path.

    Chosen rungs are labelled with their predicted VMAF, and measured VMAF where known (drawn too).
    Fixed rungs with a measured VMAF are drawn at it; the others, whose quality nobody knows yet, are
    marked at their nominal bitrate along the bottom. The PNG is 1000x600 and written atomically.
    Raises ``CurveError`` when ``points`` holds nothing for ``codec``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    own = points.for_codec(codec)
    if not own:
        raise CurveError(f"{points.source}: no {codec} points to plot")
    h = hull(own)

    fig = Figure(figsize=_SIZE_INCHES, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale("log", base=2)

    sizes = sorted({(p.width, p.height) for p in own}, key=lambda s: s[0] * s[1])
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(sizes)}
    for s in sizes:
        pts = sorted((p for p in own if (p.width, p.height) == s), key=lambda p: p.bitrate_kbps)
        xs, ys = [p.bitrate_kbps for p in pts], [p.vmaf for p in pts]
        ax.plot(xs, ys, "-", color=colour[s], alpha=0.35, linewidth=1)
        ax.scatter(xs, ys, s=22, color=colour[s], label=f"{s[0]}x{s[1]} probes", zorder=3)
    ax.plot(
        [p.bitrate_kbps for p in h.points], [p.vmaf for p in h.points], "-", color="black", linewidth=2, label="hull"
    )

    rungs = ladder.for_codec(codec) if ladder is not None else []
    for i, r in enumerate(rungs):
        if r.predicted_vmaf is None:
            continue
        ax.scatter(
            [r.bitrate_kbps],
            [r.predicted_vmaf],
            s=110,
            marker="D",
            facecolor="none",
            edgecolor="crimson",
            linewidth=2,
            zorder=4,
            label="chosen rung (predicted)" if i == 0 else None,
        )
        text = f"{r.height}p {r.predicted_vmaf:.1f}"
        if r.measured_vmaf is not None:
            mx = r.measured_kbps if r.measured_kbps is not None else r.bitrate_kbps
            ax.scatter([mx], [r.measured_vmaf], s=60, marker="D", color="crimson", zorder=5)
            ax.plot([r.bitrate_kbps, mx], [r.predicted_vmaf, r.measured_vmaf], ":", color="crimson")
            text += f" / {r.measured_vmaf:.1f}"
        ax.annotate(text, (r.bitrate_kbps, r.predicted_vmaf), xytext=(-8, 10), textcoords="offset points", fontsize=8)

    fixed_rungs = fixed.for_codec(codec) if fixed is not None else []
    shown_measured = shown_nominal = False
    for r in fixed_rungs:
        if r.measured_vmaf is not None:
            x = r.measured_kbps if r.measured_kbps is not None else r.bitrate_kbps
            ax.scatter(
                [x],
                [r.measured_vmaf],
                s=80,
                marker="s",
                color="darkorange",
                zorder=4,
                label=None if shown_measured else "fixed rung (measured)",
            )
            ax.annotate(
                f"fixed {r.height}p {r.measured_vmaf:.1f}",
                (x, r.measured_vmaf),
                xytext=(6, -12),
                textcoords="offset points",
                fontsize=8,
                color="darkorange",
            )
            shown_measured = True
        else:
            ax.axvline(r.bitrate_kbps, color="darkorange", linestyle="--", linewidth=1, alpha=0.7)
            ax.scatter(
                [r.bitrate_kbps],
                [0.02],
                transform=ax.get_xaxis_transform(),
                marker="^",
                s=80,
                color="darkorange",
                zorder=4,
                clip_on=False,
                label=None if shown_nominal else "fixed rung (nominal bitrate, not measured)",
            )
            ax.annotate(
                f"fixed {r.height}p", (r.bitrate_kbps, 0.05), xycoords=("data", "axes fraction"), xytext=(4, 0),
                textcoords="offset points", fontsize=8, color="darkorange",
            )  # fmt: skip
            shown_nominal = True

    lo = min([p.bitrate_kbps for p in own] + [r.bitrate_kbps for r in [*rungs, *fixed_rungs]])
    hi = max([p.bitrate_kbps for p in own] + [r.bitrate_kbps for r in [*rungs, *fixed_rungs]])
    ax.xaxis.set_major_locator(FixedLocator([t for t in _TICKS if lo / 1.5 <= t <= hi * 1.5]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_kbps_label))
    ax.set_xlabel("bitrate (kb/s, log2 scale)")
    ax.set_ylabel("VMAF (mean)")
    ax.set_title(f"{Path(points.source).name}: {codec}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
