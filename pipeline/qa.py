"""Source QA: decide, before any encode, whether a file is a title we can deliver.

``qa(path)`` probes the file, refuses what cannot be a title (no video, a frame size outside the
limits) without decoding it, and otherwise decodes it once, in one ffmpeg process whose filter graph
runs every measurement side by side::

    video ─ idet ─ blackdetect ─ freezedetect ─ vfrdet ─▶ null
    audio ─ silencedetect ─ ebur128 (true peak) ──────────▶ null

The filters and ffmpeg's own end-of-run statistics (frames and samples decoded, decode errors) report
on stderr; this module parses those lines into a ``QAReport`` of ``Check``s, each with a severity, a
measured value and a one-line reason. Every threshold lives in ``QAPolicy``.

The records are in ``pipeline.qa_records``, the stderr parsing in ``pipeline.qa_log`` and the checks in
``pipeline.qa_checks``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import AudioStream, MediaInfo, VideoStream, probe, require_honest_colour, require_video
from pipeline.qa_checks import all_checks, check
from pipeline.qa_log import LogParser, QAMeasures
from pipeline.qa_records import Check, QAPolicy, QAReport
from vodflow.errors import BadColourMetadata, EncoderOptionError, NoVideoStream, ProcessError, UnsupportedMedia

__all__ = ["qa"]


def qa(path: str | os.PathLike[str], policy: QAPolicy | None = None, *, show_progress: bool = True) -> QAReport:
    """Check the source at ``path`` against ``policy`` and return a ``QAReport``.

    A file without video, with a frame size outside the limits or with colour metadata that lies is refused
    without decoding (a failing ``video``, ``resolution`` or ``colour`` check); anything else is decoded
    once. Raises ``UsageError`` and
    ``ProbeError`` (from ``probe``) for a path that is not a readable media file, ``ToolError`` when
    ffmpeg is unusable and ``EncoderOptionError`` if ffmpeg refused our arguments.
    """
    started = time.monotonic()
    policy = policy or QAPolicy()
    media = probe(path)

    def report(checks: list[Check], decoded: float | None) -> QAReport:
        return QAReport(
            path=media.path,
            media=media,
            checks=checks,
            decoded_seconds=decoded,
            seconds=round(time.monotonic() - started, 3),
        )

    try:
        video = require_video(media)
    except NoVideoStream as exc:
        return report([check("video", "fail", None, f"{exc.problem}: a title needs a picture")], None)
    except UnsupportedMedia as exc:
        return report([check("resolution", "fail", None, exc.problem)], None)
    try:
        require_honest_colour(media)
    except BadColourMetadata as exc:
        return report([check("colour", "fail", video.colour.dynamic_range, exc.problem)], None)

    audio = _main_audio(media.audio)
    m = _measure(media, video, audio, policy, show_progress=show_progress)
    return report(all_checks(media, video, audio, m, policy), m.decoded_seconds)


# --- the decode pass ------------------------------------------------------------------------------


def _main_audio(streams: list[AudioStream]) -> AudioStream | None:
    # The default track is the one viewers hear first; the others are alternates of the same mix.
    return next((a for a in streams if a.default), streams[0] if streams else None)


def _graph(video: VideoStream, audio: AudioStream | None, p: QAPolicy) -> str:
    d = p.min_stretch
    chains = [
        # idet first: it needs the fields exactly as decoded.
        f"[0:{video.index}]idet=intl_thres={p.idet_threshold},"
        f"blackdetect=d={d}:pix_th={p.black_pixel_threshold}:pic_th={p.black_picture_ratio},"
        f"freezedetect=n={p.freeze_noise_db}dB:d={d},vfrdet[v]"
    ]
    if audio is not None:
        # framelog=quiet: ebur128 would otherwise log every 100 ms at our verbose level.
        chains.append(f"[0:{audio.index}]silencedetect=n={p.silence_db}dB:d={d},ebur128=peak=true:framelog=quiet[a]")
    return ";".join(chains)


def _measure(
    media: MediaInfo, video: VideoStream, audio: AudioStream | None, policy: QAPolicy, *, show_progress: bool
) -> QAMeasures:
    parser = LogParser(video.index, audio.index if audio else None)
    args = [
        "-max_error_rate",
        "1",  # never stop at many errors: the report should say how many there are
        "-i",
        os.path.abspath(media.path),  # absolute: a name starting with "-" is not an option
        "-filter_complex",
        _graph(video, audio, policy),
        "-map",
        "[v]",
        *(["-map", "[a]"] if audio else []),
        "-f",
        "null",
        "-",
    ]
    try:
        # level+verbose: the per-stream "N frames decoded; M decode errors (S samples)" lines at the end
        # are verbose; everything else the filters say is info.
        run_ffmpeg(
            args,
            duration=media.duration,
            label=f"qa {Path(media.path).name}",
            on_stderr=parser.feed,
            show_progress=show_progress,
            loglevel="level+verbose",
        )
    except EncoderOptionError:
        raise  # our arguments are wrong: a bug, not a property of the source
    except ProcessError as exc:
        parser.m.stopped = str(exc)
    m = parser.m
    rate = _average_fps(video)
    if m.video_frames is not None and rate:
        m.video_seconds = m.video_frames / rate
    if m.audio_samples is not None and audio and audio.sample_rate:
        m.audio_seconds = m.audio_samples / audio.sample_rate
    return m


def _average_fps(video: VideoStream) -> float | None:
    # The average rate (frames over duration) is right for variable-rate streams too.
    if video.avg_frame_rate:
        num, _, den = video.avg_frame_rate.partition("/")
        return float(num) / float(den or 1)
    return video.fps
