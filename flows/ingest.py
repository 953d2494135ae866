"""The ingest flows: ``ingest_title`` (one source to a published title) and ``ingest_batch`` (many).

``ingest_title``: fetch (``s3://`` sources) → probe → QA → ladder (per-title or fixed) → encode (one
task per codec) → quality (measured VMAF per rung) → package (+ encryption) → validate → publish →
warm the edge (optional). A failed QA ends the run in a Failed state whose message is the QA reason,
before anything is encoded; any other ``VodflowError`` ends it with its one-line message. Every media
task is cached in the title's workspace (see ``flows.tasks``), so a re-run of a finished title does no
media work and a run killed half-way resumes at the first unfinished task.

Each stage transition is appended to the workspace's ``events.jsonl`` (with Prefect's state name:
``Completed`` when the task ran, ``Cached`` when its persisted result was used), written to
``status.json`` for ``vodflow status``, and passed to the observers registered with ``observe`` (the
CLI's progress display).
"""

from __future__ import annotations

import contextvars
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prefect import flow
from prefect.filesystems import LocalFileSystem
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows import report
from flows.settings import Settings, Status, Workspace
from flows.tasks import (
    encode_task,
    fetch_task,
    ladder_task,
    merge,
    package_task,
    probe_task,
    publish_task,
    qa_task,
    quality_task,
    sidecar_task,
    validate_task,
    warm_task,
)
from ladders.cache import source_hash
from origin.config import Origin, S3Location
from origin.store import Store
from vodflow.errors import QAFailed, UsageError, VodflowError
from vodflow.records import Record
from vodflow.state import State, folder

__all__ = [
    "IngestResult",
    "expand_sources",
    "ingest_batch",
    "ingest_title",
    "observe",
]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".ts", ".mxf", ".avi")

# (title, stage, state, stage index, stage count) -> None; called from flow threads.
Observer = Callable[[str, str, str, int, int], None]
_observers: list[Observer] = []


def observe(fn: Observer) -> Callable[[], None]:
    """Call ``fn`` on every stage transition of every title in this process; returns the un-register call."""
    _observers.append(fn)
    return lambda: _observers.remove(fn)


class IngestResult(Record):
    """What one title's run produced: where its work is, each stage's final state and the published URLs."""

    title: str
    source: str
    workspace: str
    state: str  # completed | failed
    message: str = ""
    stages: dict[str, str] = {}  # stage -> Prefect state name (Completed, Cached, Failed)
    urls: dict[str, str] = {}
    package: str | None = None


class _Run:
    """One title's run: records each stage's state in the journal, status file and observers."""

    def __init__(self, ws: Workspace, source: str, stages: list[str]) -> None:
        self.ws, self.source, self.stages = ws, source, stages
        self.states: dict[str, str] = {}
        self.urls: dict[str, str] = {}

    def mark(self, stage: str, state: str, message: str = "") -> None:
        self.ws.event(run=flow_run.id, stage=stage, state=state, message=message)
        final = "failed" if state == "Failed" else "running"
        self.ws.set_status(Status(title=self.ws.title, workspace=str(self.ws.dir), source=self.source, stage=stage,
                                  state=final, message=message, urls=self.urls))  # fmt: skip
        index = self.stages.index(stage) + 1 if stage in self.stages else len(self.stages)
        for fn in list(_observers):
            fn(self.ws.title, stage, state, index, len(self.stages))

    def call(self, stage: str, fn, *args, **kwargs):
        """Run a task (or wait on a future) as ``stage``; returns its result, raises its error."""
        self.mark(stage, "Running")
        state = fn(*args, **kwargs, return_state=True)
        return self.finish(stage, state)

    def finish(self, stage: str, state):
        self.states[stage] = state.name
        if state.is_failed() or state.is_crashed() or state.is_cancelled():
            self.mark(stage, "Failed", state.message or "")
            return state.result()  # raises the task's exception
        self.mark(stage, state.name)
        return state.result()


