"""The vodflow exception family, drawn whole in one place.

Every error a user can cause or meet is a ``VodflowError`` whose ``str()`` is one sentence fit to print
as it is. The CLI catches the root at its boundary, prints that line and exits with ``exit_code``; a
bare traceback means a bug in vodflow, never a user mistake. The classes below ``vodflow`` are defined
here; each room keeps its own in its ``errors.py`` (named in brackets), and this tree lists them all
(``tests/test_architecture.py`` fails when a class is missing from it).

::

    VodflowError                      exit 2 unless a subclass says otherwise
    ├── UsageError                    bad arguments or options; exit 2
    │   ├── BadOriginURL              [origin] --origin is not s3://bucket[/prefix]
    │   ├── NotAPackage               [origin] the folder to publish is not a package
    │   ├── KeyStoreError             [packager] the key store cannot give or keep a title's keys
    │   ├── NotRenditions             [packager] the input of package is not a folder of renditions
    │   ├── BadTrace                  [player] a network trace is missing or malformed
    │   ├── BadMovie                  [player] a movie description is missing or malformed
    │   ├── UnknownAbr                [player] no ABR algorithm has that name
    │   └── FrameTooSmall             [ladders] a frame below 16x16 asked of the fixed ladder (also LadderError)
    ├── ToolError                     a binary is missing, not executable or unusable; exit 2
    ├── ProcessError                  a child process failed (carries argv and the tail of stderr)
    │   ├── ProcessTimeout            ... or ran past its time limit
    │   └── EncoderOptionError        ffmpeg ignored an option we gave it: a bug in our arguments
    ├── MediaError                    the input media is at fault; exit 1
    │   ├── ProbeError                not a readable media file (missing, empty, not media, truncated)
    │   ├── NoVideoStream             a video operation on a file without video
    │   ├── UnsupportedMedia          readable, but outside what we accept (e.g. 10000x10000)
    │   │   └── BadColourMetadata     colour tags or HDR metadata that lie (PQ on 8-bit, PQ with BT.709)
    │   ├── DecodeError               the decoder reported errors
    │   ├── QAFailed                  one or more QA checks failed (carries the report)
    │   ├── DurationMismatch          two inputs that should cover the same time do not
    │   └── InvalidPackage            [packager] a package failed validation (carries the problems)
    ├── LadderError                   [ladders] a ladder or a rate-quality curve cannot be made
    │   ├── CurveError                points a hull, BD-rate or plot cannot use (also ValueError)
    │   └── FrameTooSmall             (above, also a UsageError)
    ├── OriginError                   [origin] the origin, or the way to it, is at fault
    │   ├── OriginNotRunning          the embedded SeaweedFS is not running
    │   ├── OriginStartFailed         weed mini exited, or its S3 API never answered
    │   ├── OriginUnreachable         an S3 request failed (refused, timeout, error status)
    │   ├── ObjectMissing             the object asked for is not stored (404 / NoSuchKey)
    │   ├── ChecksumMismatch          the origin's checksum of an object differs from the file's
    │   ├── NotPublished              no publication, or nothing to roll back to
    │   └── KeyMaterialFound          a file to publish contains one of the title's content keys
    ├── EdgeError                     [edge] the edge is misconfigured or cannot serve a request
    │   ├── BadToken                  a signed-URL token that does not authorise the request (403)
    │   ├── BadPath                   a request path refused before routing (400, 414)
    │   ├── RangeNotSatisfiable       a Range header the edge will not serve (416)
    │   └── UpstreamError             an upstream fetch failed (502)
    │       ├── UpstreamTimeout       ... in time (504)
    │       └── UpstreamNotFound      ... with 404
    └── PlayerError                   [player] the title could not be played
        ├── BadManifest               a manifest or the quality sidecar could not be read
        └── FetchFailed               the edge answered an error, or could not be reached
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = [
    "BadColourMetadata",
    "DecodeError",
    "DurationMismatch",
    "EncoderOptionError",
    "MediaError",
    "NoVideoStream",
    "ProbeError",
    "ProcessError",
    "ProcessTimeout",
    "QAFailed",
    "ToolError",
    "UnsupportedMedia",
    "UsageError",
    "VodflowError",
]


class VodflowError(Exception):
    """Root of every error vodflow raises on purpose; ``str()`` is one printable line."""

    exit_code = 2


class UsageError(VodflowError):
    """The caller asked for something that cannot be done as asked (bad path, bad option)."""


class ToolError(VodflowError):
    """A binary vodflow depends on is missing, not executable or not what we need."""


class ProcessError(VodflowError):
    """A child process exited non-zero (or was stopped). Carries the command and the last stderr lines."""

    def __init__(
        self, message: str, *, argv: Sequence[str] = (), returncode: int | None = None, stderr_tail: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = list(stderr_tail)


class ProcessTimeout(ProcessError):
    """A child process ran past its time limit and was stopped."""


class EncoderOptionError(ProcessError):
    """ffmpeg reported an option as unused: the arguments we built are wrong, so the output would be too."""


class MediaError(VodflowError):
    """The input media is at fault. The message names the file."""

    exit_code = 1

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


class ProbeError(MediaError):
    """Not a media file we can read: missing streams, empty, not media at all, or truncated."""


class NoVideoStream(MediaError):
    """A video operation was asked of a file that has no video stream."""


class UnsupportedMedia(MediaError):
    """Readable media that lies outside what the pipeline accepts."""


class BadColourMetadata(UnsupportedMedia):
    """The colour tags or the HDR metadata contradict the samples or each other: encoding would spread the lie."""


class DecodeError(MediaError):
    """The decoder reported errors while reading the file."""


class QAFailed(MediaError):
    """Source QA failed; ``report`` holds every check."""

    def __init__(self, path: str | os.PathLike[str], problem: str, report: object = None) -> None:
        super().__init__(path, problem)
        self.report = report


class DurationMismatch(MediaError):
    """Two inputs compared frame by frame do not cover the same time."""
