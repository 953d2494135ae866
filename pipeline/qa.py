"""Source QA: decide, before any encode, whether a file is a title we can deliver.

``qa(path)`` probes the file, refuses what cannot be a title (no video, a frame size outside the
limits) without decoding it, and otherwise decodes it once, in one ffmpeg process whose filter graph
runs every measurement side by side::

    video ─ idet ─ blackdetect ─ freezedetect ─ vfrdet ─▶ null
    audio ─ silencedetect ─ ebur128 (true peak) ──────────▶ null

The filters and ffmpeg's own end-of-run statistics (frames and samples decoded, decode errors) report
on stderr; this module parses those lines into a ``QAReport`` of ``Check``s, each with a severity, a
measured value and a one-line reason. Every threshold lives in ``QAPolicy``.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, computed_field, model_validator

from pipeline.ffmpeg import run_ffmpeg
from pipeline.probe import AudioStream, MediaInfo, VideoStream, probe, require_video
from vodflow.errors import EncoderOptionError, NoVideoStream, ProcessError, QAFailed, UnsupportedMedia
from vodflow.records import Record

__all__ = ["Check", "QAPolicy", "QAReport", "Severity", "qa"]

Severity = Literal["info", "warn", "fail"]


class QAPolicy(Record):
    """Every QA threshold, with defaults meant for real VOD sources (feature films, episodes, trailers).

    The values that go into the filter graph are range-checked here, so a bad policy is a
    ``ValidationError`` when it is made, never an ffmpeg failure blamed on the source.
    """

    # A decoder error means a damaged frame, and it would be encoded into every rendition.
    max_decode_errors: int = 0

    # Shorter than a second is not a title (a still, a test file); warn, the caller may mean it.
    min_duration: float = 1.0
    # Longer than any feature or event recording: a broken timestamp, or a capture left running.
    max_duration: float = 12 * 3600.0
    # The container's duration may differ from what decodes by priming, padding and rounding, never by
    # more than half a second or 5 % of the title; beyond that the file is cut short or its header lies.
    duration_tolerance: float = 0.5
    duration_tolerance_ratio: float = 0.05

    # Outside 1..120 fps no delivery profile applies (and such a "rate" is usually a timebase).
    fps_limits: tuple[float, float] = (1.0, 120.0)
    # Film is 23.976, broadcast and web up to 60; anything else works but is worth a look.
    fps_range: tuple[float, float] = (23.0, 60.0)
    # Share of frames whose interval differs from the previous one (vfrdet). A constant-rate source with
    # the odd dropped frame stays far below 5 %; phone and screen recordings change their interval
    # on most frames.
    vfr_share: float = 0.05

    # Stretches shorter than this are not reported by the filters at all: scene cuts through black, a
    # held frame, a pause in dialogue.
    min_stretch: float = Field(1.0, gt=0)
    # blackdetect's own defaults: a pixel is black below 10 % luma, a picture when 98 % of it is.
    black_pixel_threshold: float = Field(0.10, ge=0, le=1)
    black_picture_ratio: float = Field(0.98, ge=0, le=1)
    # Fades through black last about a second; two seconds of black inside a title is worth a look.
    black_warn_seconds: float = 2.0
    # Title cards and still shots hold for a few seconds; five seconds without any change is more
    # often a stalled source. -60 dB is freezedetect's default: only a truly unchanged picture.
    freeze_noise_db: float = Field(-60.0, lt=0)
    frozen_warn_seconds: float = 5.0
    # -60 dBFS is far below any room tone: what stays under it is digital silence, a dropout.
    silence_db: float = Field(-60.0, lt=0)
    silence_warn_seconds: float = 5.0
    # A title that is (almost) all black, frozen or silent is a wrong file or a dead track.
    fail_share: float = Field(0.9, gt=0, le=1)

    # idet's default threshold (1.04) calls sharp synthetic motion (testsrc2) interlaced on most frames;
    # at 1.5, its own progressive threshold, that noise is gone and woven fields are still caught.
    idet_threshold: float = Field(1.5, ge=0)
    # Static scenes look progressive even in interlaced video, so a quarter of the frames the detector
    # can decide is already a strong sign.
    interlaced_share: float = 0.25

    # Delivery targets run from -31 (quiet cinema mixes) to -14 LUFS (the loudest streaming targets);
    # outside -36..-10 the mix is inaudible next to other titles, or brickwalled.
    loudness_range: tuple[float, float] = (-36.0, -10.0)
    # EBU R128 and the streaming services ask for -1 dBTP: lossy codecs overshoot above that and clip.
    max_true_peak: float = -1.0

    # AAC priming and padding explain about 0.1 s; beyond 0.2 s one track was cut or padded.
    av_gap_warn: float = 0.2
    # Whole seconds of picture without sound (or the reverse) is a broken mux, not padding.
    av_gap_fail: float = 5.0


class Check(Record):
    """One QA finding: what was checked, how bad it is, what was measured and why it matters."""

    name: str
    severity: Severity
    value: float | str | None
    unit: str = ""
    reason: str
    at: float | None = None  # seconds into the title where the finding starts (stretches only)


class QAReport(Record):
    """The result of ``qa``: the probed media, every check, and how long the QA took."""

    path: str
    media: MediaInfo
    checks: list[Check]
    decoded_seconds: float | None  # None when the file was refused without decoding
    seconds: float

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        # ``passed`` is written to JSON for readers of the file, but it is derived, not stored.
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "passed"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """False if any check failed."""
        return not self.failures()

    def failures(self) -> list[Check]:
        """The checks with severity ``fail``."""
        return [c for c in self.checks if c.severity == "fail"]

    def warnings(self) -> list[Check]:
        """The checks with severity ``warn``."""
        return [c for c in self.checks if c.severity == "warn"]

    def check(self, name: str) -> Check | None:
        """The check called ``name``, or None if it was not run."""
        return next((c for c in self.checks if c.name == name), None)

    def raise_for_failure(self) -> None:
        """Return if the report passed; raise ``QAFailed`` naming every failed check in one line otherwise."""
        failed = self.failures()
        if failed:
            problem = "QA failed: " + "; ".join(f"{c.name}: {c.reason}" for c in failed)
            raise QAFailed(self.path, problem, report=self)


def qa(path: str | os.PathLike[str], policy: QAPolicy | None = None, *, show_progress: bool = True) -> QAReport:
    """Check the source at ``path`` against ``policy`` and return a ``QAReport``.

    A file without video or with a frame size outside the limits is refused without decoding (a failing
    ``video`` or ``resolution`` check); anything else is decoded once. Raises ``UsageError`` and
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
        return report([_check("video", "fail", None, f"{exc.problem}: a title needs a picture")], None)
    except UnsupportedMedia as exc:
        return report([_check("resolution", "fail", None, exc.problem)], None)

    audio = _main_audio(media.audio)
    m = _measure(media, video, audio, policy, show_progress=show_progress)
    return report(_checks(media, video, audio, m, policy), m.decoded_seconds)


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