def _storage(root: Path) -> LocalFileSystem:
    """The result storage of every workspace under ``root`` (a block saved server-side, as Prefect needs)."""
    base = root.resolve()
    block = LocalFileSystem(basepath=str(base))
    block.save(f"vodflow-work-{hashlib.sha256(str(base).encode()).hexdigest()[:12]}", overwrite=True)
    return block


def _message(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@flow(name="ingest-title", log_prints=True)
def ingest_title(source: str, settings: Settings | None = None, show_progress: bool = False):
    """Ingest one title; returns an ``IngestResult`` (in a Failed state, with the reason, if it failed).

    ``source`` is a local path or an ``s3://bucket/key`` URL (downloaded into the workspace root's
    ``sources/`` folder through the origin configuration)."""
    settings = settings or Settings()
    root = folder(State.WORK, settings.workspace)
    root.mkdir(parents=True, exist_ok=True)
    title = settings.title_for(source)
    src = source
    stages = [
        "probe",
        "qa",
        "ladder",
        *[f"encode {c}" for c in settings.codecs],
        "quality",
        "package",
        "sidecar",
        "validate",
    ]
    stages += ["publish"] * settings.publish + ["warm"] * bool(settings.edge and settings.publish)
    try:
        if source.startswith("s3://"):
            name = hashlib.sha256(source.encode()).hexdigest()[:12]
            dest = root / "sources" / name / Path(source).name
            src = fetch_task(source, str(dest), settings.origin, settings.origin_state)
        elif not Path(source).is_file():
            raise UsageError(f"{source}: no such file")
        sha = source_hash(src, folder(State.CACHE))
    except VodflowError as exc:
        return Failed(message=_message(exc), data=_result(title, source, None, "failed", _message(exc)))
    ws = Workspace(root, title, sha, settings)
    run = _Run(ws, source, stages)
    storage = _storage(root)
    media = {"workspace": ws.id}

    def cached(t):
        return t.with_options(result_storage=storage)

    try:
        info = run.call("probe", cached(probe_task), src, sha, **media)
        qa_report = run.call("qa", cached(qa_task), src, sha, **media, show_progress=show_progress)
        report.qa_artifact(title, qa_report)
        try:
            qa_report.raise_for_failure()
        except QAFailed as exc:
            run.mark("qa", "Failed", _message(exc))
            return Failed(message=_message(exc), data=_result(title, source, ws, "failed", _message(exc), run))
        points, ladder = run.call("ladder", cached(ladder_task), src, sha, info, settings, **media,
                                  show_progress=show_progress)  # fmt: skip
        results = []
        for codec in settings.codecs:
            if not ladder.for_codec(codec):  # per-title: a codec keeps only rungs that beat H.264
                run.mark(f"encode {codec}", "Skipped", f"no {codec} rung beats H.264 on this title")
        codecs = [c for c in settings.codecs if ladder.for_codec(c)]
        for i, codec in enumerate(codecs):  # one at a time: each ffmpeg (or cluster) is kept busy
            audio = settings.audio and i == 0  # one set of audio renditions, made with the first codec
            args = (src, sha, ladder, codec, audio, settings, str(ws.renditions / codec))
            results.append(
                run.call(f"encode {codec}", cached(encode_task), *args, **media, show_progress=show_progress)
            )
        renditions = merge(results)
        measured = run.call("quality", cached(quality_task), src, sha, ladder, renditions, settings.quality_every,
                            **media)  # fmt: skip
        measured.save(ws.dir / "ladder.json")
        report.ladder_artifact(title, measured, points, ws.dir / "plots")
        pkg = run.call("package", cached(package_task), renditions, settings, title, str(ws.package), **media)
        run.call("sidecar", cached(sidecar_task), src, sha, pkg, settings.sidecar_every, **media)
        run.call("validate", cached(validate_task), pkg, settings.keystore, **media)
        if settings.publish:
            pub = run.call("publish", publish_task, str(ws.package), title, settings.origin, settings.origin_state,
                           settings.keystore, str(ws.dir / "publication.json"))  # fmt: skip
            run.urls = dict(pub.urls)
            report.publication_artifact(title, pub, settings.edge)
            if settings.edge:
                run.call("warm", warm_task, settings.edge, title, pkg, settings.edge_token, settings.warm_segments)
    except VodflowError as exc:
        return Failed(message=_message(exc), data=_result(title, source, ws, "failed", _message(exc), run))
    result = _result(title, source, ws, "completed", "", run, package=str(ws.package))
    ws.set_status(Status(title=title, workspace=str(ws.dir), source=source, stage=stages[-1], state="completed",
                         urls=run.urls))  # fmt: skip
    return Completed(data=result, message=f"{title}: {len(run.urls)} manifests published")


def _result(title, source, ws, state, message, run=None, package=None) -> IngestResult:
    return IngestResult(
        title=title,
        source=source,
        workspace=str(ws.dir) if ws else "",
        state=state,
        message=message,
        stages=dict(run.states) if run else {},
        urls=dict(run.urls) if run else {},
        package=package,
    )


def _one(source: str, settings: Settings, show_progress: bool) -> IngestResult:
    state = ingest_title(source, settings, show_progress, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, IngestResult):
        return result
    # A crash outside our stages (a bug, or Prefect itself): still one line for this title.
    return IngestResult(title=settings.title_for(source), source=source, workspace="", state="failed",
                        message=state.message or _message(result))  # fmt: skip


def expand_sources(sources: Sequence[str], settings: Settings | None = None) -> list[str]:
    """Sources as given, with folders replaced by their video files and ``s3://.../`` prefixes by the
    video objects under them (sorted). Raises ``UsageError`` when nothing is left."""
    out: list[str] = []
    for s in sources:
        if s.startswith("s3://") and (s.endswith("/") or not Path(s).suffix):
            out += _list_s3(s, settings or Settings())
        elif os.path.isdir(s):
            out += sorted(str(p) for p in Path(s).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        else:
            out.append(s)
    if not out:
        raise UsageError(f"no video sources in {', '.join(sources) or 'the arguments'}")
    return out


def _list_s3(prefix_url: str, settings: Settings) -> list[str]:
    """The video objects under ``prefix_url`` as ``s3://`` URLs, sorted; raises ``OriginUnreachable``."""
    loc = S3Location.parse(prefix_url)
    origin = Origin.resolve(settings.origin or f"s3://{loc.bucket}", state_dir=settings.origin_state)
    prefix = f"{loc.prefix}/" if loc.prefix else ""
    keys = Store(origin.with_location(loc)).list(prefix)  # the sources' own bucket, through the origin's endpoint
    return [f"s3://{loc.bucket}/{k}" for k in sorted(keys) if Path(k).suffix.lower() in VIDEO_SUFFIXES]


@flow(name="ingest-batch", log_prints=True)
def ingest_batch(
    sources: list[str], settings: Settings | None = None, concurrency: int = 1, show_progress: bool = False
):
    """Ingest every source (paths, folders, ``s3://`` objects or prefixes), ``concurrency`` titles at a time.

    Returns the ``IngestResult`` of every title, in a Failed state naming the failed titles if any.

    Titles run as subflows in threads of this flow, not inside tasks: a task opens a transaction, and the
    cached results of every task nested in it would be committed only when it ends, so a title killed
    half-way would lose them."""
    settings = settings or Settings()
    try:
        expanded = expand_sources(sources, settings)
    except VodflowError as exc:
        return Failed(message=_message(exc), data=[])
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="title") as pool:
        futures = [pool.submit(contextvars.copy_context().run, _one, s, settings, show_progress) for s in expanded]
        results = [f.result() for f in futures]
    report.batch_artifact(results)
    failed = [r for r in results if r.state != "completed"]
    if failed:
        reasons = "; ".join(f"{r.title}: {r.message}" for r in failed)
        return Failed(message=f"{len(failed)} of {len(results)} titles failed: {reasons}", data=results)
    return Completed(data=results, message=f"{len(results)} titles published")
