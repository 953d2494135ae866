"""Per-title analysis: probe encodes over resolutions x CRFs on excerpts of a title, scored with VMAF.

``analyze(source, codecs, policy)`` returns the title's :class:`~ladders.model.RDPoints`: for every
codec, every resolution up to the source's and every CRF of the policy, the bitrate and quality a
probe encode reached on a sample of the title.

How it stays cheap and faithful:

* **A sample of the title.** A title no longer than ``policy.whole_below`` seconds is analysed whole;
  a longer one through ``policy.excerpts`` excerpts of ``policy.excerpt_seconds`` each, one centred in
  each of as many equal parts of the title, so every stretch of the title has its say and the cost of
  analysis stays fixed however long the title is. Each excerpt is cut once, losslessly, into a
  temporary folder (raw frames); it is both the probes' source and their VMAF reference.
* **Excerpts as the title has them.** An excerpt starts on the final encode's GOP grid and is encoded
  with the GOP before it, which is then left out of its bits (``pipeline.trim``) and VMAF: its frames get the
  keyframe and the rate-control history they have inside the title. Encoded cold, the same frames
  scored 0.4-3.0 VMAF lower than in the full-title encode (60 s sample title, 720p CRF 30); warmed up
  and aligned, within 0.2. It costs a second GOP of encoding per excerpt, none of scoring.
* **Decode once.** All resolution x CRF probes of one excerpt and codec are written by one ffmpeg
  process (``pipeline.encode.encode``: the very rungs the final encode would write, with its closed
  GOPs), and scored by one ffmpeg process per ``policy.vmaf_batch`` probes
  (``pipeline.quality.vmaf_many``: the reference decoded once, libvmaf's SSIM in the same pass).
* **Probes where the ladder needs them.** A small CRF grid first (three per codec), then rounds of one
  more CRF only at the sizes that own an end of the hull: up, where a size's cheapest probe is still
  above the ladder's floor; down, where its best probe is still under the top rung's target (+1).
  Easy titles pay nothing for qualities no rung will have; hard ones get the probes their top needs.
* **In parallel up to the cores.** (excerpt, codec) jobs run on ``policy.jobs`` threads, each driving
  one ffmpeg at a time, so no more heavy processes run at once than there are cores.
* **Cached by content.** Each probe's measurements (bits, duration, per-frame VMAF and SSIM, encode
  seconds) are saved as one JSON file under the cache folder, keyed by the sha256 of the source's
  bytes and every setting that changes the measurement. A second analysis of the same title with the
  same settings runs no ffmpeg at all; an interrupted one resumes with every probe already saved; a
  changed setting re-measures only the probes it changes.

A point's bitrate is the bits of all its excerpt encodes over their total duration; its VMAF mean,
harmonic mean and 5th percentile pool the per-frame scores of every excerpt together (less each cut
excerpt's first frame when subsampled: see ``_pooled``); its SSIM is
libvmaf's ``float_ssim`` mean; its ``encode_seconds`` sums the excerpt encodes' shares (an encode
process's wall time shared among its probes in proportion to their pixels).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from ladders.hull import hull
from ladders.model import RDPoint, RDPoints
from pipeline.codecs import CODECS, CRF_MAX
from pipeline.encode import DEFAULT_PRESET, RateControl, Rendition, encode
from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import MediaInfo, parse_rate, probe, require_video
from pipeline.quality import harmonic_mean, percentile, pick_model, vmaf_many
from pipeline.trim import tail
from vodflow.errors import ProbeError, UnsupportedMedia, UsageError
from vodflow.progress import Progress
from vodflow.records import Record
from vodflow.state import State, folder

__all__ = [
    "ANALYSIS_VERSION",
    "DEFAULT_CRFS",
    "DEFAULT_HEIGHTS",
    "AnalysisPolicy",
    "ProbeResult",
    "analyze",
    "excerpts",
    "sizes",
    "source_hash",
]

log = logging.getLogger(__name__)

# Bump when a change makes earlier cached probes wrong (what is measured, or how).
ANALYSIS_VERSION = 2

DEFAULT_HEIGHTS: tuple[int, ...] = (2160, 1440, 1080, 720, 540, 432, 360, 270, 144)
# Three CRFs per codec, then adaptive ends (``AnalysisPolicy.extend``/``extend_down``): what fits the
# cost goal (analysis <= the final ladder's encode time) with the final preset. H.264 23..33 spans VMAF
# ~96.5 down to ~45-88 (by size) on the 60 s sample title; a fourth grid CRF (18) at every size cost a
# quarter of the analysis there and its probes were never on the hull except at the top size of hard
# titles, which the adaptive top now reaches on demand. The HEVC, AV1 and VP9 grids are the H.264 one
# moved to those encoders' scales (not measured here).
DEFAULT_CRFS: dict[str, tuple[float, ...]] = {
    "h264": (23, 28, 33),
    "hevc": (25, 30, 35),
    "av1": (35, 43, 51),
    "vp9": (32, 40, 48),
}
# The lowest CRF the adaptive top probes: below it the encoders head for lossless profiles (x264 CRF 0 is
# High 4:4:4 Predictive, which players do not take) and no ladder needs the bits.
CRF_MIN = 8.0
_HASH_CHUNK = 1 << 20
_BATCH_AREA = 1920 * 1080


class AnalysisPolicy(Record):
    """What ``analyze`` measures and how; every field that changes a measurement is in the cache key.

    The defaults keep analysis within the cost of the title's final H.264 ladder encode (x264 medium,
    decode once, 5 capped-CRF rungs 1080p..240p) on a 60 s 1080p title: 0.81-0.86 of its wall time on
    2 cores (``samples.make_long_title``). Against full-title, every-frame measurements of the same
    (size, CRF) encodes, the points' VMAF was off by -1.15 to +0.57 (5 points, 1080p CRF 23 to 270p
    CRF 33) and their bitrate by -12 % to +14 %. Measured on the way:

    * probe preset: x264 veryfast probes score 0.8-20 VMAF below medium at the same size and CRF, the
      gap growing with CRF and changing with size, so no few-point per-title mapping holds 2 VMAF;
      probes use the final preset.
    * excerpts (frames of the full-title encode, so placement alone): 3 x 2 s moved a point's mean
      VMAF by up to 1.0 (1.8 at a point scoring 35), 4 x 2 s by up to 1.0, 6 x 2 s by up to 0.4, at 1x,
      1.33x and 2x the cost. Encoding an excerpt on its own scores 0.1-2 lower than the same frames
      inside the title (x264's lookahead ends with the excerpt; its first frame is a keyframe).
    * subsample: every 10th frame instead of every frame moved those means by 0.3-0.7 more (0.9 at
      the point scoring 35), and halves the cost of VMAF against every 5th.
    * CRF step: interpolating linearly across a step of 10 missed the measured middle point by -0.8
      to -2.9 VMAF (the curve is concave), so the step stays 5 (about a quarter of that); a fifth
      H.264 CRF (38) put the cost at 1.0x the final encode.
    * SSIM from libvmaf in the same pass adds about a fifth to VMAF's cost; a scikit-image pass would
      decode everything again.
    """

    # Probe heights, capped at the source's; widths keep the source's display aspect (even numbers).
    heights: tuple[int, ...] = DEFAULT_HEIGHTS
    # CRFs per codec (AV1 and VP9 take whole numbers only); a codec missing here uses DEFAULT_CRFS.
    crfs: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    # Adaptive low end: a size whose highest-CRF probe is on the codec's hull and still above
    # floor_kbps gets the next CRF up (the grid's last step), up to `extend` more per size, so the hull
    # reaches the ladder's bottom through the sizes that are best there instead of jumping to the
    # smallest one (hard titles); a title whose grid already reaches it pays nothing.
    floor_kbps: float = Field(150.0, gt=0)
    extend: int = Field(3, ge=0)
    # ... but only near the bottom: a size whose cheapest probe is above extend_within x floor_kbps has
    # smaller sizes' probes below it on the hull already (1080p CRF 38 on the 60 s title cost an eighth
    # of the analysis and was never a rung).
    extend_within: float = Field(4.0, ge=1)
    # Adaptive top: a size whose lowest-CRF probe is on the codec's hull and scores under top_vmaf gets
    # the next CRF down (the grid's first step), up to `extend_down` more per size, so the hull brackets
    # the ladder's top rung (``aiming``: its target + 1) on hard titles, and easy ones pay nothing for
    # qualities no rung will have.
    top_vmaf: float = Field(96.0, gt=0, le=100)
    extend_down: int = Field(2, ge=0)
    # Probe preset per codec; missing: the final encode's (pipeline.encode.DEFAULT_PRESET).
    presets: dict[str, str] = Field(default_factory=dict)
    gop_seconds: float = Field(2.0, gt=0)  # as the final encode's, so probes have its keyframes
    # A title up to whole_below seconds is analysed whole; a longer one through excerpts, each one GOP
    # long by default (an excerpt shorter than a GOP would carry more than its share of keyframes).
    whole_below: float = Field(10.0, ge=0)
    excerpts: int = Field(3, ge=1)
    excerpt_seconds: float = Field(2.0, gt=0)
    # Excerpts start on the final encode's GOP grid and are encoded one GOP early (that GOP is then left
    # out of the bits and the VMAF), so each probe has the keyframes and the rate-control history its
    # frames have inside the title. Measured on the 60 s title at 720p CRF 30: a cold excerpt scored 0.4-3.0 VMAF
    # under the same frames in the full encode; aligned and warmed up, -0.2..+0.1.
    warm_up: bool = True
    subsample: int = Field(10, ge=1)  # VMAF on every Nth frame
    ssim: bool = True  # libvmaf's float_ssim, in the same pass as VMAF
    model: str | None = None  # None: pipeline.quality.pick_model of the source height
    jobs: int | None = Field(None, ge=1)  # concurrent ffmpeg processes; None: the CPUs we may use
    # Probes scored by one ffmpeg (the reference is decoded once per batch) at a 1080p reference; fewer
    # above (each libvmaf holds its own full-size frames: 12 at 1080p took 2.4 GB).
    vmaf_batch: int = Field(12, ge=1)

    def batch_for(self, width: int, height: int) -> int:
        """Probes per VMAF process for a ``width`` x ``height`` reference: ``vmaf_batch`` scaled by area."""
        return max(1, min(self.vmaf_batch, self.vmaf_batch * _BATCH_AREA // (width * height)))

    @model_validator(mode="after")
    def _check(self) -> AnalysisPolicy:
        if not self.heights or any(h < 16 for h in self.heights):
            raise ValueError("heights must be a non-empty list of heights of at least 16")
        for codec, crfs in self.crfs.items():
            if codec not in CODECS:
                raise ValueError(f"crfs for unknown codec {codec!r}")
            if not crfs:
                raise ValueError(f"no CRF for {codec}")
        for codec in self.presets:
            if codec not in CODECS:
                raise ValueError(f"preset for unknown codec {codec!r}")
        return self

    def crfs_for(self, codec: str) -> tuple[float, ...]:
        return tuple(sorted(float(c) for c in self.crfs.get(codec, DEFAULT_CRFS[codec])))

    def crf_step_for(self, codec: str) -> float:
        """How far an extension moves past the grid's highest CRF: the grid's last step (5 by default)."""
        crfs = self.crfs_for(codec)
        return crfs[-1] - crfs[-2] if len(crfs) > 1 else 5.0

    def crf_step_down_for(self, codec: str) -> float:
        """How far the adaptive top moves below the grid's lowest CRF: the grid's first step."""
        crfs = self.crfs_for(codec)
        return crfs[1] - crfs[0] if len(crfs) > 1 else 5.0

    def aiming(self, target_vmaf: float) -> AnalysisPolicy:
        """This policy with its adaptive top set for a ladder whose top rung aims at ``target_vmaf``: one
        point above it, so the top rung's CRF is interpolated between probes rather than extrapolated."""
        return self.model_copy(update={"top_vmaf": min(100.0, target_vmaf + 1.0)})

    def preset_for(self, codec: str) -> str:
        return self.presets.get(codec, DEFAULT_PRESET[codec])

    @property
    def workers(self) -> int:
        return self.jobs or _cpus()


class ProbeResult(Record):
    """What one probe encode of one excerpt measured: the cache entry behind part of an ``RDPoint``."""

    key: dict[str, object]  # every setting that produced it (the cache file name is its hash)
    bits: float  # video bits, from the encode's packets
    duration: float  # seconds of video encoded
    encode_seconds: float  # this probe's share of its encode process's wall time
    vmaf: list[float]  # per scored frame
    ssim: list[float] | None = None  # libvmaf float_ssim per scored frame


@dataclass(frozen=True, slots=True)
class _Excerpt:
    start: float  # seconds
    frames: int  # 0: the whole title, uncut
    lead: int = 0  # frames encoded before it (warm-up) and then cut away

    @property
    def whole(self) -> bool:
        return self.frames == 0

    @property
    def name(self) -> str:
        if self.whole:
            return "whole"
        return f"{self.start:.3f}s+{self.frames}f" + (f"-{self.lead}f" if self.lead else "")


@dataclass(frozen=True, slots=True)
class _Probe:
    codec: str
    width: int
    height: int
    crf: float
    preset: str

    def rendition(self, gop_seconds: float) -> Rendition:
        return Rendition(
            codec=self.codec,  # type: ignore[arg-type]
            width=self.width,
            height=self.height,
            rate=RateControl(mode="crf", crf=self.crf),
            preset=self.preset,
            gop_seconds=gop_seconds,
        )


# --- inputs ---------------------------------------------------------------------------------------


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # what this process may use, not what the machine has
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def source_hash(path: str | os.PathLike[str], cache: Path | None = None) -> str:
    """sha256 of the file's bytes, read in 1 MiB chunks.

    With ``cache``, the digest is remembered there under the file's path, size and modification time,
    so a re-run does not read a long title again; a changed file has a new size or time and is re-read.
    """
    path = Path(path)
    st = path.stat()
    memo = None
    if cache is not None:
        ident = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
        memo = cache / "hashes" / f"{hashlib.sha256(ident.encode()).hexdigest()[:32]}.txt"
        if memo.is_file():
            return memo.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    hexdigest = digest.hexdigest()
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f".{memo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(hexdigest + "\n")
        os.replace(tmp, memo)
    return hexdigest


def sizes(info: MediaInfo, heights: Iterable[int]) -> list[tuple[int, int]]:
    """Probe frame sizes, largest first: each height up to the source's, width from its display aspect.

    Widths and heights are even (4:2:0); raises ``NoVideoStream`` as ``require_video``.
    """
    v = require_video(info)
    sar = parse_rate((v.sar or "1:1").replace(":", "/")) or Fraction(1)
    aspect = v.width * sar / v.height
    out = []
    wanted = {h for h in heights if h <= v.height}
    if heights and v.height < max(heights):
        # A source between the standard heights (a 1920x800 scope film) is probed at its own size too:
        # otherwise the best the source can give would never be measured.
        wanted.add(v.height)
    for h in sorted(wanted, reverse=True):
        h2 = h // 2 * 2
        w2 = max(2, round(h2 * aspect / 2) * 2)
        if (w2, h2) not in out:
            out.append((w2, h2))
    return out


def excerpts(duration: float, fps: float, policy: AnalysisPolicy) -> list[tuple[float, float]]:
    """(start, length) in seconds of each excerpt ``policy`` takes from a title: one (0, duration) when
    the title is analysed whole; else one excerpt centred in each of ``policy.excerpts`` equal parts,
    starting on a frame."""
    return [(e.start, duration if e.whole else e.frames / fps) for e in _excerpts(duration, fps, policy)]


def _excerpts(duration: float, fps: float, policy: AnalysisPolicy) -> list[_Excerpt]:
    frames = max(1, round(policy.excerpt_seconds * fps))
    length = frames / fps
    if duration <= policy.whole_below or duration <= policy.excerpts * length:
        return [_Excerpt(0.0, 0)]
    gop = max(1, round(policy.gop_seconds * fps))
    total = int(duration * fps + 1e-6)
    part = duration / policy.excerpts
    out = []
    for i in range(policy.excerpts):
        start = round(((i + 0.5) * part - length / 2) * fps)
        start = min(max(0, start), total - frames)
        if policy.warm_up:
            # On the final encode's GOP grid (keyframes at multiples of gop from the title's start).
            start = min(round(start / gop) * gop, (total - frames) // gop * gop)
        lead = min(gop, start) if policy.warm_up else 0
        out.append(_Excerpt(start / fps, frames, lead))
    return out


# --- cache ----------------------------------------------------------------------------------------


def _key(title_hash: str, excerpt: _Excerpt, probe_: _Probe, policy: AnalysisPolicy, model: str) -> dict[str, object]:
    return {
        "version": ANALYSIS_VERSION,
        "source": title_hash,
        "excerpt": excerpt.name,
        "codec": probe_.codec,
        "width": probe_.width,
        "height": probe_.height,
        "crf": probe_.crf,
        "preset": probe_.preset,
        "gop_seconds": policy.gop_seconds,
        "subsample": policy.subsample,
        "model": model,
        "ssim": policy.ssim,
    }


def _entry_path(cache: Path, key: dict[str, object]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache / "probes" / str(key["source"])[:16] / f"{digest}.json"


def _load(path: Path, key: dict[str, object]) -> ProbeResult | None:
    """The cached probe at ``path``, or None when absent, unreadable or saved for other settings."""
    try:
        entry = ProbeResult.load(path)
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
        return None
    return entry if entry.key == key else None


def _probe(src: Path, cache: Path, title_hash: str) -> MediaInfo:
    """``probe(src)``, remembered under the content hash so that a fully cached analysis runs nothing."""
    path = cache / "media" / f"{title_hash[:32]}.json"
    try:
        return MediaInfo.load(path).model_copy(update={"path": str(src)})
    except (OSError, ValidationError, ValueError):
        info = probe(src)
        info.save(path)
        return info


# --- measuring --------------------------------------------------------------------------------------


def _cut(src: Path, info: MediaInfo, fps: Fraction, excerpt: _Excerpt, out: Path, ref: Path) -> None:
    """Write ``excerpt`` of ``src`` as raw frames: with its warm-up lead to ``out`` (the probes' source)
    and, when it has a lead, without it to ``ref`` (their VMAF reference, made once for every codec)."""
    v = require_video(info)
    pix_fmt = "yuv420p10le" if v.bit_depth > 8 else "yuv420p"
    run_ffmpeg(
        [
            "-y",
            # Input seeking: fast to the keyframe before, then decoded and dropped up to the start (exact).
            "-ss",
            f"{excerpt.start - excerpt.lead / float(fps):.6f}",
            "-i",
            str(src),
            "-map",
            f"0:{v.index}",
            # The final encode's constant rate, so the excerpt holds the frames a rung would.
            "-vf",
            f"fps={fps}",
            "-frames:v",
            str(excerpt.frames + excerpt.lead),
            # Raw frames: the probes and their reference see the source's pixels, and decoding them again
            # (once per encode, once per VMAF batch) costs nothing; a lossless H.264 copy took 30 ms a
            # 1080p frame to decode. Two seconds of 1080p are 187 MB, in a temporary folder.
            *["-c:v", "rawvideo", "-pix_fmt", pix_fmt, "-f", "nut"],
            "-an",
            "-sn",
            "-dn",
            str(out),
        ],
        duration=(excerpt.frames + excerpt.lead) / float(fps),
        label=f"excerpt {excerpt.name}",
        show_progress=False,
    )
    if excerpt.lead:
        _uncut(out, excerpt.lead, ref)


def _uncut(src: Path, lead: int, out: Path) -> None:
    """Write the raw excerpt ``src`` without its first ``lead`` frames to ``out``: the VMAF reference."""
    run_ffmpeg(
        [
            "-y",
            "-i",
            str(src),
            "-map",
            "0:v:0",
            "-vf",
            f"trim=start_frame={lead},setpts=PTS-STARTPTS",
            "-c:v",
            "rawvideo",
            "-f",
            "nut",
            str(out),
        ],
        label=f"reference of {src.name}",
        show_progress=False,
    )


def _measure(
    src: Path,
    ref: Path,
    excerpt: _Excerpt,
    probes: Sequence[_Probe],
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
            entry.save(_entry_path(cache, key))
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


def _point(probe_: _Probe, entries: Sequence[ProbeResult]) -> RDPoint:
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


def _extensions(
    codec: str, probes: Sequence[_Probe], points: dict[_Probe, RDPoint], policy: AnalysisPolicy
) -> list[_Probe]:
    """The probes one more round of the adaptive ends adds for ``codec``, per size on the hull:

    - low end: the next CRF up where the highest-CRF probe is on the hull and above the floor, but within
      ``policy.extend_within`` times it (at most ``policy.extend`` past the grid);
    - top: the next CRF down where the lowest-CRF probe is on the hull and under ``policy.top_vmaf`` (at
      most ``policy.extend_down`` below the grid, never under ``CRF_MIN``)."""
    mine = [p for p in probes if p.codec == codec]
    on_hull = {(q.width, q.height, q.crf) for q in hull(points[p] for p in mine).points}
    grid = policy.crfs_for(codec)
    up, down = policy.crf_step_for(codec), policy.crf_step_down_for(codec)
    out = []
    for size in dict.fromkeys((p.width, p.height) for p in mine):
        own = [p for p in mine if (p.width, p.height) == size]
        last = max(own, key=lambda p: p.crf)
        point = points[last]
        near_floor = policy.floor_kbps < point.bitrate_kbps <= policy.extend_within * policy.floor_kbps
        room = sum(p.crf > grid[-1] for p in own) < policy.extend
        if (*size, last.crf) in on_hull and near_floor and room and last.crf + up <= CRF_MAX[codec]:
            out.append(_Probe(codec, last.width, last.height, last.crf + up, last.preset))
        first = min(own, key=lambda p: p.crf)
        room = sum(p.crf < grid[0] for p in own) < policy.extend_down
        short = points[first].vmaf < policy.top_vmaf
        if (*size, first.crf) in on_hull and short and room and first.crf - down >= CRF_MIN:
            out.append(_Probe(codec, first.width, first.height, first.crf - down, first.preset))
    return out


@dataclass
class _Run:
    """One analysis's measuring: what the cache holds is read, the rest encoded and scored in parallel."""

    src: Path
    info: MediaInfo
    rate: Fraction
    cuts: list[_Excerpt]
    policy: AnalysisPolicy
    model: str
    root: Path
    title_hash: str
    width: int
    height: int
    show_progress: bool
    measured: int = 0  # probes this run encoded (0: everything came from the cache)

    def measure(self, wanted: Sequence[_Probe]) -> dict[tuple[int, _Probe], ProbeResult]:
        """Every (excerpt index, probe) of ``wanted``, from the cache or measured now (and cached)."""
        cuts, policy, root = self.cuts, self.policy, self.root
        found: dict[tuple[int, _Probe], ProbeResult] = {}
        missing: dict[tuple[int, str], list[tuple[_Probe, dict[str, object]]]] = {}
        for i, cut in enumerate(cuts):
            for p in wanted:
                key = _key(self.title_hash, cut, p, policy, self.model)
                entry = _load(_entry_path(root, key), key)
                if entry is None:
                    missing.setdefault((i, p.codec), []).append((p, key))
                else:
                    found[(i, p)] = entry
        if not missing:
            return found
        src, name = self.src, self.src.name
        workers = policy.workers
        threads = max(1, _cpus() // workers)
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
                    (lambda i=i: _cut(src, self.info, self.rate, cuts[i], paths[i], refs[i]))
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
                entry = _load(_entry_path(root, key), key)
                assert entry is not None, "a measured probe was not cached"
                found[(i, p)] = entry
                self.measured += 1
        return found


# --- the stage --------------------------------------------------------------------------------------


def analyze(
    source: str | os.PathLike[str],
    codecs: Sequence[str] = ("h264",),
    policy: AnalysisPolicy | None = None,
    *,
    cache: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
) -> RDPoints:
    """Measure rate-quality points of ``source`` for each of ``codecs`` and return its ``RDPoints``.

    Points: every size of :func:`sizes` x every CRF of the policy, per codec, on the excerpts of
    :func:`excerpts`, and the adaptive ends' extra CRFs (see ``AnalysisPolicy``). Cached under
    ``vodflow.state.folder(State.CACHE, cache)``, so a repeated call runs no ffmpeg.
    ``RDPoints.seconds`` is this call's wall time, 0 when every point came from the cache.

    Raises ``UsageError`` for an unknown codec or a missing path, ``ProbeError``/``NoVideoStream``/
    ``UnsupportedMedia`` for a source that cannot be analysed (as ``probe``/``require_video``), and
    what ``pipeline.encode.encode`` and ``pipeline.quality.vmaf_many`` raise for a failed probe encode
    or score (every probe finished before the failure stays cached).
    """
    started = time.monotonic()
    policy = policy or AnalysisPolicy()
    wanted = list(dict.fromkeys(codecs))
    if not wanted:
        raise UsageError("analyze needs at least one codec")
    for c in wanted:
        if c not in CODECS:
            raise UsageError(f"unknown codec {c!r}: analyze takes {', '.join(CODECS)}")
    src = Path(source)
    if not src.is_file():
        probe(src)  # the one-line error for a missing path, a directory, ...
        raise UsageError(f"{src}: not a file")
    root = folder(State.CACHE, cache)
    title_hash = source_hash(src, root)
    info = _probe(src, root, title_hash)
    v = require_video(info)
    rate = parse_rate(v.frame_rate) or parse_rate(v.avg_frame_rate)
    if rate is None:
        raise UnsupportedMedia(src, "video stream has no frame rate")
    duration = info.duration or v.duration
    if not duration:
        raise ProbeError(src, "duration unknown, so excerpts cannot be placed")
    frame_sizes = sizes(info, policy.heights)  # never empty: the source height stands in
    model = policy.model or pick_model(v.height)
    cuts = _excerpts(duration, float(rate), policy)
    probes = {
        c: [_Probe(c, w, h, crf, policy.preset_for(c)) for (w, h) in frame_sizes for crf in policy.crfs_for(c)]
        for c in wanted
    }
    for c in wanted:
        try:
            [p.rendition(policy.gop_seconds) for p in probes[c][:1] + probes[c][-1:]]
        except ValidationError as exc:
            first = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise UsageError(f"analysis policy for {c}: {first}") from None

    run = _Run(src, info, rate, cuts, policy, model, root, title_hash, v.width, v.height, show_progress)
    found = run.measure([p for c in wanted for p in probes[c]])
    # The adaptive ends: rounds of one more CRF on the sizes that still own the hull's cheap end, or its
    # top short of the ladder's target.
    for _ in range(max(policy.extend, policy.extend_down)):
        points = {p: _point(p, [found[(i, p)] for i in range(len(cuts))]) for c in wanted for p in probes[c]}
        more = [q for c in wanted for q in _extensions(c, probes[c], points, policy)]
        if not more:
            break
        for q in more:
            probes[q.codec].append(q)
        found.update(run.measure(more))

    points = [_point(p, [found[(i, p)] for i in range(len(cuts))]) for c in wanted for p in probes[c]]
    return RDPoints(
        source=str(src),
        source_hash=title_hash,
        width=v.width,
        height=v.height,
        fps=float(rate),
        duration=duration,
        excerpts=excerpts(duration, float(rate), policy),
        codecs=wanted,  # type: ignore[arg-type]
        points=points,
        seconds=time.monotonic() - started if run.measured else 0.0,
    )
