"""The Prefect tasks of an ingest: each one calls a stage function and nothing else.

Media tasks are cached by a key made of the source's content hash, the task's other inputs (upstream
records and settings) and the versions of every binary (``vodflow.tools.versions``); their results are
persisted in the title's workspace (``<workspace>/results/<task>-<hash>``), so a re-run, or a run after
the process was killed, takes every finished task from there without running it. Only I/O tasks
(fetching a source from S3, publishing, warming the edge) retry, with exponential backoff, and only on
errors of the network or the origin: a bad source or a failed QA fails the same way every time.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.tasks import exponential_backoff

from flows.results import OriginResultStorage
from flows.settings import OUTPUT_FIELDS, Settings
from flows.versions import versions_digest
from ladders.fixed import fixed_ladder
from ladders.model import Ladder, LadderPolicy
from ladders.per_title import per_title
from ladders.verify import encode_ladder, measure
from origin.config import Origin, S3Location
from origin.errors import ObjectMissing, OriginUnreachable
from origin.publish import publish
from origin.store import Store
from packager.model import Package
from packager.package import package
from packager.sidecar import write_sidecar
from packager.validate import validate
from pipeline.chunks import encode_chunked
from pipeline.probe import probe
from pipeline.qa import qa
from pipeline.renditions import DEFAULT_AUDIO, EncodeResult
from vodflow.errors import ProbeError, UsageError

__all__ = [
    "encode_task",
    "fetch_task",
    "ladder_task",
    "merge",
    "package_task",
    "probe_task",
    "publish_task",
    "qa_task",
    "quality_task",
    "sidecar_task",
    "validate_task",
    "warm_task",
]

# Inputs that name where something is rather than what it is: left out of cache keys (the content hash
# of the source stands for the source; the workspace id already holds the source hash and settings).
_NOT_IN_KEY = frozenset({"src", "out", "workspace"})


def _jsonable(v: object) -> object:
    if isinstance(v, Settings):  # where and how to run is not what is made
        return v.model_dump(mode="json", include=set(OUTPUT_FIELDS))
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json")
    if isinstance(v, Path):
        return str(v)
    return str(v)


def _cache_key(context, parameters: dict) -> str:
    """``<workspace id>/results/<task>-<hash of inputs + binary versions>``: a path in the title's workspace."""
    keyed = {k: v for k, v in parameters.items() if k not in _NOT_IN_KEY}
    text = json.dumps(keyed, sort_keys=True, default=_jsonable)
    digest = hashlib.sha256(f"{text}\0{versions_digest()}".encode()).hexdigest()[:24]
    name = context.task.name.replace(" ", "_")
    return f"{parameters['workspace']}/results/{name}-{digest}"


def _io_error(task, task_run, state) -> bool:
    """Retry only what the network or the origin may not do next time: never a deterministic failure."""
    try:
        state.result()
    except (OriginUnreachable, urllib.error.URLError, ConnectionError, TimeoutError):
        return True
    except Exception:  # anything else is the input's fault or ours: a retry repeats it
        return False
    return False


_MEDIA = {"cache_key_fn": _cache_key, "persist_result": True}
_IO = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=1),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": _io_error,
}


@task(name="fetch", **_IO)
def fetch_task(url: str, dest: str, origin_url: str | None, origin_state: str | None) -> str:
    """Download an ``s3://`` source to ``dest`` (kept when already complete); returns the local path.

    Raises ``ProbeError`` when the object does not exist (not retried) and ``OriginUnreachable`` for
    anything else the origin or the network did (retried)."""
    loc = S3Location.parse(url)
    origin = Origin.resolve(origin_url or f"s3://{loc.bucket}", state_dir=origin_state)
    store = Store(origin.with_location(loc))  # the source's own bucket, through the origin's endpoint
    path = Path(dest)
    head = store.head(loc.prefix)
    if head is None:
        raise ProbeError(url, "no such object on the origin")
    if not (path.is_file() and path.stat().st_size == head["ContentLength"]):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        try:
            store.download(loc.prefix, tmp)
        except ObjectMissing:  # deleted since the HEAD: as missing as before it
            raise ProbeError(url, "no such object on the origin") from None
        tmp.replace(path)
    return str(path)


@task(name="probe", **_MEDIA)
def probe_task(src: str, source_sha256: str, workspace: str):
    return probe(src)


@task(name="qa", **_MEDIA)
def qa_task(src: str, source_sha256: str, workspace: str, show_progress: bool = False):
    return qa(src, show_progress=show_progress)


@task(name="ladder", **_MEDIA)
def ladder_task(src: str, source_sha256: str, info, settings: Settings, workspace: str, show_progress: bool = False):
    """The title's ladder: per-title (analysis + selection; returns the points too) or the fixed one."""
    codecs = list(settings.codecs)
    if settings.ladder == "fixed":
        return None, fixed_ladder(info, codecs, name=src)
    policy = LadderPolicy(target_vmaf=settings.target_vmaf, max_rungs=settings.max_rungs)
    return per_title(src, codecs, policy, settings.analysis, show_progress=show_progress)


