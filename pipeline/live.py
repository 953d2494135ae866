"""The live encoder: one ffmpeg that decodes the source once, encodes every rung of a ``LiveLadder`` and
writes low-latency DASH (chunked CMAF segments and a dynamic MPD) into the channel's folder.

What ffmpeg 8.1 writes there, measured: ``manifest.mpd`` (replaced atomically on every complete
segment), ``init-<rep>.m4s``, and per representation the growing segment as ``seg-<rep>-<n>.m4s.tmp``,
renamed to ``seg-<rep>-<n>.m4s`` once complete; a segment is ``styp`` then ``prft`` + ``moof`` + ``mdat``
per part. Video representations are 0..k-1 in ladder order, audio is k. Its stderr goes to
``ffmpeg.log`` in the same folder. The channel's ladder is in ``live_ladder``, its source in
``live_source``, the encoder's counters in ``live_stats``. With a ``CencKey`` every rendition is encrypted
(CENC AES-CTR) as it is written; cbcs, which ffmpeg's mp4 muxer cannot write, is done on the clear output
by the channel state (``packager.live_cbcs``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.codecs import AUDIO_ENCODERS, ENCODERS
from pipeline.live_ladder import LiveLadder
from pipeline.live_source import LiveSource, input_args
from pipeline.live_stats import LiveProgress, LiveStats
from vodflow import tools
from vodflow.errors import ProcessError, UsageError
from vodflow.process import spawn, stop

__all__ = ["GROWING_SUFFIX", "LIVE_PRESET", "LOG_NAME", "LiveEncoder", "live_argv", "run_file_names"]

GROWING_SUFFIX = ".tmp"  # the segment being written is SEGMENT + ".tmp" until ffmpeg renames it
LOG_NAME = "ffmpeg.log"

LIVE_PRESET = "veryfast"  # keeps two rungs up to 640x360 at 1x on 2 cores with room to spare
_SAMPLE_RATE = "48000"
_STOP_GRACE_S = 10.0  # time for the muxer to finish its segments and write the final MPD
_SECOND_SIGINT_S = 2.0  # a graceful stop takes well under a second; after this, ffmpeg is blocked reading


@dataclass(frozen=True, slots=True)
class CencKey:
    """The one content key (``key``) and key ID (``kid``), 32 hex digits each, the mp4 muxer encrypts every
    rendition with (CENC AES-CTR, ``encryption_scheme=cenc-aes-ctr``; the dash muxer hands all its streams
    the same ``-format_options``, so one key per channel)."""

    key: str
    kid: str

    def __post_init__(self) -> None:
        for name, value in (("key", self.key), ("key ID", self.kid)):
            if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
                raise UsageError(f"live encryption {name} must be 32 lower-case hex digits")

    def redact(self, text: str) -> str:
        """``text`` (a logged command) without the key."""
        return text.replace(self.key, "<key>")


class _Redact(logging.Filter):
    """Takes the key out of what ``vodflow.process`` logs of the command (``spawn`` logs every argv)."""

    def __init__(self, cenc: CencKey) -> None:
        super().__init__()
        self.cenc = cenc

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.cenc.redact(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(self.cenc.redact(a) if isinstance(a, str) else a for a in record.args)
        return True


@contextlib.contextmanager
def _redacted(cenc: CencKey | None) -> Iterator[None]:
    if cenc is None:
        yield
        return
    # The key must be on ffmpeg's command line (the mp4 muxer takes it as an option, and the dash muxer's
    # -format_options cannot be read from a file), but not in a log.
    logger, redact = logging.getLogger(spawn.__module__), _Redact(cenc)
    logger.addFilter(redact)
    try:
        yield
    finally:
        logger.removeFilter(redact)


def run_file_names(run: int) -> tuple[str, str]:
    """ffmpeg's ``-init_seg_name`` and ``-media_seg_name`` templates for encoder run ``run`` (0 the first):
    a restarted encoder numbers its segments from 1 again, so each run's files carry ``-r<run>``."""
    tag = f"-r{run}" if run else ""
    return f"init-$RepresentationID${tag}.m4s", f"seg-$RepresentationID${tag}-$Number$.m4s"


def _num(x: float) -> str:
    return f"{x:g}"


def _video_graph(ladder: LiveLadder, video: str) -> str:
    """Decode once, split once, one scaler per rung: ``[v0]``..``[vk-1]``."""
    n = len(ladder.rungs)
    # format first: one pixel format for every rung whatever the source brings (10-bit, 4:2:2).
    head = f"[{video}]format=yuv420p,split={n}" + "".join(f"[s{i}]" for i in range(n))
    # Letterbox instead of stretching a source of another shape, so each rung is exactly its size.
    rungs = [
        f"[s{i}]scale={r.width}:{r.height}:force_original_aspect_ratio=decrease,"
        f"pad={r.width}:{r.height}:(ow-iw)/2:(oh-ih)/2,setsar=1[v{i}]"
        for i, r in enumerate(ladder.rungs)
    ]
    return ";".join([head, *rungs])


