"""Encoding a title's renditions: one ffmpeg process per codec decodes the source once and writes every rung.

Every rung of a title shares one constant frame rate (the source's nominal rate) and closed GOPs of
exactly ``round(gop_seconds * fps)`` frames, with scene-cut keyframes disabled in every encoder, so
keyframes fall on the same instants in every rung of every codec and a player can switch at any segment
boundary. Interlaced sources are deinterlaced (bwdif, one frame per frame); variable-rate sources
become constant-rate at their nominal rate. A rung with an odd size is rounded down to even, and a rung
larger than the source is encoded (upscaled) anyway; both come back as warnings, not errors.

Audio renditions (AAC and Opus, stereo, 48 kHz) come from a process of their own: it demuxes the file
again but decodes no video, which costs a file read next to a video decode; in exchange the audio files
do not depend on which video codecs a call asks for, and a video failure never leaves audio half-made.
Every audio stream of the source (one per language, typically) gets every audio rendition, downmixed
to the rendition's channel count; with one stream the file is ``aac_128k.mp4``, with several each name
gains the stream's language (``aac_128k_eng.mp4``, ``aac_128k_fra.mp4``; ``_a2`` style when a language
repeats or is unknown) and ``EncodedFile.language`` says which.

Outputs are written into a hidden staging folder inside ``out_dir`` and moved to their final names only
when every rendition is finished and measured; on any failure the staging folder is removed, so the
output folder never holds a half-made file.

The pieces live next door: the records in ``pipeline.renditions``, the rung parser in
``pipeline.rung_spec``, the ffmpeg arguments (and the rate control table per codec) in
``pipeline.encode_args``, the stderr judging in ``pipeline.encode_run``, the packet measuring in
``pipeline.packets``. ``pipeline.chunks`` reuses the plan, the audio encode and the measuring.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pipeline.encode_args import audio_command, audio_suffixes, video_command
from pipeline.encode_run import run_encode
from pipeline.packets import Measured, measure
from pipeline.probe import MediaInfo, parse_rate, probe, require_honest_colour, require_video
from pipeline.renditions import DEFAULT_AUDIO, AudioRendition, EncodedFile, EncodeResult, Rendition, TitleSpec
from vodflow.errors import DecodeError, ProbeError, UnsupportedMedia, UsageError

__all__ = ["encode", "encode_audio_files", "measured_video", "plan_title"]

log = logging.getLogger(__name__)

# A decoded title shorter than its container claims by more than this is a broken or lying file.
_SHORTFALL_SECONDS = 2.0
_SHORTFALL_FRACTION = 0.05
# An MP4 whose sample tables list more bytes than this times its size was cut short (a healthy file
# lists a little less than its size: the index and headers take the rest).
_TRUNCATED_RATIO = 1.05


def _check_header(src: Path, info: MediaInfo) -> None:
    """Refuse, from the probe alone, a file whose header promises media it does not hold.

    Raises ``ProbeError`` for an MP4/MOV whose sample tables list more bytes than the file has (cut
    short after a front index), or a container duration far beyond what every stream says it holds.
    The decode during the encode catches what a header cannot show (``DecodeError``).
    """
    streams = [s for s in (info.video, *info.audio) if s is not None]
    if any(k in info.container for k in ("mp4", "mov")) and all(s.bit_rate and s.duration for s in streams):
        # MP4 stream bit rates come from the sample tables: bytes listed over duration.
        listed = sum(s.bit_rate * s.duration / 8 for s in streams)  # type: ignore[operator]
        if listed > _TRUNCATED_RATIO * info.size_bytes:
            raise ProbeError(
                src,
                f"truncated MP4: its index lists {listed / 1e3:.0f} kB of samples but the file holds "
                f"{info.size_bytes / 1e3:.0f} kB",
            )
    held = [s.duration for s in streams if s.duration]
    claimed = info.duration
    if claimed and held and claimed - max(held) > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * claimed):
        raise ProbeError(
            src,
            f"the container claims {claimed:.1f} s but its streams hold {max(held):.1f} s "
            "(truncated file or lying header)",
        )


def plan_title(
    src: Path, info: MediaInfo, renditions: Sequence[Rendition]
) -> tuple[TitleSpec, list[Rendition], list[str]]:
    """Check the source and the rungs together; return the title settings, the rungs as they will be
    encoded (even sizes) and the warnings so far.

    Raises ``NoVideoStream``/``UnsupportedMedia`` (no usable video, no frame rate, colour metadata that
    lies: ``BadColourMetadata``), ``ProbeError`` (a
    header that promises more media than the file holds) and ``UsageError`` (no rung, GOP lengths that
    differ, two rungs writing the same file).
    """
    v = require_video(info)
    require_honest_colour(info)
    _check_header(src, info)
    rate = parse_rate(v.frame_rate) or parse_rate(v.avg_frame_rate)
    if rate is None:
        raise UnsupportedMedia(src, "video stream has no frame rate")
    if not renditions:
        raise UsageError("encode needs at least one rendition")
    gops = {r.gop_seconds for r in renditions}
    if len(gops) > 1:
        raise UsageError(f"every rung of a title needs the same gop_seconds (keyframes aligned), got {sorted(gops)}")
    gop_frames = max(1, round(gops.pop() * rate))
    warnings: list[str] = []
    if v.vfr:
        warnings.append(f"{src}: variable frame rate; encoded at a constant {float(rate):g} fps")
    if v.interlaced:
        warnings.append(f"{src}: interlaced ({v.field_order}); deinterlaced with bwdif")
    if v.colour.dynamic_range != "sdr":
        kind = v.colour.dynamic_range.upper()
        warnings.append(f"{src}: {kind} source ({v.colour.transfer}) encoded without tone mapping; colours will be off")
    sar = parse_rate((v.sar or "1:1").replace(":", "/")) or Fraction(1)
    display_aspect = v.width * sar / v.height
    rungs: list[Rendition] = []
    for r in renditions:
        w, h = r.width // 2 * 2, r.height // 2 * 2
        if (w, h) != (r.width, r.height):
            warnings.append(f"{r.name}: odd frame size {r.width}x{r.height} rounded down to {w}x{h}")
            r = r.model_copy(update={"width": w, "height": h})
        if w > v.width or h > v.height:
            warnings.append(f"{r.name}: upscales the {v.width}x{v.height} source")
        if abs(Fraction(w, h) / display_aspect - 1) > 0.02:
            warnings.append(f"{r.name}: aspect {w}:{h} differs from the source's {float(display_aspect):.3f}")
        rungs.append(r)
    names = [r.name for r in rungs]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise UsageError(f"two rungs would write the same file: {', '.join(dupes)}")
    title = TitleSpec(src=src, info=info, fps=rate, gop_frames=gop_frames, deinterlace=v.interlaced)
    return title, rungs, warnings


def _check_duration(title: TitleSpec, measured: Measured, what: str, claimed: float | None) -> None:
    """Video is held to the container's duration (a lying container must fail), audio to its stream's."""
    if claimed is None:
        return
    shortfall = claimed - measured.duration
    if shortfall > max(_SHORTFALL_SECONDS, _SHORTFALL_FRACTION * claimed):
        raise DecodeError(
            title.src,
            f"the container claims {claimed:.1f} s but only {measured.duration:.1f} s of {what} decoded "
            "(truncated or lying file)",
        )


def encode(
    src: str | os.PathLike[str],
    renditions: Sequence[Rendition],
    out_dir: str | os.PathLike[str],
    *,
    audio: Sequence[AudioRendition] = DEFAULT_AUDIO,
    show_progress: bool = True,
    decode_once: bool = True,
) -> EncodeResult:
    """Encode ``renditions`` (and ``audio``) of ``src`` into ``out_dir`` as ``<rendition.name>.mp4``.

    One ffmpeg process per codec decodes the source once and writes all of that codec's rungs
    (``decode_once=False`` runs one process per rung instead: the benchmark's baseline). Audio comes from
    one more process; without an audio stream it is skipped with a warning.

    Returns an ``EncodeResult``. Raises ``UsageError`` (missing path, directory, bad rung set),
    ``ProbeError``/``NoVideoStream``/``UnsupportedMedia`` (input refused before encoding, including a
    header that promises more media than the file holds),
    ``DecodeError`` (decoder errors, or far less media than the container claims),
    ``EncoderOptionError`` (ffmpeg ignored one of our options) and ``ProcessError``. On any error no
    output of this call is left in ``out_dir``.
    """
    started = time.monotonic()
    src_path = Path(src)
    info = probe(src_path)
    title, rungs, warnings = plan_title(src_path, info, renditions)
    if audio and not info.audio:
        warnings.append(f"{src_path}: no audio stream; audio renditions skipped")
        audio = ()
    for w in warnings:
        log.debug("%s", w)  # returned in the result; the caller decides how to show them

    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".encode-"))
    moved: list[Path] = []
    try:
        video = _encode_video(title, rungs, staging, out, decode_once=decode_once, show_progress=show_progress)
        audio_files = encode_audio_files(title, audio, staging, out, show_progress=show_progress)
        for f in [*video, *audio_files]:
            final = out / Path(f.path).name
            os.replace(staging / final.name, final)
            moved.append(final)
    except BaseException:
        for p in moved:
            p.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return EncodeResult(
        source=str(src_path),
        frame_rate=str(title.fps),
        gop_frames=title.gop_frames,
        video=video,
        audio=audio_files,
        warnings=warnings,
        seconds=time.monotonic() - started,
    )


def _encode_video(
    title: TitleSpec, rungs: list[Rendition], staging: Path, out: Path, *, decode_once: bool, show_progress: bool
) -> list[EncodedFile]:
    by_codec: dict[str, list[Rendition]] = {}
    for r in rungs:
        by_codec.setdefault(r.codec, []).append(r)
    groups = [g for rs in by_codec.values() for g in ([rs] if decode_once else [[r] for r in rs])]
    files: dict[str, EncodedFile] = {}
    for group in groups:
        jobs = [(r, staging / f"{r.name}.mp4") for r in group]
        label = f"encode {group[0].codec} x{len(group)}" if len(group) > 1 else f"encode {group[0].name}"
        seconds = run_encode(title, video_command(title, jobs), label, show_progress)
        for r, path in jobs:
            files[r.name] = measured_video(title, r, path, out / path.name, seconds)
    return [files[r.name] for r in rungs]


def measured_video(title: TitleSpec, r: Rendition, path: Path, stored: Path, seconds: float) -> EncodedFile:
    """Measure the video rendition at ``path`` (held to the title's duration) as it will be at ``stored``.

    Returns its ``EncodedFile``. Raises ``DecodeError`` when far less video came out than the container
    claims, ``ProbeError`` when ffprobe cannot read the file.
    """
    m = measure(path, title.gop_frames / title.fps)
    _check_duration(title, m, "video", title.info.duration)
    return EncodedFile(
        kind="video",
        rendition=r,
        path=str(stored),
        width=m.width,
        height=m.height,
        duration=m.duration,
        frames=m.frames,
        bitrate_kbps=m.bitrate_kbps,
        peak_bitrate_kbps=m.peak_bitrate_kbps,
        size_bytes=m.size_bytes,
        encode_seconds=seconds,
    )


def encode_audio_files(
    title: TitleSpec, audio: Sequence[AudioRendition], staging: Path, out: Path, *, show_progress: bool
) -> list[EncodedFile]:
    """Encode every rendition of ``audio`` from every audio stream of ``title`` into ``staging`` in one
    ffmpeg, and return the measured files as they will be once moved to ``out`` (``[]`` for no ``audio``).

    Raises ``UsageError`` for two renditions of one name, ``DecodeError``/``EncoderOptionError``/
    ``ProcessError`` as ``run_encode``, ``DecodeError`` when a stream comes out far shorter than it claims.
    """
    if not audio:
        return []
    names = [a.name for a in audio]
    if len(set(names)) != len(names):
        raise UsageError(f"two audio renditions would write the same file: {', '.join(names)}")
    streams = title.info.audio
    jobs = [
        (a, stream, staging / f"{a.name}{suffix}.mp4")
        for stream, suffix in zip(streams, audio_suffixes(streams), strict=True)
        for a in audio
    ]
    seconds = run_encode(title, audio_command(title, jobs), f"encode audio x{len(jobs)}", show_progress)
    files = []
    for a, stream, path in jobs:
        m = measure(path, title.gop_frames / title.fps)
        _check_duration(title, m, "audio", stream.duration)
        files.append(
            EncodedFile(
                kind="audio",
                rendition=a,
                path=str(out / path.name),
                duration=m.duration,
                channels=m.channels,
                sample_rate=m.sample_rate,
                bitrate_kbps=m.bitrate_kbps,
                peak_bitrate_kbps=m.peak_bitrate_kbps,
                size_bytes=m.size_bytes,
                encode_seconds=seconds,
                language=stream.language,
                source_stream=stream.index,
            )
        )
    return files