@dataclass
class _Measured:
    """What the decode pass reported, before any threshold is applied."""

    video_frames: int | None = None
    audio_samples: int | None = None
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # ffmpeg's own failure, when it exited non-zero
    black: list[tuple[float, float | None]] = field(default_factory=list)  # (start, end); end None: ran to EOF
    frozen: list[tuple[float, float | None]] = field(default_factory=list)
    silence: list[tuple[float, float | None]] = field(default_factory=list)
    idet: tuple[int, int, int] | None = None  # frames called TFF, BFF, progressive (multi-frame detection)
    vfr: tuple[float, int, int] | None = None  # share of changed intervals, shortest and longest interval
    loudness: float | None = None
    true_peak: float | None = None
    video_seconds: float | None = None
    audio_seconds: float | None = None

    @property
    def decoded_seconds(self) -> float | None:
        known = [s for s in (self.video_seconds, self.audio_seconds) if s is not None]
        return round(max(known), 6) if known else None


_LEVELS = {"quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug", "trace"}
_TAG = re.compile(r"\[([^\]]*)\] ?")
# Log contexts of the output side (filters, encoders, muxer): their errors are not about the source.
_OUTPUT_SIDE = re.compile(r"^(Parsed_|auto_|format_out|graph |fc#|[av]ost#|out#|enc:|null$|wrapped_avframe|pcm_|AVIO)")
_NUM = r"(-?(?:\d+(?:\.\d*)?|inf|nan))"
_STATS = re.compile(
    r"Input stream #\d+:(\d+) \(\w+\): .*?(\d+) frames decoded; \d+ decode errors(?: \((\d+) samples\))?"
)


def _split(line: str) -> tuple[str | None, list[str], str]:
    """Split a ``-loglevel level+...`` line into (level, contexts, message); level None: a continuation."""
    contexts: list[str] = []
    pos = 0
    while m := _TAG.match(line, pos):
        pos = m.end()
        if m.group(1) in _LEVELS:
            return m.group(1), contexts, line[pos:]
        contexts.append(m.group(1).split(" @ ")[0])
    return None, [], line


