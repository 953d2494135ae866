"""Measuring probes: what the cache holds is read, the rest cut, encoded and scored in parallel.

``ProbeRun.measure`` returns every (excerpt, probe) result of an analysis, from the cache or measured
now (and cached as it finishes, so an interrupted analysis resumes); ``point`` pools one probe's
results over the excerpts into an ``RDPoint``.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ladders.cache import ProbeResult, entry_path, load_entry, probe_key
from ladders.excerpts import Excerpt, cut
from ladders.model import RDPoint
from ladders.policy import AnalysisPolicy, usable_cpus
from ladders.probes import ProbeEncode
from pipeline.encode import encode
from pipeline.probe import MediaInfo, parse_rate
from pipeline.quality import vmaf_many
from pipeline.scores import harmonic_mean, percentile
from pipeline.trim import tail
from vodflow.progress import Progress

__all__ = ["ProbeRun", "point"]


def _measure(
    src: Path,
    ref: Path,
    excerpt: Excerpt,
    probes: Sequence[ProbeEncode],
    keys: Sequence[dict[str, object]],
    policy: AnalysisPolicy,
    model: str,
    work: Path,
    cache: Path,
    threads: int,
    batch: int,
) -> None:
    """Encode ``probes`` of one excerpt and codec from ``src`` in one ffmpeg, score them against ``ref``
    (``src`` less the excerpt's lead), and cache each one."""
    renditions = [p.rendition(policy.gop_seconds) for p in probes]
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"{probes[0].codec}-"))
    try:
        result = encode(src, renditions, out, audio=(), show_progress=False)
        files = {f.rendition.name: f for f in result.video}
        encoded = [files[r.name] for r in renditions]
        pixels = sum(p.width * p.height for p in probes)
        wall = encoded[0].encode_seconds
        # (bits, seconds) of what stands for the excerpt: without its warm-up GOP when it has one.
        kept = [(f.bitrate_kbps * 1000 * f.duration, f.duration) for f in encoded]
        if excerpt.lead:
            fps = float(parse_rate(result.frame_rate) or 0)
            kept = [(float(t.bits), t.duration) for t in (tail(f.path, skip=excerpt.lead, fps=fps) for f in encoded)]
        scores = vmaf_many(
            ref,
            [f.path for f in encoded],
            subsample=policy.subsample,
            model=model,
            threads=threads,
            ssim=policy.ssim,
            batch=batch,
            skip=excerpt.lead,
            show_progress=False,
        )
        for p, (bits, seconds), s, key in zip(probes, kept, scores, keys, strict=True):
            entry = ProbeResult(
                key=key,
                bits=bits,
                duration=seconds,
                encode_seconds=wall * p.width * p.height / pixels,
                vmaf=s.per_frame,
                ssim=s.ssim_per_frame,
            )
            entry.save(entry_path(cache, key))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _pooled(entry: ProbeResult, scores: list[float]) -> list[float]:
    """The scores of ``entry`` that stand for its excerpt in a title's pooled figures.

    A cut excerpt starts on a keyframe that, subsampled, would weigh 1 in len(scores) instead of 1 in
    a GOP, and scores lower than the same frame inside the title (2.6 VMAF at 1080p CRF 23 on the
    sample title), so it is left out; leaving it out moved the 60 s title's points 0.4-1.2 VMAF nearer
    their full-title values. Every frame scored (subsample 1) keeps it: that is its true share.
    """
    if entry.key["excerpt"] == "whole" or entry.key["subsample"] == 1 or len(scores) < 2:
        return scores
    return scores[1:]


def point(probe_: ProbeEncode, entries: Sequence[ProbeResult]) -> RDPoint:
    """The ``RDPoint`` of ``probe_`` from its results on every excerpt: bits over total duration, the
    per-frame scores pooled (see ``_pooled``), encode seconds summed."""
    per_frame = [x for e in entries for x in _pooled(e, e.vmaf)]
    ssims = [x for e in entries for x in _pooled(e, e.ssim or [])]
    duration = sum(e.duration for e in entries)
    return RDPoint(
        codec=probe_.codec,  # type: ignore[arg-type]
        width=probe_.width,
        height=probe_.height,
        crf=probe_.crf,
        preset=probe_.preset,
        bitrate_kbps=sum(e.bits for e in entries) / duration / 1000,
        vmaf=statistics.fmean(per_frame),
        vmaf_hm=harmonic_mean(per_frame),
        vmaf_p5=percentile(per_frame, 5),
        ssim=statistics.fmean(ssims) if ssims else None,
        encode_seconds=sum(e.encode_seconds for e in entries),
    )


