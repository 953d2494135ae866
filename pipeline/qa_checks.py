"""The QA checks: each measurement of the decode pass (``QAMeasures``) held to a ``QAPolicy`` threshold and
turned into a ``Check`` with a severity and a one-line reason."""

from __future__ import annotations

from pipeline.probe import AudioStream, MediaInfo, VideoStream
from pipeline.probe_colour import colour_gaps, describe
from pipeline.qa_log import QAMeasures
from pipeline.qa_records import Check, QAPolicy, Severity

__all__ = ["all_checks", "check"]


def check(
    name: str, severity: Severity, value: float | str | None, reason: str, unit: str = "", at: float | None = None
) -> Check:
    """A ``Check`` with its value and start rounded to what was measured and its reason on one line."""
    if isinstance(value, float):
        value = round(value, 3)  # milliseconds, hundredths of a dB: float noise is not a measurement
    at = None if at is None else round(at, 3)
    return Check(name=name, severity=severity, value=value, unit=unit, reason=" ".join(reason.split()), at=at)


def all_checks(
    media: MediaInfo, video: VideoStream, audio: AudioStream | None, m: QAMeasures, p: QAPolicy
) -> list[Check]:
    """Every check of a decoded title, in report order: decode, picture, duration, stretches, audio."""
    checks = [_decode(m, p), _resolution(video), _colour(video), _frame_rate(video, p), _vfr(video, m, p)]
    checks.append(_interlacing(video, m, p))
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
        checks += _audioall_checks(m, p)
    return checks


def _decode(m: QAMeasures, p: QAPolicy) -> Check:
    n = len(m.errors)
    if m.stopped:
        # Our own error lines say more than ffmpeg's last (verbose) line, which ends up in ``stopped``.
        why = m.errors[-1] if m.errors else m.stopped
        return check("decode", "fail", n, f"ffmpeg stopped decoding: {why}", "errors")
    if n > p.max_decode_errors:
        return check("decode", "fail", n, f"{n} decode error(s), first: {m.errors[0]}", "errors")
    if not m.video_frames:
        return check("decode", "fail", n, "no video frame could be decoded", "errors")
    errors = f"{n} decode error(s)" if n else "no errors"
    return check("decode", "info", n, f"{m.video_frames} video frames decoded, {errors}", "errors")


def _duration(seconds: float, p: QAPolicy) -> Check:
    if seconds > p.max_duration:
        return check("duration", "fail", seconds, f"{seconds:.0f} s is longer than {p.max_duration:.0f} s", "s")
    if seconds < p.min_duration:
        return check("duration", "warn", seconds, f"only {seconds:.2f} s long (under {p.min_duration:g} s)", "s")
    return check("duration", "info", seconds, f"{seconds:.2f} s decoded", "s")


def _container_duration(claimed: float | None, decoded: float, p: QAPolicy) -> Check:
    if claimed is None:
        return check("container_duration", "warn", None, "the container does not state a duration", "s")
    gap = claimed - decoded
    tolerance = max(p.duration_tolerance, p.duration_tolerance_ratio * claimed)
    said = f"the container says {claimed:.2f} s, {decoded:.2f} s decode"
    if gap > tolerance:
        return check("container_duration", "fail", gap, f"{said}: truncated file or a lying header", "s")
    if -gap > tolerance:
        return check("container_duration", "fail", gap, f"{said}: the header is wrong", "s")
    return check("container_duration", "info", gap, said, "s")


def _resolution(v: VideoStream) -> Check:
    size = f"{v.width}x{v.height}"
    if v.width % 2 or v.height % 2:
        return check("resolution", "warn", size, f"odd frame size {size}: 4:2:0 encoding needs even sides")
    return check("resolution", "info", size, f"{size}, sample aspect ratio {v.sar}")


def _colour(v: VideoStream) -> Check:
    # The lies were refused before decoding (``require_honest_colour``); what is left is a verdict or a gap.
    c = v.colour
    if gaps := colour_gaps(c):
        return check("colour", "warn", c.dynamic_range, f"{describe(c)}: {'; '.join(gaps)}")
    return check("colour", "info", c.dynamic_range, describe(c))


