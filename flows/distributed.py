"""Distributed encoding: one title's chunks encoded as Prefect tasks on a Dask cluster, through S3.

``encode_distributed(source, renditions, out, ...)`` is ``pipeline.encode.encode`` spread over machines:

1. The flow process plans the chunks (``pipeline.chunks.plan_chunks``: GOP-aligned boundaries shared by
   every rung and codec) and uploads the source once to ``<origin prefix>/work/<digest>/source.<ext>``
   (``digest`` hashes the source bytes and the plan, so a re-run finds it there).
2. One task per chunk (on any Dask worker): presigns a GET for the source and hands that URL to ffmpeg,
   which fetches only the byte ranges it needs (the index, then from the keyframe before the chunk to its
   end); encodes every rendition of that chunk (one ffmpeg per codec, decode once) and uploads each chunk
   file to ``.../<rendition>/<index>.mp4``. Audio is one more task over the whole title (not chunked,
   see ``pipeline.chunks``), running beside the chunks.
3. One join task per rendition: downloads its chunks, joins them by stream copy (checked: frame count,
   one-frame timestamps, keyframes exactly every GOP) and uploads the rendition to ``.../out/``.
4. The flow process downloads the renditions into ``out`` and deletes the work objects.

Given a ``result_storage`` (the ingest passes its workspace root's), chunk and audio tasks are cached: the
key is the work prefix (its digest: source bytes + plan, renditions included), the chunk index (the
audio renditions for the audio task) and the binary versions; the result (the object keys written) is
persisted there, so a re-run after a crash encodes only the chunks that had not finished. A cached result
names objects that step 4 may since have deleted: each one is checked (``HEAD``) and the task re-run with
``refresh_cache`` when any is gone. Joins are not cached (a stream copy of objects that may be gone).
The storage must be one every worker writes: the workspace root's folder serves a local cluster; a remote
cluster's workers share nothing but the origin, so theirs is an ``OriginResultStorage`` on it, whose
records (``<origin prefix>/work/distributed/<digest>/``) are deleted with the work objects.

Nothing but S3 is shared between the flow process and the workers, so a worker on another machine does
its part as well as a local one: it needs this package (and its PyPI binaries) installed, network access
to the Dask scheduler and to the S3 endpoint, and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE, CacheKeyFnPolicy
from prefect.filesystems import WritableFileSystem
from prefect_dask import DaskTaskRunner

from flows.results import OriginResultStorage
from flows.versions import versions_digest
from origin.config import Origin
from origin.errors import OriginUnreachable
from origin.store import Store
from pipeline.chunks import DEFAULT_CHUNK_SECONDS, ChunkPlan, encode_audio, encode_chunk, join_chunks, plan_chunks
from pipeline.renditions import DEFAULT_AUDIO, AudioRendition, EncodedFile, EncodeResult, Rendition
from vodflow.errors import UsageError

__all__ = ["encode_distributed", "task_runner"]

log = logging.getLogger(__name__)

_PRESIGN_SECONDS = 6 * 3600  # a chunk task may wait in a busy cluster's queue before it reads
# Prefect records a flow run's parameters in its database: the origin (with its secret key) and the result
# storage reach the flow through this table instead, keyed by a random token. Tasks get the origin as an
# argument: Dask pickles it to the workers and Prefect does not store task arguments.
_CALLS: dict[str, tuple[Origin, WritableFileSystem | None]] = {}


def task_runner(*, dask_address: str | None = None, workers: int | None = None) -> DaskTaskRunner:
    """Prefect's Dask task runner: the cluster at ``dask_address`` (``tcp://host:8786``), else a local
    cluster of ``workers`` processes (default: one per CPU), one task at a time each: a chunk's ffmpeg
    already uses every core it is given."""
    if dask_address and workers:
        raise UsageError("give either a Dask address or a number of local workers, not both")
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise UsageError(f"--workers must be 1 or more, not {n}")
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "processes": True, "dashboard_address": None}
    )


def _digest(path: Path, plan: ChunkPlan) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(plan.model_dump_json(exclude={"source"}).encode())
    return h.hexdigest()[:20]


def _work_key(task: str, parameters: dict, part: str) -> str:
    """``distributed/<digest>/<task>-<part>-<hash>``: where the origin holds the work (bucket and prefix,
    which ends in the digest of source + plan), which part of it, and every binary's version."""
    prefix = parameters["prefix"]
    where = f"{parameters['origin'].location.bucket}\0{prefix}\0{part}\0{versions_digest()}"
    return f"{_records(prefix)}/{task}-{part}-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def _records(prefix: str) -> str:
    """Where in the result storage the cached results of the work under ``prefix`` are kept."""
    return f"distributed/{prefix.rsplit('/', 1)[-1]}"


