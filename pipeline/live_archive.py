"""Live-to-VOD, the media side: a channel's kept CMAF segments joined into one MP4 per rendition, and the
``EncodeResult`` that lists them, so the VOD packager takes an ended channel as it takes any encode.

A run of the live encoder (``pipeline.live``) writes, per rendition, an init segment and CMAF segments:
init + segments back to back are one fragmented MP4, byte for byte. Runs after an encoder restart start
their media time again; ffmpeg's concat demuxer lays each run after the one before and the whole file
from time 0, without re-encoding (``-c copy``). Video and audio are separate renditions, each shifted to
its own 0: the live muxer cuts both at the same segment boundary, so they stay within one audio frame
(21 ms at 48 kHz) of each other.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.live import LIVE_PRESET
from pipeline.live_ladder import LiveLadder, LiveRung
from pipeline.packets import measure
from pipeline.renditions import AudioRendition, EncodedFile, EncodeResult, RateControl, Rendition
from vodflow import tools
from vodflow.errors import MediaError
from vodflow.process import run

__all__ = ["RunFiles", "archive_result", "join_runs", "live_audio", "live_rendition"]

_JOIN_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class RunFiles:
    """One encoder run of one rendition: its init segment and its complete segments, in order."""

    init: Path
    segments: tuple[Path, ...]


def live_rendition(rung: LiveRung, ladder: LiveLadder) -> Rendition:
    """The VOD record of a live rung: H.264 at the live preset, its bitrate as target and cap."""
    kbps = rung.bitrate_kbps
    rate = RateControl(mode="bitrate", bitrate_kbps=kbps, maxrate_kbps=kbps, bufsize_kbits=2 * kbps)
    return Rendition(
        codec="h264", width=rung.width, height=rung.height, rate=rate, preset=LIVE_PRESET, gop_seconds=ladder.gop
    )


def live_audio(ladder: LiveLadder) -> AudioRendition:
    """The VOD record of the channel's audio (AAC stereo 48 kHz, as ``pipeline.live`` encodes it)."""
    return AudioRendition(codec="aac", bitrate_kbps=ladder.audio_kbps)


def join_runs(runs: Sequence[RunFiles], out: Path, *, decryption_key: str | None = None) -> Path:
    """Join ``runs`` of one rendition into the MP4 ``out`` (from time 0, runs back to back); returns ``out``.
    ``decryption_key`` (hex): the runs are CENC-encrypted with it (a cenc channel's encoder output) and
    ``out`` is made clear, as the VOD packager wants its input.

    Raises ``MediaError`` naming ``out`` when there is nothing to join or a file is missing, and
    ``ProcessError`` when ffmpeg cannot join them."""
    if not any(r.segments for r in runs):
        raise MediaError(f"{out}: no complete segment to archive")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.stem}-"))
    try:
        ffmpeg = [str(tools.find(tools.Tool.FFMPEG)), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        listing = []
        for k, r in enumerate(x for x in runs if x.segments):
            joined = work / f"run{k}.mp4"
            with joined.open("wb") as dst:
                for part in (r.init, *r.segments):
                    try:
                        with part.open("rb") as src:
                            shutil.copyfileobj(src, dst)
                    except FileNotFoundError:
                        raise MediaError(f"{part}: a segment of the archive is gone") from None
            if decryption_key is not None:
                clear = work / f"run{k}-clear.mp4"
                run([*ffmpeg, "-decryption_key", decryption_key, "-i", str(joined), "-map", "0", "-c", "copy",
                     str(clear)], timeout=_JOIN_TIMEOUT_S)  # fmt: skip
                joined = clear
            listing.append(f"file '{joined.name}'\n")
        (work / "runs.txt").write_text("".join(listing))
        staged = work / out.name
        argv = [*ffmpeg, "-f", "concat", "-safe", "0", "-i", str(work / "runs.txt"), "-map", "0", "-c", "copy",
                "-movflags", "+faststart", str(staged)]  # fmt: skip
        run(argv, timeout=_JOIN_TIMEOUT_S)
        staged.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def archive_result(
    source: str,
    ladder: LiveLadder,
    video: Sequence[tuple[LiveRung, Path]],
    audio: Path,
    *,
    seconds: float,
) -> EncodeResult:
    """The ``EncodeResult`` of joined renditions (``video``: each rung and its file; ``audio``: the audio
    file), measured from their packets; ``seconds`` is the wall time the archive took. File paths are
    kept relative to their folder, as ``pipeline.encode`` writes them. Raises ``ProbeError``."""
    window = ladder.gop
    files = []
    for rung, path in video:
        m = measure(path, window)
        files.append(
            EncodedFile(
                kind="video", rendition=live_rendition(rung, ladder), path=path.name, width=m.width,
                height=m.height, duration=m.duration, frames=m.frames, bitrate_kbps=m.bitrate_kbps,
                peak_bitrate_kbps=m.peak_bitrate_kbps, size_bytes=m.size_bytes, encode_seconds=seconds,
            )
        )  # fmt: skip
    m = measure(audio, window)
    sound = EncodedFile(
        kind="audio", rendition=live_audio(ladder), path=audio.name, duration=m.duration, channels=m.channels,
        sample_rate=m.sample_rate, bitrate_kbps=m.bitrate_kbps, peak_bitrate_kbps=m.peak_bitrate_kbps,
        size_bytes=m.size_bytes, encode_seconds=seconds, language="und", source_stream=0,
    )  # fmt: skip
    return EncodeResult(
        source=source, frame_rate=str(ladder.fps), gop_frames=ladder.keyint, video=files, audio=[sound],
        warnings=[], seconds=seconds,
    )  # fmt: skip