def _frame_rate(v: VideoStream, p: QAPolicy) -> Check:
    fps = v.fps
    if fps is None:
        return check("frame_rate", "warn", None, "the stream states no frame rate", "fps")
    (lo, hi), (low, high) = p.fps_limits, p.fps_range
    if not lo <= fps <= hi:
        return check("frame_rate", "fail", fps, f"{fps:g} fps is outside {lo:g}..{hi:g} fps", "fps")
    if not low <= fps <= high:
        return check("frame_rate", "warn", fps, f"unusual frame rate {fps:g} fps (outside {low:g}..{high:g})", "fps")
    return check("frame_rate", "info", fps, f"{fps:g} fps", "fps")


def _vfr(v: VideoStream, m: QAMeasures, p: QAPolicy) -> Check:
    share, shortest, longest = m.vfr or (None, 0, 0)
    # Millisecond timestamps (Matroska) alternate 33 and 34 ms at 29.97 fps: a rounding step, not VFR.
    changes = share is not None and share >= p.vfr_share
    rounding = longest - shortest <= max(1, 0.05 * shortest)
    if v.vfr or (changes and not rounding):
        why = f"{share:.0%} of frame intervals change" if changes else "average and nominal rates differ"
        fps = f"{v.fps:g}" if v.fps else "its nominal"
        return check("vfr", "warn", share, f"variable frame rate ({why}): will be encoded at a constant {fps} fps")
    if changes:
        return check("vfr", "info", share, "constant frame rate (intervals differ by one timestamp tick: rounding)")
    return check("vfr", "info", share, "constant frame rate")


def _interlacing(v: VideoStream, m: QAMeasures, p: QAPolicy) -> Check:
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
        return check("interlacing", "warn", order, f"interlaced ({order}): will be deinterlaced ({flags}; {seen})")
    return check("interlacing", "info", "progressive", f"progressive ({seen})")


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
        return check(name, "fail", covered, f"{covered / total:.0%} {adjective} ({covered:.1f} of {total:.1f} s)", "s")
    if not spans:
        return check(name, "info", 0.0, f"no {adjective} stretch of {p.min_stretch:g} s or more", "s")
    start, end = max(spans, key=lambda s: s[1] - s[0])
    longest = f"{end - start:.1f} s {what} from {start:.1f} s (longest stretch)"
    return check(name, "warn" if end - start >= warn else "info", end - start, longest, "s", at=start)


def _audio(media: MediaInfo, audio: AudioStream | None) -> Check:
    if audio is None:
        return check("audio", "warn", None, "no audio stream: the title will be silent")
    rate = f" {audio.sample_rate / 1000:g} kHz" if audio.sample_rate else ""
    desc = f"{audio.codec} {audio.channel_layout or f'{audio.channels} ch'}{rate}"
    which = f"stream #{audio.index} ({audio.language}), 1 of {len(media.audio)} measured"
    return check("audio", "info", desc, f"{desc}; {which}" if len(media.audio) > 1 else desc)


def _audioall_checks(m: QAMeasures, p: QAPolicy) -> list[Check]:
    """Every check of a decoded title, in report order: decode, picture, duration, stretches, audio."""
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
            checks.append(check("loudness", "warn", level, f"{level:.1f} LUFS is quieter than {lo:g} LUFS", "LUFS"))
        elif level > hi:
            checks.append(check("loudness", "warn", level, f"{level:.1f} LUFS is louder than {hi:g} LUFS", "LUFS"))
        else:
            checks.append(check("loudness", "info", level, f"integrated loudness {level:.1f} LUFS", "LUFS"))
    if m.true_peak is not None:
        peak, limit = m.true_peak, p.max_true_peak
        too_hot = peak > limit
        reason = f"true peak {peak:.1f} dBTP" + (
            f" is above {limit:g} dBTP: lossy encoding will clip" if too_hot else ""
        )
        checks.append(check("true_peak", "warn" if too_hot else "info", peak, reason, "dBTP"))
    if m.audio_seconds is not None and m.video_seconds is not None:
        gap = m.audio_seconds - m.video_seconds
        longer = "audio" if gap > 0 else "video"
        reason = f"{longer} is {abs(gap):.2f} s longer ({m.audio_seconds:.2f} s audio, {m.video_seconds:.2f} s video)"
        severity: Severity = "fail" if abs(gap) > p.av_gap_fail else "warn" if abs(gap) > p.av_gap_warn else "info"
        checks.append(check("av_gap", severity, gap, reason, "s"))
    return checks
