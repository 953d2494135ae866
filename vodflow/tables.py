"""Tables of text: plain columns for the terminal (the CLI, the demo, benches) and markdown for Prefect's
artifacts, and the one way a missing number is shown."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["fmt", "md_table", "table"]


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Return ``rows`` under ``header`` as left-aligned columns with a rule under the header."""
    cells = [[str(c) for c in header]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Return ``rows`` under ``header`` as a GitHub-flavoured markdown table ("-" for a missing cell)."""
    cells = [[("-" if c is None else str(c)).replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def fmt(v: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or "-" when unknown."""
    return "-" if v is None else f"{v:.{digits}f}"