def _run_pool(jobs: Sequence[Callable[[], None]], workers: int, label: str, show_progress: bool) -> None:
    """Run ``jobs`` on ``workers`` threads; the first failure cancels what has not started and is raised."""
    if not jobs:
        return
    with (
        Progress(label, len(jobs), unit=" jobs", enabled=show_progress) as progress,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analyze") as pool,
    ):
        futures = [pool.submit(job) for job in jobs]
        try:
            for done, future in enumerate(as_completed(futures), 1):
                future.result()
                progress.update(done)
        except BaseException:
            for f in futures:
                f.cancel()
            raise


@dataclass
class ProbeRun:
    """One analysis's measuring: what the cache holds is read, the rest encoded and scored in parallel."""

    src: Path
    info: MediaInfo
    rate: Fraction
    cuts: list[Excerpt]
    policy: AnalysisPolicy
    model: str
    root: Path
    title_hash: str
    width: int
    height: int
    show_progress: bool
    measured: int = 0  # probes this run encoded (0: everything came from the cache)

    def measure(self, wanted: Sequence[ProbeEncode]) -> dict[tuple[int, ProbeEncode], ProbeResult]:
        """Every (excerpt index, probe) of ``wanted``, from the cache or measured now (and cached).

        Raises what ``ladders.excerpts.cut``, ``pipeline.encode.encode`` and ``pipeline.quality.vmaf_many``
        raise; every probe finished before a failure stays cached."""
        cuts, policy, root = self.cuts, self.policy, self.root
        found: dict[tuple[int, ProbeEncode], ProbeResult] = {}
        missing: dict[tuple[int, str], list[tuple[ProbeEncode, dict[str, object]]]] = {}
        for i, excerpt in enumerate(cuts):
            for p in wanted:
                key = probe_key(self.title_hash, excerpt, p, policy, self.model)
                entry = load_entry(entry_path(root, key), key)
                if entry is None:
                    missing.setdefault((i, p.codec), []).append((p, key))
                else:
                    found[(i, p)] = entry
        if not missing:
            return found
        src, name = self.src, self.src.name
        workers = policy.workers
        threads = max(1, usable_cpus() // workers)
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=root, prefix="work-"))
        try:
            paths: dict[int, Path] = {}
            refs: dict[int, Path] = {}
            needed = sorted({i for i, _ in missing})
            for i in needed:
                paths[i] = src if cuts[i].whole else work / f"excerpt{i}.nut"
                refs[i] = work / f"excerpt{i}-reference.nut" if cuts[i].lead else paths[i]
            _run_pool(
                [
                    (lambda i=i: cut(src, self.info, self.rate, cuts[i], paths[i], refs[i]))
                    for i in needed
                    if not cuts[i].whole
                ],
                workers,
                f"analyze {name}: cut {len(needed)} excerpts",
                self.show_progress,
            )
            batch = policy.batch_for(self.width, self.height)
            jobs = [
                (
                    lambda i=i, todo=todo: _measure(
                        paths[i],
                        refs[i],
                        cuts[i],
                        [p for p, _ in todo],
                        [k for _, k in todo],
                        policy,
                        self.model,
                        work,
                        root,
                        threads,
                        batch,
                    )
                )
                for (i, _c), todo in missing.items()
            ]
            count = sum(len(t) for t in missing.values())
            _run_pool(jobs, workers, f"analyze {name}: encode and score {count} probes", self.show_progress)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        for (i, _c), todo in missing.items():
            for p, key in todo:
                entry = load_entry(entry_path(root, key), key)
                assert entry is not None, "a measured probe was not cached"
                found[(i, p)] = entry
                self.measured += 1
        return found
