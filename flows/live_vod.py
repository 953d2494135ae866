"""Live-to-VOD: an ended channel becomes a VOD title, packaged, validated and published like any other.

What the archive holds: the segments the channel still keeps when it ends (the DVR window and its
margin), the ones every rendition has, so video and audio cover the same time. They are joined per
rendition without re-encoding (``pipeline.live_archive``), listed in an ``encode.json`` like any encode,
and handed to the VOD path: ``packager.package`` (static MPD, HLS with ``EXT-X-ENDLIST``, the channel's
encryption with keys from the key store under the channel's name), ``packager.validate`` (a package
that does not validate is not published) and ``origin.publish`` (atomic: the title's pointer moves
only once every object is stored and verified). The title ID is the channel's ``vod_title``, by default
``<channel>-<start, UTC>`` (``news-20261204T213000Z``): each presentation of a channel is a title of its
own, and a title already on the origin is never given a new version by a channel.

Files, under the channel folder::

    archive/renditions/   the joined MP4s and their encode.json
    archive/package/      the VOD package (kept when the origin is not reachable: publish it later
                          with ``vodflow publish archive/package CHANNEL``)
    archive.json          the LiveArchive record
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from origin.config import Origin
from origin.pointers import current
from origin.publish import publish
from packager import ChannelState, KeyStore
from packager.package import package
from packager.validate import validate
from pipeline.live_archive import RunFiles, archive_result, join_runs, live_audio, live_rendition
from pipeline.live_ladder import LiveLadder, LiveRung
from pipeline.renditions import ENCODE_RECORD
from vodflow.errors import MediaError, UsageError, VodflowError
from vodflow.records import Record

__all__ = ["ARCHIVE_RECORD", "LiveArchive", "archive_channel"]

log = logging.getLogger(__name__)

ARCHIVE_RECORD = "archive.json"


class LiveArchive(Record):
    """What became of an ended channel: the package made of it and, if published, the title version."""

    title: str
    package: str | None  # the package folder (None: nothing to archive)
    segments: int  # segments per rendition in the archive
    duration_s: float  # media seconds of the archive
    version: str | None  # the published version (None: not published)
    urls: dict[str, str]  # dash/hls URLs of the published version on the origin
    message: str  # one line: what happened, or why it was not published
    seconds: float  # wall time of archiving, packaging, validating and publishing


def _runs(state: ChannelState, rendition: str, msns: set[int], media: Path) -> list[RunFiles]:
    runs: dict[int, list[Path]] = {}
    inits: dict[int, Path] = {}
    for s in sorted(state.segments(rendition), key=lambda s: s.msn):
        if s.msn in msns:
            runs.setdefault(s.run, []).append(s.source or s.path)  # a cbcs channel's clear original
            inits[s.run] = media / s.init_uri
    return [RunFiles(init=inits[k], segments=tuple(runs[k])) for k in sorted(runs)]


def _common_msns(state: ChannelState) -> set[int]:
    """The segments every rendition has complete and on disk."""
    common: set[int] | None = None
    for r in state.renditions:
        have = {s.msn for s in state.segments(r.name) if s.complete and s.path.is_file()}
        common = have if common is None else common & have
    return common or set()


def archive_channel(
    channel_dir: Path,
    state: ChannelState,
    ladder: LiveLadder,
    *,
    title: str,
    encryption: str = "none",
    origin: str | None = None,
    publish_it: bool = True,
    keystore: KeyStore | str | None = None,
    cenc_key: str | None = None,
) -> LiveArchive:
    """Turn the ended channel in ``channel_dir`` (its ``state``, encoded with ``ladder``) into the VOD
    title ``title``: join, package, validate and (``publish_it``) publish to ``origin`` (``--origin``'s
    meaning; None: the embedded one). ``cenc_key`` (hex): the segments are CENC-encrypted with it (a cenc
    channel's; a cbcs channel's clear originals are used). Saves and returns the ``LiveArchive``. An origin that is not
    running or not reachable leaves the validated package on disk and says so in ``message``; a
    channel without a complete segment archives nothing. Raises ``VodflowError`` when joining,
    packaging or validating fails (the channel's files stay as they were)."""
    started = time.monotonic()
    out = channel_dir / "archive"
    msns = _common_msns(state)
    if not msns:
        result = LiveArchive(
            title=title, package=None, segments=0, duration_s=0.0, version=None, urls={},
            message="no complete segment in every rendition: nothing to archive", seconds=0.0,
        )  # fmt: skip
        result.save(channel_dir / ARCHIVE_RECORD)
        return result
    renditions = out / "renditions"
    video: list[tuple[LiveRung, Path]] = []
    audio: Path | None = None
    for r in state.renditions:
        # Named as VOD renditions are (h264_640x360_800kmax800k, aac_128k): the package's folders follow.
        rung = ladder.rungs[int(r.rep_id)] if r.kind == "video" else None
        name = live_rendition(rung, ladder).name if rung is not None else live_audio(ladder).name
        path = join_runs(_runs(state, r.name, msns, state.folder), renditions / f"{name}.mp4", decryption_key=cenc_key)
        if rung is not None:
            video.append((rung, path))
        else:
            audio = path
    if audio is None or not video:
        raise MediaError(f"{channel_dir}: the channel has no {'audio' if audio is None else 'video'} to archive")
    encoded = archive_result(str(channel_dir), ladder, video, audio, seconds=time.monotonic() - started)
    encoded.save(renditions / ENCODE_RECORD)
    pkg_dir = out / "package"
    package(renditions, pkg_dir, encrypt=encryption, segment_seconds=ladder.segment_s, keystore=keystore,
              title=title, subtitles_from_source=False)  # fmt: skip
    validate(pkg_dir, keys=keystore).raise_for_problems()
    duration = max(f.duration for f in encoded.video)
    version, urls, message = None, {}, f"packaged {len(msns)} segments ({duration:.0f} s) in {pkg_dir}"
    if publish_it:
        try:
            where = Origin.resolve(origin)
            if current(where, title) is not None:  # never a new version of a title someone else published
                raise UsageError(f"the origin already has a title {title!r}; it is left as it is")
            pub = publish(pkg_dir, title, where, keystore=keystore)
            version, urls = pub.version, dict(pub.urls)
            message = f"published {title} version {pub.version} ({len(msns)} segments, {duration:.0f} s)"
        except VodflowError as exc:
            # Nothing lost: the package is whole and validated on disk; publishing it later is one command.
            message += f"; not published: {exc}"
            log.warning("archive of %s not published: %s", title, exc)
    result = LiveArchive(
        title=title, package=str(pkg_dir), segments=len(msns), duration_s=duration, version=version, urls=urls,
        message=message, seconds=time.monotonic() - started,
    )  # fmt: skip
    result.save(channel_dir / ARCHIVE_RECORD)
    log.info("%s", message)
    return result
