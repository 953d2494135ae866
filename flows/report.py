"""Prefect markdown artifacts of an ingest run: QA report, ladder table and plot, published URLs, batch
summary, QoE. Each builder returns the markdown (tests read it) and publishes it when a run is active."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from ladders.errors import CurveError
from ladders.plot import plot
from ladders.table import LADDER_HEADER, ladder_rows
from vodflow.tables import md_table

__all__ = ["batch_artifact", "ladder_artifact", "publication_artifact", "qa_artifact", "qoe_artifact"]

log = logging.getLogger(__name__)


def _key(title: str, what: str) -> str:
    # Artifact keys: lowercase letters, digits and dashes only.
    return re.sub(r"[^a-z0-9-]+", "-", f"{title}-{what}".lower()).strip("-")


def _publish(title: str, what: str, markdown: str, description: str) -> str:
    if FlowRunContext.get() is not None:
        create_markdown_artifact(markdown=markdown, key=_key(title, what), description=description)
    return markdown


def qa_artifact(title: str, report) -> str:
    rows = [(c.name, c.severity.upper(), c.value, c.unit, c.reason) for c in report.checks]
    verdict = "passed" if report.passed else "**FAILED**"
    md = f"# {title}: QA {verdict}\n\n`{report.path}`\n\n" + md_table(
        rows, ("check", "severity", "value", "unit", "reason")
    )
    return _publish(title, "qa", md, f"source QA of {title}")


def ladder_artifact(title: str, ladder, points, plots: Path) -> str:
    """The ladder (predicted beside measured) and, for a per-title ladder, the rate-quality plot per codec."""
    md = f"# {title}: {ladder.kind} ladder\n\n" + md_table(ladder_rows(ladder), LADDER_HEADER)
    if points is not None:
        for codec in ladder.codecs:
            try:
                png = plot(points, ladder, plots / f"{codec}.png", codec=codec)
            except CurveError as exc:  # no points for the codec: say so, the table is still there
                md += f"\n\n{codec}: no plot ({exc})"
                continue
            data = base64.b64encode(png.read_bytes()).decode()
            md += f"\n\n## {codec} rate-quality\n\n![{codec} hull](data:image/png;base64,{data})\n\n`{png}`"
    return _publish(title, "ladder", md, f"ladder of {title}")


def publication_artifact(title: str, pub, edge: str | None) -> str:
    rows = [(name, url) for name, url in pub.urls.items()]
    if edge:
        rows += [
            (f"edge {name}", f"{edge.rstrip('/')}/titles/{title}/{Path(key).name}")
            for name, key in pub.manifests.items()
        ]
        rows.append(("watch", f"{edge.rstrip('/')}/watch/{title}"))
    md = (
        f"# {title}: published version `{pub.version}`\n\n{len(pub.objects)} objects, {pub.sent} sent "
        f"({pub.sent_bytes} bytes), {pub.encryption}\n\n" + md_table(rows, ("manifest", "URL"))
    )
    return _publish(title, "published", md, f"published manifests of {title}")


def batch_artifact(results) -> str:
    rows = [(r.title, r.state, r.message or "-", " ".join(r.urls.values()) or "-") for r in results]
    md = "# ingest batch\n\n" + md_table(rows, ("title", "state", "message", "manifests"))
    return _publish("batch", "summary", md, "titles of this batch")


def qoe_artifact(title: str, rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    md = f"# {title}: player simulator QoE\n\n" + md_table(rows, header)
    return _publish(title, "qoe", md, f"simulated playback of {title}")