@task(name="encode", **_MEDIA)
def encode_task(
    src: str,
    source_sha256: str,
    ladder: Ladder,
    codec: str,
    audio: bool,
    settings: Settings,
    out: str,
    workspace: str,
    show_progress: bool = False,
) -> EncodeResult:
    """One codec's rungs (and the audio, when ``audio``) into ``out``; no quality measurement here.

    With ``settings.dask`` the codec's chunks are encoded on that Dask cluster (``flows.distributed``,
    sources and chunks through the origin; each chunk cached beside this task's result in the workspace
    root on a local cluster, on the origin on a remote one); with ``settings.chunked`` chunk by chunk in
    this process (``pipeline.chunks.encode_chunked``, the same files); otherwise one ffmpeg per codec."""
    renditions = [r.rendition() for r in ladder.for_codec(codec)]
    audio_set = (ladder.audio or DEFAULT_AUDIO) if audio else ()
    if settings.dask:
        from flows.distributed import encode_distributed  # deferred: Dask costs 0.6 s; only --dask ingests use it

        local = settings.dask.startswith("local:")
        origin = Origin.resolve(settings.origin, state_dir=settings.origin_state)
        # Where the workers persist each chunk's result, so a re-run after a crash takes every finished
        # chunk from there: a local cluster's write this task's own result storage (the workspace root); a
        # remote cluster's share only the origin with this machine, and keep them on it.
        context = TaskRunContext.get()
        if context is None:  # called as a plain function: no Prefect, no cache
            storage = None
        elif local:
            storage = context.result_store.result_storage
        else:
            storage = OriginResultStorage.on(origin, "work")
        return encode_distributed(
            src,
            renditions,
            out,
            dask_address=None if local else settings.dask,
            workers=int(settings.dask.split(":", 1)[1]) if local else None,
            origin=origin,
            audio=audio_set,
            result_storage=storage,
        )
    if settings.chunked:
        return encode_chunked(src, renditions, out, audio=audio_set, show_progress=show_progress)
    result, _ = encode_ladder(src, ladder, out, codecs=[codec], audio=audio, verify=False, show_progress=show_progress)
    return result


def merge(results: Sequence[EncodeResult]) -> EncodeResult:
    """One ``EncodeResult`` of every codec's renditions (the packager takes one)."""
    first = results[0]
    if any(r.gop_frames != first.gop_frames or r.frame_rate != first.frame_rate for r in results):
        raise UsageError(f"{first.source}: codecs were encoded with different GOPs; they cannot share segments")
    return first.model_copy(
        update={
            "video": [f for r in results for f in r.video],
            "audio": [f for r in results for f in r.audio],
            "warnings": list(dict.fromkeys(w for r in results for w in r.warnings)),
            "seconds": sum(r.seconds for r in results),
        }
    )


@task(name="quality", **_MEDIA)
def quality_task(
    src: str, source_sha256: str, ladder: Ladder, result: EncodeResult, every: int, workspace: str
) -> Ladder:
    """Every rendition's measured VMAF and bitrate beside the ladder's prediction."""
    return measure(src, ladder, result, subsample=every, show_progress=False)


@task(name="package", **_MEDIA)
def package_task(result: EncodeResult, settings: Settings, title: str, out: str, workspace: str) -> Package:
    return package(
        result,
        out,
        encrypt=settings.encrypt,
        segment_seconds=settings.segment_seconds,
        keystore=settings.keystore,
        title=title,
    )


@task(name="sidecar", **_MEDIA)
def sidecar_task(src: str, source_sha256: str, pkg: Package, every: int, workspace: str) -> str:
    """VMAF of every segment of every video stream, as the package's ``quality.json`` (published with it)."""
    return str(write_sidecar(pkg.root, src, subsample=every))


@task(name="validate", **_MEDIA)
def validate_task(pkg: Package, keys: str | None, workspace: str):
    """Validate the package; raises ``InvalidPackage`` with every problem."""
    report = validate(pkg.root, keys=keys)
    report.raise_for_problems()
    return report


@task(name="publish", **_IO)
def publish_task(package_dir: str, title: str, origin_url: str | None, origin_state: str | None, keys: str | None,
                 record: str):  # fmt: skip
    """Publish (atomic, idempotent: an unchanged version sends nothing) and return the ``Publication``."""
    origin = Origin.resolve(origin_url, state_dir=origin_state)
    return publish(package_dir, title, origin, keystore=keys, record=record)


@task(name="warm", **_IO)
def warm_task(edge: str, title: str, pkg: Package, token: str | None, segments: int) -> int:
    """Fetch the manifests, init segments and first ``segments`` of every rendition through the edge so
    the first viewers hit its cache; returns the number of objects fetched."""
    paths = [p for p in (pkg.dash, pkg.hls) if p]
    for s in pkg.streams:
        paths += [s.playlist, *([s.init] if s.init else []), *[seg.path for seg in s.segments[:segments]]]
    query = f"?{urllib.parse.urlencode({'token': token})}" if token else ""
    for p in paths:
        url = f"{edge.rstrip('/')}/titles/{title}/{p}{query}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            resp.read()
    return len(paths)
