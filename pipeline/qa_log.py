"""Reading the QA decode's stderr: ffmpeg's ``-loglevel level+verbose`` lines from the filters (blackdetect,
freezedetect, silencedetect, idet, vfrdet, ebur128) and its end-of-run statistics, parsed into a
``QAMeasures`` before any threshold is applied."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["LogParser", "QAMeasures"]


@dataclass
class QAMeasures:
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


class LogParser:
    """Fed ffmpeg's stderr line by line; fills a ``QAMeasures``."""

    def __init__(self, video_index: int, audio_index: int | None) -> None:
        self.m = QAMeasures()
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