def _num(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


class _Parser:
    """Fed ffmpeg's stderr line by line; fills a ``_Measured``."""

    def __init__(self, video_index: int, audio_index: int | None) -> None:
        self.m = _Measured()
        self._video = video_index
        self._audio = audio_index
        self._in_summary = False  # inside ebur128's multi-line summary
        self._frozen_start: float | None = None

    def feed(self, line: str) -> None:
        level, contexts, msg = _split(line)
        if level is None:
            if self._in_summary:
                self._summary(msg)
            return
        ctx = contexts[0] if contexts else ""
        # ebur128 prints its summary in two calls (loudness, then peaks), each a tagged line followed by
        # untagged ones; any other thread's line may come between the two.
        self._in_summary = ctx.startswith("Parsed_ebur128")
        if level in ("error", "fatal", "panic") and not _OUTPUT_SIDE.match(ctx):
            # Each message once per line, source context first: "h264: Invalid NAL unit size".
            where = next((c for c in reversed(contexts) if "#" not in c), "")
            self.m.errors.append(f"{where.removeprefix('dec:')}: {msg.strip()}" if where else msg.strip())
        elif ctx.startswith("Parsed_"):
            self._filter(ctx, msg)
        elif ctx.startswith("in#") and (s := _STATS.search(msg)):
            self._stats(s)

    def _filter(self, ctx: str, msg: str) -> None:
        m = self.m
        if ctx.startswith("Parsed_blackdetect") and (b := re.search(rf"black_start:{_NUM} black_end:{_NUM}", msg)):
            m.black.append((float(b.group(1)), _num(b.group(2))))
        elif ctx.startswith("Parsed_freezedetect") and (f := re.search(rf"freeze_(start|end): {_NUM}", msg)):
            if f.group(1) == "start":
                self._frozen_start = float(f.group(2))
                m.frozen.append((self._frozen_start, None))  # closed by its end, if one comes
            elif self._frozen_start is not None:
                m.frozen[-1] = (self._frozen_start, float(f.group(2)))
                self._frozen_start = None
        elif ctx.startswith("Parsed_silencedetect") and (s := re.search(rf"silence_(start|end): {_NUM}", msg)):
            if s.group(1) == "start":
                m.silence.append((float(s.group(2)), None))
            elif m.silence and m.silence[-1][1] is None:
                m.silence[-1] = (m.silence[-1][0], float(s.group(2)))
        elif ctx.startswith("Parsed_idet") and (
            i := re.search(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", msg)
        ):
            m.idet = (int(i.group(1)), int(i.group(2)), int(i.group(3)))  # the last report is the whole run
        elif ctx.startswith("Parsed_vfrdet") and (
            v := re.search(rf"VFR:{_NUM}(?: \(\d+/\d+\) min: (\d+) max: (\d+))?", msg)
        ):
            share = _num(v.group(1))
            m.vfr = None if share is None else (share, int(v.group(2) or 0), int(v.group(3) or 0))

    def _summary(self, msg: str) -> None:
        if i := re.match(rf"\s*I:\s*{_NUM} LUFS", msg):
            self.m.loudness = _num(i.group(1))
        elif p := re.match(rf"\s*Peak:\s*{_NUM} dBFS", msg):
            self.m.true_peak = _num(p.group(1))

    def _stats(self, s: re.Match[str]) -> None:
        index = int(s.group(1))
        if index == self._video:
            self.m.video_frames = int(s.group(2))
        elif index == self._audio and s.group(3) is not None:
            self.m.audio_samples = int(s.group(3))


def _measure(
    media: MediaInfo, video: VideoStream, audio: AudioStream | None, policy: QAPolicy, *, show_progress: bool
) -> _Measured:
    parser = _Parser(video.index, audio.index if audio else None)
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


# --- the checks -----------------------------------------------------------------------------------


def _check(
    name: str, severity: Severity, value: float | str | None, reason: str, unit: str = "", at: float | None = None
) -> Check:
    if isinstance(value, float):
        value = round(value, 3)  # milliseconds, hundredths of a dB: float noise is not a measurement
    at = None if at is None else round(at, 3)
    return Check(name=name, severity=severity, value=value, unit=unit, reason=" ".join(reason.split()), at=at)


def _checks(media: MediaInfo, video: VideoStream, audio: AudioStream | None, m: _Measured, p: QAPolicy) -> list[Check]:
    checks = [_decode(m, p), _resolution(video), _frame_rate(video, p), _vfr(video, m, p), _interlacing(video, m, p)]
    if m.stopped is None and m.decoded_seconds is not None:
        checks += [_duration(m.decoded_seconds, p), _container_duration(media.duration, m.decoded_seconds, p)]
    if m.video_seconds:
        black = _closed(m.black, m.video_seconds)
        frozen = _minus(_closed(m.frozen, m.video_seconds), black)  # black is frozen too: say it once
        checks += [
            _stretch("black", ("black", "of black"), black, m.video_seconds, p.black_warn_seconds, p),
            _stretch("frozen", ("frozen", "frozen"), frozen, m.video_seconds, p.frozen_warn_seconds, p),
        ]
    checks.append(_audio(media, audio))
    if audio is not None:
        checks += _audio_checks(m, p)
    return checks


def _decode(m: _Measured, p: QAPolicy) -> Check:
    n = len(m.errors)
    if m.stopped:
        # Our own error lines say more than ffmpeg's last (verbose) line, which ends up in ``stopped``.
        why = m.errors[-1] if m.errors else m.stopped
        return _check("decode", "fail", n, f"ffmpeg stopped decoding: {why}", "errors")
    if n > p.max_decode_errors:
        return _check("decode", "fail", n, f"{n} decode error(s), first: {m.errors[0]}", "errors")
    if not m.video_frames:
        return _check("decode", "fail", n, "no video frame could be decoded", "errors")
    errors = f"{n} decode error(s)" if n else "no errors"
    return _check("decode", "info", n, f"{m.video_frames} video frames decoded, {errors}", "errors")


def _duration(seconds: float, p: QAPolicy) -> Check:
    if seconds > p.max_duration:
        return _check("duration", "fail", seconds, f"{seconds:.0f} s is longer than {p.max_duration:.0f} s", "s")
    if seconds < p.min_duration:
        return _check("duration", "warn", seconds, f"only {seconds:.2f} s long (under {p.min_duration:g} s)", "s")
    return _check("duration", "info", seconds, f"{seconds:.2f} s decoded", "s")


def _container_duration(claimed: float | None, decoded: float, p: QAPolicy) -> Check:
    if claimed is None:
        return _check("container_duration", "warn", None, "the container does not state a duration", "s")
    gap = claimed - decoded
    tolerance = max(p.duration_tolerance, p.duration_tolerance_ratio * claimed)
    said = f"the container says {claimed:.2f} s, {decoded:.2f} s decode"
    if gap > tolerance:
        return _check("container_duration", "fail", gap, f"{said}: truncated file or a lying header", "s")
    if -gap > tolerance:
        return _check("container_duration", "fail", gap, f"{said}: the header is wrong", "s")
    return _check("container_duration", "info", gap, said, "s")


def _resolution(v: VideoStream) -> Check:
    size = f"{v.width}x{v.height}"
    if v.width % 2 or v.height % 2:
        return _check("resolution", "warn", size, f"odd frame size {size}: 4:2:0 encoding needs even sides")
    return _check("resolution", "info", size, f"{size}, sample aspect ratio {v.sar}")


def _frame_rate(v: VideoStream, p: QAPolicy) -> Check:
    fps = v.fps
    if fps is None:
        return _check("frame_rate", "warn", None, "the stream states no frame rate", "fps")
    (lo, hi), (low, high) = p.fps_limits, p.fps_range
    if not lo <= fps <= hi:
        return _check("frame_rate", "fail", fps, f"{fps:g} fps is outside {lo:g}..{hi:g} fps", "fps")
    if not low <= fps <= high:
        return _check("frame_rate", "warn", fps, f"unusual frame rate {fps:g} fps (outside {low:g}..{high:g})", "fps")
    return _check("frame_rate", "info", fps, f"{fps:g} fps", "fps")


def _vfr(v: VideoStream, m: _Measured, p: QAPolicy) -> Check:
    share, shortest, longest = m.vfr or (None, 0, 0)
    # Millisecond timestamps (Matroska) alternate 33 and 34 ms at 29.97 fps: a rounding step, not VFR.
    changes = share is not None and share >= p.vfr_share
    rounding = longest - shortest <= max(1, 0.05 * shortest)
    if v.vfr or (changes and not rounding):
        why = f"{share:.0%} of frame intervals change" if changes else "average and nominal rates differ"
        fps = f"{v.fps:g}" if v.fps else "its nominal"
        return _check("vfr", "warn", share, f"variable frame rate ({why}): will be encoded at a constant {fps} fps")
    if changes:
        return _check("vfr", "info", share, "constant frame rate (intervals differ by one timestamp tick: rounding)")
    return _check("vfr", "info", share, "constant frame rate")


def _interlacing(v: VideoStream, m: _Measured, p: QAPolicy) -> Check:
    tff, bff, prog = m.idet or (0, 0, 0)
    share = (tff + bff) / (tff + bff + prog) if tff + bff + prog else None
    measured = share is not None and share >= p.interlaced_share
    seen = (
        f"idet: {share:.0%} of {tff + bff + prog} decided frames interlaced"
        if share is not None
        else "idet: no verdict"
    )
    if v.interlaced or measured:
        order = v.field_order if v.interlaced else ("tt" if tff >= bff else "bb")
        flags = f"stream flags {v.field_order}"
        return _check("interlacing", "warn", order, f"interlaced ({order}): will be deinterlaced ({flags}; {seen})")
    return _check("interlacing", "info", "progressive", f"progressive ({seen})")


Interval = tuple[float, float]


def _closed(spans: list[tuple[float, float | None]], end: float) -> list[Interval]:
    # A stretch still running at the end of the stream ends with it.
    return [(s, e if e is not None else max(s, end)) for s, e in spans]


def _minus(spans: list[Interval], cut: list[Interval]) -> list[Interval]:
    """``spans`` with the time covered by ``cut`` removed."""
    out = spans
    for c0, c1 in cut:
        out = [piece for s, e in out for piece in ((s, min(e, c0)), (max(s, c1), e)) if piece[1] - piece[0] > 1e-6]
    return out


def _stretch(name: str, words: tuple[str, str], spans: list[Interval], total: float, warn: float, p: QAPolicy) -> Check:
    """Fail when (almost) all of ``total`` is covered, warn on the longest stretch from ``warn`` seconds."""
    adjective, what = words
    covered = sum(e - s for s, e in spans)
    if total > 0 and covered / total >= p.fail_share:
        return _check(name, "fail", covered, f"{covered / total:.0%} {adjective} ({covered:.1f} of {total:.1f} s)", "s")
    if not spans:
        return _check(name, "info", 0.0, f"no {adjective} stretch of {p.min_stretch:g} s or more", "s")
    start, end = max(spans, key=lambda s: s[1] - s[0])
    longest = f"{end - start:.1f} s {what} from {start:.1f} s (longest stretch)"
    return _check(name, "warn" if end - start >= warn else "info", end - start, longest, "s", at=start)


def _audio(media: MediaInfo, audio: AudioStream | None) -> Check:
    if audio is None:
        return _check("audio", "warn", None, "no audio stream: the title will be silent")
    rate = f" {audio.sample_rate / 1000:g} kHz" if audio.sample_rate else ""
    desc = f"{audio.codec} {audio.channel_layout or f'{audio.channels} ch'}{rate}"
    which = f"stream #{audio.index} ({audio.language}), 1 of {len(media.audio)} measured"
    return _check("audio", "info", desc, f"{desc}; {which}" if len(media.audio) > 1 else desc)


def _audio_checks(m: _Measured, p: QAPolicy) -> list[Check]:
    checks = []
    if m.audio_seconds:
        silence = _closed(m.silence, m.audio_seconds)
        checks.append(
            _stretch("silence", ("silent", "of silence"), silence, m.audio_seconds, p.silence_warn_seconds, p)
        )
    if m.loudness is not None:
        lo, hi = p.loudness_range
        level = m.loudness
        if level < lo:
            checks.append(_check("loudness", "warn", level, f"{level:.1f} LUFS is quieter than {lo:g} LUFS", "LUFS"))
        elif level > hi:
            checks.append(_check("loudness", "warn", level, f"{level:.1f} LUFS is louder than {hi:g} LUFS", "LUFS"))
        else:
            checks.append(_check("loudness", "info", level, f"integrated loudness {level:.1f} LUFS", "LUFS"))
    if m.true_peak is not None:
        peak, limit = m.true_peak, p.max_true_peak
        too_hot = peak > limit
        reason = f"true peak {peak:.1f} dBTP" + (
            f" is above {limit:g} dBTP: lossy encoding will clip" if too_hot else ""
        )
        checks.append(_check("true_peak", "warn" if too_hot else "info", peak, reason, "dBTP"))
    if m.audio_seconds is not None and m.video_seconds is not None:
        gap = m.audio_seconds - m.video_seconds
        longer = "audio" if gap > 0 else "video"
        reason = f"{longer} is {abs(gap):.2f} s longer ({m.audio_seconds:.2f} s audio, {m.video_seconds:.2f} s video)"
        severity: Severity = "fail" if abs(gap) > p.av_gap_fail else "warn" if abs(gap) > p.av_gap_warn else "info"
        checks.append(_check("av_gap", severity, gap, reason, "s"))
    return checks
