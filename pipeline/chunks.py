"""Chunked encoding: a title cut at GOP-aligned frame boundaries, each chunk encoded on its own, the
chunks of every rendition joined again by stream copy.

This is what lets one title's encode spread over many machines (``flows/distributed.py``); here is
everything that touches media, so it also runs in one process (``encode_chunked``).

- **Plan** (``plan_chunks``): chunk boundaries are multiples of ``chunk_frames``, itself a whole number of
  GOPs (``round(gop_seconds x fps)`` frames, as ``pipeline.encode``), so the boundaries are the same for
  every rung and codec and fall on keyframes the single-process encode would place anyway. The last
  chunk takes the rest (between half a chunk and one and a half chunks).
- **Chunk** (``encode_chunk``): one ffmpeg per codec, decode once, ``split`` + ``scale`` per rung as
  ``pipeline.encode`` does. The input is read from a keyframe at least ``_LEAD_SECONDS`` before the chunk
  (``-noaccurate_seek`` with ``-copyts``, so decoded frames keep their timestamps) up to
  ``_LEAD_SECONDS`` past its end (``-t``), which is all the decoder touches. The ``fps`` filter runs on
  the title's own timeline (``start_time`` = the first video frame), so its output frame *n* is the same
  picture as frame *n* of a whole-title encode, VFR and interlaced sources included; ``trim`` by frame
  number (``start_pts``/``end_pts`` in the ``1/fps`` time base) keeps exactly the chunk's frames, and
  ``setpts`` restarts them at 0. Each chunk therefore starts with a (closed-GOP) keyframe and holds
  whole GOPs; encoder settings are ``pipeline.encode_args.video_args``, so no extra keyframes either.
- **Join** (``join_chunks``): the concat demuxer with ``-c copy`` into a plain MP4 (the packager cuts
  CMAF from it as from any rendition). Chunks must carry identical codec headers (extradata), otherwise
  the copy would describe later chunks wrongly: that is checked, as are the frame count (the sum of the
  chunks) and every keyframe time (exactly the multiples of the GOP, each present).

Audio is not chunked: it is cheap next to video, and AAC/Opus frames do not line up with video GOPs, so
cutting it would need priming/padding handling at every seam. ``encode_audio`` encodes every audio
rendition of the whole title in one process, exactly as ``pipeline.encode`` does.

Quality: each chunk's rate control starts afresh (VBV buffer, x264's lookahead and mb-tree stop at the
chunk's end), so bits are spread slightly differently near the seams; with chunks of 10 s or more the
VMAF of a joined rendition stays within a few tenths of a whole-title encode (tests hold it to 0.5).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pipeline.encode import encode_audio_files, measured_video, plan_title
from pipeline.encode_args import OUTPUT_TAIL, video_args
from pipeline.encode_run import run_encode
from pipeline.ffprobe import ffprobe
from pipeline.packets import video_packets
from pipeline.probe import MediaInfo, probe
from pipeline.renditions import DEFAULT_AUDIO, AudioRendition, EncodedFile, EncodeResult, Rendition, TitleSpec
from vodflow.errors import ProbeError, ProcessError, UsageError
from vodflow.records import Record

__all__ = [
    "DEFAULT_CHUNK_SECONDS",
    "ChunkPlan",
    "encode_audio",
    "encode_chunk",
    "encode_chunked",
    "join_chunks",
    "plan_chunks",
]

DEFAULT_CHUNK_SECONDS = 10.0
# Decoded before a chunk's first frame and after its last: the fps filter picks the picture on screen at
# each instant, and a VFR source's frame on screen at the boundary may have started well before it.
_LEAD_SECONDS = 1.0
_PROBE_TIMEOUT_S = 120.0


class ChunkPlan(Record):
    """Where a title is cut and how its chunks are encoded: everything a worker needs besides the bytes.

    ``starts`` are first frames (output numbering at ``frame_rate``); chunk ``i`` holds frames
    ``starts[i] .. starts[i + 1] - 1``, the last one everything from ``starts[-1]`` on. ``renditions``
    are the rungs as they will be encoded (even sizes).
    """

    source: str  # the local path the plan was made from (names the title in errors)
    info: MediaInfo
    frame_rate: str  # "30000/1001"
    gop_frames: int
    chunk_frames: int
    starts: list[int]
    first_pts: float  # seconds: the first video frame's presentation time (the fps filter's origin)
    deinterlace: bool
    renditions: list[Rendition]
    warnings: list[str]

    @property
    def fps(self) -> Fraction:
        return Fraction(self.frame_rate)

    @property
    def title(self) -> TitleSpec:
        return TitleSpec(
            src=Path(self.source),
            info=self.info,
            fps=self.fps,
            gop_frames=self.gop_frames,
            deinterlace=self.deinterlace,
        )

    def frames(self, index: int) -> int | None:
        """Frames in chunk ``index``; ``None`` for the last one (it takes what the source has)."""
        return self.starts[index + 1] - self.starts[index] if index + 1 < len(self.starts) else None

    def chunk_name(self, rendition: Rendition, index: int) -> str:
        return f"{rendition.name}/{index:05d}.mp4"


def _stream_entry(path: Path, entry: str, *extra: str, stream: str = "v:0") -> str | None:
    """One ``stream=`` entry of ffprobe for ``path``'s ``stream`` (``None`` when absent)."""
    doc = ffprobe(path, "-select_streams", stream, *extra, "-show_entries", f"stream={entry}", timeout=_PROBE_TIMEOUT_S)
    value = ((doc.get("streams") or [{}])[0]).get(entry)
    return None if value in (None, "N/A") else str(value)


