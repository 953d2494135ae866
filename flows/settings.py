"""What an ingest is asked to do (``Settings``) and where a title's work lives (``Workspace``).

A title's workspace is content-addressed: ``<root>/<stem>-<id>/`` where the id is a hash of the source
bytes and the settings that change the output. Everything a run writes for the title goes there: the
stage outputs (renditions, package), Prefect's persisted task results (``results/``), the stage journal
(``events.jsonl``) and the status record ``vodflow status`` reads (``status.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from ladders.policy import AnalysisPolicy
from vodflow.ids import title_from
from vodflow.records import Record

__all__ = ["OUTPUT_FIELDS", "Settings", "Status", "Workspace"]

# The settings that change a title's media, hence its workspace id and every task's cache key.
OUTPUT_FIELDS = ("codecs", "ladder", "encrypt", "segment_seconds", "target_vmaf", "max_rungs", "analysis", "audio",
                 "quality_every", "sidecar_every", "chunked", "title")  # fmt: skip


class Settings(Record):
    """Everything ``ingest_title`` needs besides the source. Fields marked *output* change the media and
    therefore the title's workspace id; the others say where things go or how to run."""

    codecs: tuple[str, ...] = ("h264",)  # output; H.264 is always analysed for a per-title ladder
    ladder: Literal["per-title", "fixed"] = "per-title"  # output
    encrypt: Literal["none", "cenc", "cbcs", "aes128"] = "none"  # output
    segment_seconds: float = Field(4.0, gt=0)  # output
    target_vmaf: float = 95.0  # output (top rung)
    max_rungs: int = Field(6, ge=1)  # output
    analysis: AnalysisPolicy = Field(default_factory=AnalysisPolicy)  # output
    audio: bool = True  # output
    quality_every: int = Field(1, ge=1)  # output (the measured VMAF in ladder.json)
    sidecar_every: int = Field(2, ge=1)  # output (the per-segment VMAF in the package's quality.json)
    chunked: bool = False  # output: encode in keyframe-aligned chunks (pipeline.chunks) when available
    title: str | None = None  # output: the published title id (default: the source's file stem)
    # Where and how (not part of the id).
    origin: str | None = None  # s3://bucket/prefix; None: the embedded origin
    origin_state: str | None = None  # embedded origin state folder
    keystore: str | None = None  # key store folder (default $VODFLOW_KEYS or .vodflow/keys)
    workspace: str | None = None  # workspace root (default $VODFLOW_WORK or .vodflow/work)
    publish: bool = True
    edge: str | None = None  # edge base URL to warm after publishing (manifests, inits, first segments)
    edge_token: str | None = Field(None, repr=False)  # token for a closed edge
    warm_segments: int = Field(2, ge=0)
    dask: str | None = None  # a Dask scheduler address, or "local:N" for a local cluster of N workers

    def output_digest(self) -> str:
        """A hash of the settings that change the title's media (the workspace id's second half)."""
        return hashlib.sha256(self.model_dump_json(include=set(OUTPUT_FIELDS)).encode()).hexdigest()

    def title_for(self, source: str | os.PathLike[str]) -> str:
        """The published title id: ``title`` or the source's file stem made URL-safe."""
        return self.title or title_from(Path(str(source).rstrip("/")).stem)


class Status(Record):
    """Where a title's last run is: what ``vodflow status`` prints (``status.json`` in the workspace)."""

    title: str
    workspace: str
    source: str
    stage: str
    state: Literal["running", "completed", "failed", "cached"]
    message: str = ""
    urls: dict[str, str] = Field(default_factory=dict)
    updated: float = 0.0


class Workspace:
    """A title's folder: ``<root>/<title>-<id>``, id = hash(source bytes, output settings)[:12]."""

    _lock = threading.Lock()

    def __init__(self, root: str | os.PathLike[str], title: str, source_sha256: str, settings: Settings) -> None:
        ident = hashlib.sha256(f"{source_sha256}\0{settings.output_digest()}".encode()).hexdigest()[:12]
        self.title = title
        self.id = f"{title}-{ident}"
        self.root = Path(root)
        self.dir = self.root / self.id

    def __repr__(self) -> str:
        return f"Workspace({str(self.dir)!r})"

    renditions = property(lambda self: self.dir / "renditions")
    package = property(lambda self: self.dir / "package")
    events = property(lambda self: self.dir / "events.jsonl")
    status_path = property(lambda self: self.dir / "status.json")

    def event(self, **fields: object) -> None:
        """Append one line to the stage journal (``events.jsonl``): what ran, what came from the cache."""
        self.dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"t": round(time.time(), 3), **fields}, default=str)
        with self._lock, self.events.open("a") as fh:
            fh.write(line + "\n")

    def journal(self) -> list[dict]:
        """Every event so far, oldest first."""
        if not self.events.is_file():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines() if line.strip()]

    def set_status(self, status: Status) -> None:
        status.model_copy(update={"updated": round(time.time(), 3)}).save(self.status_path)