def live_argv(
    source: LiveSource,
    ladder: LiveLadder,
    out_dir: str | os.PathLike[str],
    *,
    manifest_name: str,
    utc_timing_url: str,
    run: int = 0,
    window_segments: int = 6,
    extra_window_segments: int = 4,
    target_latency_s: float = 3.0,
    cenc: CencKey | None = None,
) -> list[str]:
    """The whole ffmpeg command line of a live channel writing into ``out_dir``: the MPD as
    ``manifest_name`` (the packager's name for it), segments named by :func:`run_file_names` (``run``),
    every rendition encrypted with ``cenc`` when given (measured with ``-ldash -streaming``: each chunk
    is encrypted as it is written, and ``-decryption_key`` gives back the clear run's frames bit for bit).

    ``window_segments`` are listed in the MPD; ffmpeg deletes a segment once it is ``window_segments +
    extra_window_segments`` old, so the extra ones are the margin players (and the HLS window) may
    still fetch. ``utc_timing_url`` (an http-xsdate clock, ISO time in the body) is what players sync to;
    without it ffmpeg silently drops the producer reference times and the target latency, so it is
    required. Raises ``UsageError`` for a window or latency out of range or no clock URL, ``ToolError``
    without ffmpeg.
    """
    if window_segments < 1 or extra_window_segments < 0:
        raise UsageError(f"live window {window_segments}+{extra_window_segments} segments: need >= 1 and >= 0")
    if not utc_timing_url:
        raise UsageError("a live channel needs a UTC timing URL (ffmpeg writes no latency information without)")
    if target_latency_s <= 0:
        raise UsageError(f"target latency {target_latency_s:g} s must be above 0")
    inputs, video, audio = input_args(source, size=ladder.largest.size, fps=ladder.fps)
    argv = [
        str(tools.find(tools.Tool.FFMPEG)),
        "-hide_banner",
        "-nostdin",  # stopped by SIGINT, never by a key: stdin is /dev/null
        # Warnings and errors only, each tagged [warning]/[error]: at info the muxer logs two lines per
        # segment and rendition, megabytes a day for a channel that runs for days.
        "-loglevel",
        "level+warning",
        "-nostats",
        "-progress",
        "pipe:1",  # key=value blocks on stdout every 0.5 s, parsed into LiveStats
        "-y",  # a restart writes into the same folder
        *inputs,
        "-filter_complex",
        _video_graph(ladder, video),
    ]
    for i in range(len(ladder.rungs)):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map", audio]
    argv += [
        # Constant frame rate at the ladder's fps: a source that hiccups is evened out by ffmpeg, which
        # counts what it dropped or duplicated (LiveStats.dropped/duplicated).
        "-fps_mode:v",
        "cfr",
        "-r:v",
        str(ladder.fps),
        "-c:v",
        ENCODERS["h264"],
        "-preset",
        LIVE_PRESET,
        "-tune",
        "zerolatency",  # no lookahead, no frame threading delay: a frame leaves as soon as it is coded
        "-bf",
        "0",  # no B-frames: each chunk is decodable as it lands
        "-flags:v",
        "+cgop",  # closed GOPs: a segment never refers to the one before
        # One keyframe every GOP, at the same frames on every rung, and never one in between (no scene
        # cuts): segments and parts line up across renditions, which switching needs.
        "-g",
        str(ladder.keyint),
        "-keyint_min",
        str(ladder.keyint),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{_num(ladder.gop)})",
    ]
    for i, rung in enumerate(ladder.rungs):
        # Capped: the advertised bandwidth holds for every segment (a 2 s buffer, twice the rate).
        kbps = rung.bitrate_kbps
        argv += [f"-b:v:{i}", f"{kbps}k", f"-maxrate:v:{i}", f"{kbps}k", f"-bufsize:v:{i}", f"{2 * kbps}k"]
    argv += ["-c:a", AUDIO_ENCODERS["aac"], "-b:a", f"{ladder.audio_kbps}k", "-ar", _SAMPLE_RATE, "-ac", "2"]
    argv += [
        "-f",
        "dash",
        "-ldash",
        "1",
        "-streaming",
        "1",  # with ldash: write each part (moof+mdat) as soon as it is complete
        "-seg_duration",
        _num(ladder.segment_s),
        "-frag_type",
        "duration",
        "-frag_duration",
        _num(ladder.part_s),
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        "-window_size",
        str(window_segments),
        "-extra_window_size",
        str(extra_window_segments),
        "-write_prft",
        "1",  # a prft box per part and ProducerReferenceTime in the MPD: wall clock for latency
        "-target_latency",
        _num(target_latency_s),
        "-utc_timing_url",
        utc_timing_url,
        "-format_options",
        # cmaf: one moof per chunk, the CMAF brands. The key goes to every rendition's mp4 muxer, which
        # encrypts each sample as it writes the chunk (subsamples for H.264: NAL headers stay clear).
        "movflags=cmaf"
        + (f":encryption_scheme=cenc-aes-ctr:encryption_key={cenc.key}:encryption_kid={cenc.kid}" if cenc else ""),
        "-adaptation_sets",
        "id=0,streams=v id=1,streams=a",
        "-init_seg_name",
        run_file_names(run)[0],
        "-media_seg_name",
        run_file_names(run)[1],
        str(Path(out_dir) / manifest_name),
    ]
    return argv