def plan_chunks(
    src: str | os.PathLike[str],
    renditions: Sequence[Rendition],
    *,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    info: MediaInfo | None = None,
) -> ChunkPlan:
    """Cut ``src`` into chunks of about ``chunk_seconds`` (rounded to a whole number of GOPs, at least one).

    Checks the source and the rungs exactly as ``pipeline.encode.encode`` does (same errors). A title
    shorter than one and a half chunks is one chunk. Raises ``UsageError`` for a chunk length that is not
    positive.
    """
    if not chunk_seconds > 0:
        raise UsageError(f"chunk length must be positive, not {chunk_seconds:g} s")
    path = Path(src)
    info = info or probe(path)
    title, rungs, warnings = plan_title(path, info, renditions)
    assert info.video is not None  # plan_title refused a file without video
    gops = max(1, round(chunk_seconds * title.fps / title.gop_frames))
    chunk_frames = gops * title.gop_frames
    seconds = info.video.duration or info.duration or 0.0
    total = max(1, int(seconds * title.fps + Fraction(1, 2)))
    count = max(1, int((total + chunk_frames // 2) // chunk_frames))  # last chunk: 0.5 .. 1.5 chunks
    return ChunkPlan(
        source=str(path),
        info=info,
        frame_rate=str(title.fps),
        gop_frames=title.gop_frames,
        chunk_frames=chunk_frames,
        starts=[i * chunk_frames for i in range(count)],
        first_pts=float(_stream_entry(path, "start_time", stream=str(info.video.index)) or 0.0),
        deinterlace=title.deinterlace,
        renditions=rungs,
        warnings=warnings,
    )


def _chunk_command(plan: ChunkPlan, index: int, input_url: str, jobs: Sequence[tuple[Rendition, Path]]) -> list[str]:
    fps = plan.fps
    first = plan.starts[index]
    frames = plan.frames(index)
    # -ss and -t count from the file's start; with -copyts the frames keep their own timestamps.
    seek = max(0.0, float(first / fps) - _LEAD_SECONDS)
    args = ["-xerror", "-copyts", "-noaccurate_seek"]
    if seek > 0:
        # Input seeking lands on the keyframe at or before `seek`; everything from there is decoded.
        args += ["-ss", f"{seek:.6f}"]
    args += ["-i", input_url]
    chain = []
    if plan.deinterlace:
        chain.append("bwdif=mode=send_frame:parity=auto:deint=all")
    # The whole title's frame grid (origin at its first frame), then this chunk's frames of it.
    chain.append(f"fps={fps}:start_time={plan.first_pts:.6f}")
    base = round(plan.first_pts * fps)  # the grid's first frame number in the fps filter's 1/fps time base
    trim = f"trim=start_pts={base + first}" + (f":end_pts={base + first + frames}" if frames is not None else "")
    chain += [trim, "setpts=PTS-STARTPTS"]
    chain.append(f"split={len(jobs)}" + "".join(f"[s{i}]" for i in range(len(jobs))))
    graph = [f"[0:{plan.info.video.index}]" + ",".join(chain)]  # type: ignore[union-attr]
    for i, (r, _) in enumerate(jobs):
        graph.append(f"[s{i}]scale={r.width}:{r.height}:flags=lanczos,setsar=1,format={r.pix_fmt}[v{i}]")
    args += ["-filter_complex", ";".join(graph)]
    for i, (r, path) in enumerate(jobs):
        args += ["-map", f"[v{i}]", *video_args(r, gop_frames=plan.gop_frames), "-an", "-sn", "-dn"]
        args += [*OUTPUT_TAIL, str(path)]
    return args


def encode_chunk(
    plan: ChunkPlan,
    index: int,
    out_dir: str | os.PathLike[str],
    *,
    input_url: str | None = None,
    show_progress: bool = False,
) -> dict[str, Path]:
    """Encode chunk ``index`` of every rendition of ``plan`` into ``out_dir/<rendition>/<index>.mp4``.

    ``input_url`` is what ffmpeg reads (a local path or an HTTP(S) URL, e.g. a presigned S3 GET: ffmpeg
    then fetches only the byte ranges it needs); default ``plan.source``. Errors name ``plan.source``,
    never the URL. Returns rendition name -> chunk file. Raises ``UsageError`` for an index outside the
    plan, ``DecodeError``/``EncoderOptionError``/``ProcessError`` as ``pipeline.encode.encode``, and
    ``ProcessError`` when a chunk does not hold exactly its frames or does not start with a keyframe.
    """
    if not 0 <= index < len(plan.starts):
        raise UsageError(f"chunk {index} is outside the plan's {len(plan.starts)} chunks")
    out = Path(out_dir)
    url = input_url or plan.source
    by_codec: dict[str, list[Rendition]] = {}
    for r in plan.renditions:
        by_codec.setdefault(r.codec, []).append(r)
    made: dict[str, Path] = {}
    expected = plan.frames(index)
    for codec, group in by_codec.items():
        jobs = [(r, out / plan.chunk_name(r, index)) for r in group]
        for _, path in jobs:
            path.parent.mkdir(parents=True, exist_ok=True)
        label = f"chunk {index} {codec} x{len(group)}"
        run_encode(plan.title, _chunk_command(plan, index, url, jobs), label, show_progress)
        for r, path in jobs:
            packets = video_packets(path)
            if not packets or not packets[0].key or (expected is not None and len(packets) != expected):
                got = f"{len(packets)} frames" + ("" if not packets or packets[0].key else ", first not a keyframe")
                raise ProcessError(
                    f"{plan.source}: chunk {index} of {r.name} came out wrong ({got}; expected "
                    f"{expected if expected is not None else 'the rest of the title'} from a keyframe)",
                    argv=[],
                    returncode=0,
                    stderr_tail=[],
                )
            made[r.name] = path
    return made


def join_chunks(
    plan: ChunkPlan,
    rendition: Rendition,
    chunks: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    encode_seconds: float = 0.0,
) -> EncodedFile:
    """Join ``chunks`` (in order) of ``rendition`` into ``out_path`` by stream copy and measure it.

    Returns the ``EncodedFile`` (``encode_seconds`` is the caller's to fill: summed chunk time or wall
    time). Raises ``UsageError`` for a chunk list that does not match the plan, ``ProbeError`` when the
    chunks' codec headers differ, ``ProcessError`` when the joined file lacks frames or a keyframe is off
    the GOP grid, ``DecodeError`` when far less video came out than the source claims.
    """
    paths = [Path(c) for c in chunks]
    if len(paths) != len(plan.starts):
        raise UsageError(f"{rendition.name}: {len(paths)} chunks given, the plan has {len(plan.starts)}")
    headers = {_stream_entry(p, "extradata_hash", "-show_data_hash", "sha256") for p in paths}
    if len(headers) > 1:
        raise ProbeError(
            plan.source, f"{rendition.name}: chunks carry different codec headers; a stream copy cannot join them"
        )
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".join-", dir=out.parent) as tmp:
        listing = Path(tmp) / "chunks.txt"
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p.resolve()}'\n" for p in paths))
        staged = Path(tmp) / out.name
        args = ["-xerror", "-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:v:0", "-c", "copy"]
        run_encode(plan.title, [*args, *OUTPUT_TAIL, str(staged)], f"join {rendition.name}", False)
        _check_join(plan, rendition, staged, sum(len(video_packets(p)) for p in paths))
        os.replace(staged, out)
    return measured_video(plan.title, rendition, out, out, encode_seconds)


def _check_join(plan: ChunkPlan, rendition: Rendition, path: Path, frames: int) -> None:
    packets = video_packets(path)
    problem = ""
    if len(packets) != frames:
        problem = f"{len(packets)} frames, the chunks hold {frames}"
    else:
        first = packets[0].pts
        step = 1 / plan.fps
        # Frame number of every packet from its time: the joined timeline must be 0, 1, 2, ... exactly.
        numbers = [round((p.pts - first) / float(step)) for p in packets]
        keys = [n for n, p in zip(numbers, packets, strict=True) if p.key]
        if numbers != list(range(len(packets))):
            problem = "timestamps are not one frame apart (duplicated or missing frames at a seam)"
        elif keys != list(range(0, len(packets), plan.gop_frames)):
            problem = f"keyframes at frames {keys[:8]}..., not every {plan.gop_frames}"
    if problem:
        raise ProcessError(
            f"{plan.source}: joining {rendition.name} went wrong: {problem}", argv=[], returncode=0, stderr_tail=[]
        )


def encode_audio(
    plan: ChunkPlan,
    audio: Sequence[AudioRendition],
    out_dir: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
) -> list[EncodedFile]:
    """Every audio rendition of the whole title (not chunked) into ``out_dir``, named as
    ``pipeline.encode`` names them. ``source`` is a local copy of the title (a worker's download; the
    audio encode demuxes the whole file anyway), default ``plan.source``. ``[]`` when ``audio`` is empty
    or the source has no audio."""
    if not audio or not plan.info.audio:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    title = plan.title
    if source is not None:
        title = dataclasses.replace(title, src=Path(source))
    return encode_audio_files(title, audio, out, out, show_progress=show_progress)


def encode_chunked(
    src: str | os.PathLike[str],
    renditions: Sequence[Rendition],
    out_dir: str | os.PathLike[str],
    *,
    audio: Sequence[AudioRendition] = DEFAULT_AUDIO,
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
    show_progress: bool = False,
) -> EncodeResult:
    """``pipeline.encode.encode``, chunk by chunk in this process: the same files and ``EncodeResult``.

    The reference for the distributed encode (same plan, same chunk and join code) and a way to test the
    chunking without a cluster. Chunks go to a temporary folder inside ``out_dir``, removed at the end.
    """
    started = time.monotonic()
    plan = plan_chunks(src, renditions, chunk_seconds=chunk_seconds)
    warnings = list(plan.warnings)
    if audio and not plan.info.audio:
        warnings.append(f"{src}: no audio stream; audio renditions skipped")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out, prefix=".chunks-"))
    try:
        spent = 0.0
        for i in range(len(plan.starts)):
            t = time.monotonic()
            encode_chunk(plan, i, work, show_progress=show_progress)
            spent += time.monotonic() - t
        video = [
            join_chunks(
                plan,
                r,
                [work / plan.chunk_name(r, i) for i in range(len(plan.starts))],
                out / f"{r.name}.mp4",
                encode_seconds=spent,
            )
            for r in plan.renditions
        ]
        audio_files = encode_audio(plan, audio, out, show_progress=show_progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return EncodeResult(
        source=str(src),
        frame_rate=plan.frame_rate,
        gop_frames=plan.gop_frames,
        video=video,
        audio=audio_files,
        warnings=warnings,
        seconds=time.monotonic() - started,
    )
