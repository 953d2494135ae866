"""Running one encode's ffmpeg and judging its stderr: which error lines mean our options were wrong
(``EncoderOptionError``), which mean the input is broken (``DecodeError``), and which are ffmpeg's own
failure (``ProcessError``)."""

from __future__ import annotations

import re

from pipeline.ffmpeg import run_ffmpeg
from pipeline.renditions import TitleSpec
from vodflow.errors import DecodeError, EncoderOptionError, ProcessError

__all__ = ["run_encode"]

# Encoder-side lines that mean "I did not do what the arguments asked" (ffmpeg's own "has not been used
# for any stream" is caught by run_ffmpeg): bad x264/x265/SVT parameter strings, a VBV cap dropped, a
# pixel format silently replaced.
_ENCODER_CONTEXT = re.compile(r"^(\[(lib\w+|aac|enc:[^\]]*) @|x26[45] \[|Svt\[|\[vost#)")
_OPTION_PROBLEM = re.compile(
    r"Error parsing option|Unknown option|Invalid value for|Incompatible pixel format|, ignored\b"
)
# Both at once, so run_ffmpeg stops the encode on the first such line instead of finishing it.
_ENCODER_OPTION_PROBLEM = re.compile(f"{_ENCODER_CONTEXT.pattern}.*(?:{_OPTION_PROBLEM.pattern})")
_LEVEL_TAG = re.compile(r"\[(error|fatal)\]")
# Lines from the demuxer or a decoder: the input is at fault, not our arguments.
_INPUT_CONTEXT = re.compile(r"\[(in#|vist#|aist#|dec:)")


def _strip_prefixes(line: str) -> str:
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip()).strip()


def run_encode(title: TitleSpec, args: list[str], label: str, show_progress: bool) -> float:
    """Run one ffmpeg encode and return its wall seconds.

    Raises ``DecodeError`` when the demuxer or a decoder reported an error (``-xerror`` makes the first
    one stop the run), ``EncoderOptionError`` when an encoder ignored or rejected one of our options,
    and ``ProcessError`` with the first error line otherwise.
    """
    lines: list[str] = []
    try:
        done = run_ffmpeg(
            args,
            duration=title.info.duration,
            label=label,
            on_stderr=lines.append,
            show_progress=show_progress,
            fatal=[_ENCODER_OPTION_PROBLEM],
        )
    except EncoderOptionError:
        raise
    except ProcessError as exc:
        _judge(title, lines, exc)
        raise
    _judge(title, lines, None)
    return done.seconds


def _judge(title: TitleSpec, lines: list[str], exc: ProcessError | None) -> None:
    """Turn the error lines of an ffmpeg run into the one error that explains them, if any."""
    errors = [ln for ln in lines if _LEVEL_TAG.search(ln)]
    if not errors:
        return
    # Decoder contexts are named after the codec ("[h264 @ ...]"), demuxer and decoder threads carry
    # in#/ist#/dec: tags; anything that is not an encoder's line points at the input.
    from_input = [ln for ln in errors if not _ENCODER_CONTEXT.search(ln)]
    if any(_INPUT_CONTEXT.search(ln) for ln in errors) or (exc is None and from_input):
        raise DecodeError(title.src, f"decoding failed: {_strip_prefixes((from_input or errors)[0])}") from exc
    raise ProcessError(
        f"ffmpeg failed encoding {title.src}: {_strip_prefixes(errors[0])}",
        argv=exc.argv if exc else [],
        returncode=exc.returncode if exc else 0,
        stderr_tail=lines[-15:],
    ) from exc