def _chunk_key(context, parameters: dict) -> str:
    return _work_key("encode-chunk", parameters, f"{parameters['index']:05d}")


def _audio_key(context, parameters: dict) -> str:
    audio = json.dumps([a.model_dump(mode="json") for a in parameters["audio"]], sort_keys=True)
    return _work_key("encode-audio", parameters, hashlib.sha256(audio.encode()).hexdigest()[:12])


@task(name="encode-chunk", task_run_name="encode-chunk-{index}", cache_policy=NO_CACHE)
def _chunk_task(
    plan: ChunkPlan, index: int, origin: Origin, prefix: str, source_key: str
) -> tuple[dict[str, str], float]:
    """Encode chunk ``index`` of every rendition from the S3 source; upload; → (rendition -> key, seconds)."""
    store = Store(origin)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vodflow-chunk-") as tmp:
        made = encode_chunk(plan, index, tmp, input_url=store.presign(source_key, seconds=_PRESIGN_SECONDS))
        seconds = time.monotonic() - started
        keys = {}
        for name, path in made.items():
            key = f"{prefix}/chunks/{name}/{index:05d}.mp4"
            store.upload(path, key)
            keys[name] = key
    return keys, seconds


@task(name="encode-audio", task_run_name="encode-audio", cache_policy=NO_CACHE)
def _audio_task(
    plan: ChunkPlan, audio: Sequence[AudioRendition], origin: Origin, prefix: str, source_key: str
) -> list[EncodedFile]:
    """Every audio rendition of the whole title from the S3 source; uploaded; paths are object keys."""
    store = Store(origin)
    with tempfile.TemporaryDirectory(prefix="vodflow-audio-") as tmp:
        # The audio encode demuxes the whole file (video packets included): one plain download is the
        # same transfer as reading it over HTTP, and keeps the URL out of ffmpeg's error lines.
        local = Path(tmp) / "source" / Path(plan.source).name
        local.parent.mkdir()
        store.download(source_key, local)
        files = encode_audio(plan, audio, Path(tmp) / "out", source=local)
        out = []
        for f in files:
            key = f"{prefix}/out/{Path(f.path).name}"
            store.upload(f.path, key)
            out.append(f.model_copy(update={"path": key}))
    return out


@task(name="join-chunks", cache_policy=NO_CACHE)
def _join_task(
    plan: ChunkPlan, rendition: Rendition, keys: list[str], origin: Origin, prefix: str, encode_seconds: float
) -> EncodedFile:
    """Download one rendition's chunks, join them by stream copy, upload the result; path is its key."""
    store = Store(origin)
    with tempfile.TemporaryDirectory(prefix="vodflow-join-") as tmp:
        paths = []
        for i, key in enumerate(keys):
            path = Path(tmp) / f"{i:05d}.mp4"
            store.download(key, path)
            paths.append(path)
        joined = join_chunks(plan, rendition, paths, Path(tmp) / f"{rendition.name}.mp4", encode_seconds=encode_seconds)
        key = f"{prefix}/out/{rendition.name}.mp4"
        store.upload(joined.path, key)
    return joined.model_copy(update={"path": key})


