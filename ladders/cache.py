"""The content-hash cache of a per-title analysis: probe results and probed media, keyed by the source's bytes.

Each probe's measurements are one JSON file under ``<cache>/probes/``, named by the hash of its key
(the source's sha256 and every setting that changes the measurement); the source's digest is
remembered under ``<cache>/hashes/`` and its ``MediaInfo`` under ``<cache>/media/``, so a fully cached
analysis runs no ffmpeg or ffprobe at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

from pydantic import ValidationError

from ladders.excerpts import Excerpt
from ladders.policy import AnalysisPolicy
from ladders.probes import ProbeEncode
from pipeline.probe import MediaInfo, probe
from vodflow.records import Record

__all__ = ["ANALYSIS_VERSION", "ProbeResult", "entry_path", "load_entry", "media_info", "probe_key", "source_hash"]

log = logging.getLogger(__name__)

# Bump when a change makes earlier cached probes wrong (what is measured, or how).
ANALYSIS_VERSION = 2

_HASH_CHUNK = 1 << 20


class ProbeResult(Record):
    """What one probe encode of one excerpt measured: the cache entry behind part of an ``RDPoint``."""

    key: dict[str, object]  # every setting that produced it (the cache file name is its hash)
    bits: float  # video bits, from the encode's packets
    duration: float  # seconds of video encoded
    encode_seconds: float  # this probe's share of its encode process's wall time
    vmaf: list[float]  # per scored frame
    ssim: list[float] | None = None  # libvmaf float_ssim per scored frame


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


def probe_key(
    title_hash: str, excerpt: Excerpt, probe_: ProbeEncode, policy: AnalysisPolicy, model: str
) -> dict[str, object]:
    """The cache key of ``probe_`` on ``excerpt`` of the title whose bytes hash to ``title_hash``: every
    setting that changes what the probe measures, and ``ANALYSIS_VERSION``."""
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


def entry_path(cache: Path, key: dict[str, object]) -> Path:
    """Where the probe result of ``key`` is saved under the cache folder ``cache``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return cache / "probes" / str(key["source"])[:16] / f"{digest}.json"


def load_entry(path: Path, key: dict[str, object]) -> ProbeResult | None:
    """The cached probe at ``path``, or None when absent, unreadable or saved for other settings.

    Never raises for a bad entry: it is logged and measured again."""
    try:
        entry = ProbeResult.load(path)
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
        return None
    return entry if entry.key == key else None


def media_info(src: Path, cache: Path, title_hash: str) -> MediaInfo:
    """``probe(src)``, remembered under the content hash so that a fully cached analysis runs nothing.

    Raises what ``pipeline.probe.probe`` raises when the source has to be probed."""
    path = cache / "media" / f"{title_hash[:32]}.json"
    try:
        return MediaInfo.load(path).model_copy(update={"path": str(src)})
    except (OSError, ValidationError, ValueError):
        info = probe(src)
        info.save(path)
        return info