class LiveEncoder:
    """A running live channel encoder (started on construction; a context manager that stops it).

    Raises ``UsageError``/``ToolError`` as ``live_argv`` and ``ProcessError`` when ffmpeg cannot start.
    """

    def __init__(
        self,
        source: LiveSource,
        ladder: LiveLadder,
        out_dir: str | os.PathLike[str],
        *,
        manifest_name: str,
        utc_timing_url: str,
        run: int = 0,
        window_segments: int = 6,
        extra_window_segments: int = 4,
        target_latency_s: float = 3.0,
        cenc: CencKey | None = None,
    ) -> None:
        self.source = source
        self.ladder = ladder
        self.out_dir = Path(out_dir)
        self.argv = live_argv(
            source, ladder, self.out_dir, manifest_name=manifest_name, run=run, window_segments=window_segments,
            extra_window_segments=extra_window_segments, utc_timing_url=utc_timing_url,
            target_latency_s=target_latency_s, cenc=cenc,
        )  # fmt: skip
        self._cenc = cenc
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.out_dir / LOG_NAME
        self._stopping = False
        # Appended, so the log of a run that crashed survives the restart; the command heads each run.
        with self.log_path.open("ab") as log:
            command = shlex.join(self.argv)
            command = cenc.redact(command) if cenc else command  # the log is no place for a key
            log.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {command}\n".encode())
            log.flush()
            started = time.monotonic()
            # A session of its own: a Ctrl-C at the terminal reaches the supervisor, which stops us in order.
            with _redacted(cenc):
                self._proc = spawn(self.argv, stdout=subprocess.PIPE, stderr=log, new_session=True)
        self._progress = LiveProgress(self._proc.stdout, started)

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """ffmpeg's exit code, ``None`` while it runs (255 after a graceful stop: its code for SIGINT)."""
        return self._proc.poll()

    def stats(self) -> LiveStats:
        """The counters of ffmpeg's latest progress report (all 0 before the first)."""
        return self._progress.latest()

    def log_tail(self, lines: int = 15) -> list[str]:
        """The last ``lines`` lines of ffmpeg's log."""
        with self.log_path.open("rb") as fh:
            return [raw.decode("utf-8", "replace").rstrip() for raw in deque(fh, maxlen=lines)]

    def check(self) -> None:
        """Return while ffmpeg runs (or was stopped by us); raises ``ProcessError`` with the log's tail
        when it exited on its own (the source ended or failed, an argument was refused)."""
        code = self._proc.poll()
        if code is None or self._stopping:
            return
        tail = self.log_tail()
        # ffmpeg's first error is the cause ("bind failed: ..."); the ones after it are its consequences.
        errors = [line for line in tail if "[error]" in line or "[fatal]" in line]
        last = errors[0] if errors else next((line for line in reversed(tail) if line.strip()), "no output")
        last = re.sub(r"^(\[[^]]* @ 0x[0-9a-f]+\] )?\[(error|fatal)\] ", "", last.strip())
        why = "its source ended" if code == 0 else f"exited with code {code}: {last}"
        raise ProcessError(
            f"live encoder for {self.source.spec} {why}",
            argv=[self._cenc.redact(a) for a in self.argv] if self._cenc else self.argv,
            returncode=code,
            stderr_tail=tail,
        )

    def stop(self, grace: float = _STOP_GRACE_S) -> int:
        """Stop ffmpeg so the dash muxer finishes: SIGINT (a second one after 2 s if ffmpeg is blocked
        reading its source), up to ``grace`` s in all to write its last segments and final (static) MPD,
        then terminate and kill (``vodflow.process.stop``). Returns the exit code; safe to call twice."""
        self._stopping = True
        deadline = time.monotonic() + grace
        # The first SIGINT ends ffmpeg's loop between two packets; a read blocked on a silent source
        # (a UDP feed that stopped) only gives way to the second, which ffmpeg's I/O checks for. Not sent
        # at once: it would also cut short the muxer's writing of its last segments.
        for wait_s in (min(_SECOND_SIGINT_S, grace), grace):
            if self._proc.poll() is not None:
                break
            self._proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(max(0.0, min(wait_s, deadline - time.monotonic())))
        stop(self._proc, grace=min(2.0, grace))
        self._progress.thread.join(5.0)
        return self._proc.returncode

    def __enter__(self) -> LiveEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