def _upload_source(store: Store, src: Path, key: str) -> None:
    try:
        head = store.head(key)
    except OriginUnreachable:  # a HEAD the origin refuses says nothing of the object: the upload tells
        head = None
    if head is not None and head["ContentLength"] == src.stat().st_size:
        return  # uploaded by an earlier run: the key holds the content hash
    store.upload(src, key)


def _stored(store: Store, keys: Sequence[str]) -> bool:
    """True when every object in ``keys`` exists; raises ``OriginUnreachable`` when the origin cannot say."""
    return all(store.exists(key) for key in keys)


def _results(futures: list, keys_of: Callable, again: Callable[[int], object], store: Store, what: str) -> list:
    """Every future's result; a result taken from the cache whose objects are gone is made again
    (``again(i)`` resubmits the ``i``-th with ``refresh_cache``, all such together)."""
    results = [f.result() for f in futures]
    cached = [i for i, f in enumerate(futures) if f.state.name == "Cached"]
    stale = [i for i in cached if not _stored(store, keys_of(results[i]))]
    if stale:
        log.info("%s %s: cached, but their work objects are gone; running again", what, stale)
    redone = {i: again(i) for i in stale}
    return [redone[i].result() if i in redone else r for i, r in enumerate(results)]


@flow(name="encode-distributed")
def _encode_flow(
    source: str,
    renditions: list[Rendition],
    out: str,
    origin_token: str,
    audio: list[AudioRendition],
    chunk_seconds: float,
    keep_work: bool,
) -> EncodeResult:
    started = time.monotonic()
    origin, storage = _CALLS[origin_token]
    src = Path(source)
    plan = plan_chunks(src, renditions, chunk_seconds=chunk_seconds)
    warnings = list(plan.warnings)
    if audio and not plan.info.audio:
        warnings.append(f"{src}: no audio stream; audio renditions skipped")
    prefix = origin.location.key("work", _digest(src, plan))
    source_key = f"{prefix}/source{src.suffix.lower()}"
    # One store (one client) for everything this flow process sends or reads (the tasks make their own,
    # wherever they run).
    store = Store(origin)
    _upload_source(store, src, source_key)

    chunk_task, audio_task = _chunk_task, _audio_task
    if storage is not None:
        chunk_task = _chunk_task.with_options(
            cache_policy=CacheKeyFnPolicy(cache_key_fn=_chunk_key), result_storage=storage, persist_result=True
        )
        audio_task = _audio_task.with_options(
            cache_policy=CacheKeyFnPolicy(cache_key_fn=_audio_key), result_storage=storage, persist_result=True
        )

    def chunk(i: int, **options):
        return chunk_task.with_options(**options).submit(plan, i, origin, prefix, source_key)

    def audio_files(**options):
        return audio_task.with_options(**options).submit(plan, audio, origin, prefix, source_key)

    chunks = [chunk(i) for i in range(len(plan.starts))]
    audio_run = audio_files()
    done = _results(chunks, lambda r: list(r[0].values()), lambda i: chunk(i, refresh_cache=True), store, "chunks")
    [audio_done] = _results(
        [audio_run], lambda r: [f.path for f in r], lambda _: audio_files(refresh_cache=True), store, "audio"
    )
    seconds = sum(s for _, s in done)  # CPU-side cost: every chunk's encode time, wherever it ran
    joins = [
        _join_task.submit(plan, r, [keys[r.name] for keys, _ in done], origin, prefix, seconds) for r in plan.renditions
    ]
    remote = [j.result() for j in joins] + audio_done

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".encode-"))
    local: list[EncodedFile] = []
    try:
        for f in remote:
            name = Path(f.path).name
            store.download(f.path, staging / name)
            local.append(f.model_copy(update={"path": str(out_dir / name)}))
        for f in local:
            os.replace(staging / Path(f.path).name, f.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not keep_work:
        store.delete_prefix(prefix + "/")
        if isinstance(storage, OriginResultStorage) and storage.bucket == store.bucket:
            # The records name the objects just deleted: they go with them (the local kind stays, checked).
            store.delete_prefix(storage.key(_records(prefix)) + "/")
    return EncodeResult(
        source=str(src),
        frame_rate=plan.frame_rate,
        gop_frames=plan.gop_frames,
        video=[f for f in local if f.kind == "video"],
        audio=[f for f in local if f.kind == "audio"],
        warnings=warnings,
        seconds=time.monotonic() - started,
    )


def encode_distributed(
    source: str | os.PathLike[str],
    renditions: Sequence[Rendition],
    out: str | os.PathLike[str],
    *,
    dask_address: str | None = None,
    workers: int | None = None,
    origin: Origin | None = None,
    audio: Sequence[AudioRendition] = DEFAULT_AUDIO,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    keep_work: bool = False,
    result_storage: WritableFileSystem | None = None,
) -> EncodeResult:
    """Encode ``renditions`` (and ``audio``) of the local file ``source`` into ``out`` on a Dask cluster.

    The drop-in for ``pipeline.encode.encode(source, renditions, out, audio=audio)`` when a title should
    be spread over workers: same files (``out/<rendition.name>.mp4``, audio named as ``encode`` names it),
    same ``EncodeResult`` (``video`` in the order of ``renditions``, ``gop_frames``, ``frame_rate``,
    ``warnings``); each video ``EncodedFile.encode_seconds`` is the sum of the chunk encodes (the compute
    spent, wherever it ran), ``EncodeResult.seconds`` the wall time of the call.

    - ``dask_address``: a running Dask scheduler (``tcp://host:8786``; the CLI's ``--dask ADDRESS``), or
    - ``workers``: start a local cluster of that many worker processes for this call (``--workers N``);
      neither: a local cluster with one worker per CPU.
    - ``origin``: where sources, chunks and outputs travel (every worker must reach its endpoint);
      default ``Origin.resolve()``, the embedded SeaweedFS (``vodflow origin up``). Work objects live
      under ``<origin prefix>/work/<digest>/`` and are deleted at the end unless ``keep_work``.
    - ``chunk_seconds``: chunk length, rounded to whole GOPs (default 10 s; shorter chunks spread better
      but each restarts rate control, see ``pipeline.chunks``).

    It runs as a Prefect flow ("encode-distributed") whose tasks (``encode-chunk`` x chunks,
    ``encode-audio``, ``join-chunks`` x renditions) go to ``DaskTaskRunner``; called inside another flow
    it becomes a subflow of that flow. Without ``result_storage`` no task is cached (``NO_CACHE``). With
    it (a saved Prefect file-system block every worker can write: a local folder for a local cluster,
    ``flows.results.OriginResultStorage`` for workers elsewhere) ``encode-chunk`` and ``encode-audio``
    are cached there by the work digest, the chunk index (the audio renditions) and the binary versions,
    so a call after a crash re-encodes only the chunks that had not finished; a cached chunk whose
    objects were deleted since (the end of every call without ``keep_work``) is encoded again.
    ``join-chunks`` always runs.

    Raises what ``pipeline.encode.encode`` raises for the source and the rungs (before anything is
    uploaded), ``UsageError`` for both or bad cluster options, ``OriginNotRunning`` when the default
    origin is down, and the task's own error (e.g. ``DecodeError``, ``ProcessError``, ``OriginUnreachable``
    or ``ObjectMissing`` for S3) when a chunk, the audio or a join fails; ``out`` then holds none of this call's files.
    """
    runner = task_runner(dask_address=dask_address, workers=workers)
    if result_storage is not None and getattr(result_storage, "_block_document_id", None) is None:
        raise UsageError("the result storage of distributed tasks must be a saved block (call .save(name) first)")
    origin = origin or Origin.resolve()
    src = Path(source)
    if not src.is_file():
        raise UsageError(f"{src}: no such file")
    token = secrets.token_hex(8)
    _CALLS[token] = (origin, result_storage)
    try:
        run = _encode_flow.with_options(task_runner=runner)
        return run(str(src), list(renditions), str(out), token, list(audio), float(chunk_seconds), keep_work)
    finally:
        del _CALLS[token]
