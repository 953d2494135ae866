"""The ladder of a live channel: its rungs, frame rate, segment and part durations, checked when made.

A ``LiveLadder`` is validated like every record (``pydantic.ValidationError`` from the constructor);
``parse_ladder`` reads the command line's ``640x360@800k,320x180@250k`` and raises ``UsageError``.
"""

from __future__ import annotations

import math
import re

from pydantic import Field, ValidationError, model_validator

from vodflow.errors import UsageError
from vodflow.records import Record

__all__ = ["LiveLadder", "LiveRung", "parse_ladder"]

_RUNG = re.compile(r"(?P<w>\d+)x(?P<h>\d+)@(?P<kbps>\d+)k?", re.IGNORECASE)


def _whole(ratio: float) -> bool:
    return ratio >= 1 - 1e-9 and math.isclose(ratio, round(ratio), abs_tol=1e-6)


class LiveRung(Record):
    """One video rendition of a live channel: its frame size and its (capped) bitrate."""

    width: int
    height: int
    bitrate_kbps: int = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> LiveRung:
        # Plain ValueErrors on purpose: pydantic turns them into the ValidationError the constructor raises.
        if self.width < 16 or self.height < 16:
            raise ValueError(f"frame size {self.width}x{self.height} is too small (16x16 at least)")
        if self.width % 2 or self.height % 2:
            raise ValueError(f"frame size {self.width}x{self.height} must be even (4:2:0 chroma)")
        return self

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


class LiveLadder(Record):
    """A live channel's renditions and timing.

    Video representations are numbered 0..k-1 in the order of ``rungs``, the audio one is k. A segment
    is ``segment_s`` long and made of parts (CMAF chunks) of ``part_s``; every rung opens a closed GOP of
    ``gop_s`` (``segment_s`` unless said) on the same frames, so segments and parts line up across rungs.
    """

    rungs: tuple[LiveRung, ...]
    fps: int = 30
    segment_s: float = 2.0
    part_s: float = 0.5
    audio_kbps: int = Field(default=96, gt=0)
    gop_s: float | None = None

    @model_validator(mode="after")
    def _check(self) -> LiveLadder:
        if not self.rungs:
            raise ValueError("a live ladder needs at least one rung")
        if not 1 <= self.fps <= 60:
            raise ValueError(f"fps {self.fps} is outside 1..60")
        if self.part_s <= 0 or self.part_s > self.segment_s:
            raise ValueError(f"part_s {self.part_s:g} must be above 0 and at most segment_s {self.segment_s:g}")
        if not _whole(self.segment_s / self.part_s):
            raise ValueError(f"segment_s {self.segment_s:g} is not a whole number of parts of {self.part_s:g} s")
        gop = self.gop
        if not _whole(self.segment_s / gop):
            raise ValueError(f"segment_s {self.segment_s:g} is not a whole number of GOPs of {gop:g} s")
        if not _whole(self.fps * gop):
            raise ValueError(f"a GOP of {gop:g} s is not a whole number of frames at {self.fps} fps")
        return self

    @property
    def gop(self) -> float:
        """The GOP duration in seconds (``gop_s``, or ``segment_s`` when unset)."""
        return self.gop_s if self.gop_s is not None else self.segment_s

    @property
    def keyint(self) -> int:
        """Frames per GOP."""
        return round(self.fps * self.gop)

    @property
    def parts_per_segment(self) -> int:
        return round(self.segment_s / self.part_s)

    @property
    def audio_representation(self) -> int:
        """The DASH representation id of the audio (the video rungs are 0..k-1)."""
        return len(self.rungs)

    @property
    def largest(self) -> LiveRung:
        """The rung with the most pixels (a generated source is made at this size)."""
        return max(self.rungs, key=lambda r: r.width * r.height)


def parse_ladder(spec: str, **timing: float) -> LiveLadder:
    """``"640x360@800k,320x180@250k"`` (+ ``fps``, ``segment_s``, ``part_s``, ``audio_kbps``, ``gop_s``)
    → the ``LiveLadder``; raises ``UsageError`` naming the spec when it is malformed or not a valid ladder."""
    rungs = []
    for text in (t.strip() for t in spec.split(",")):
        m = _RUNG.fullmatch(text)
        if m is None:
            raise UsageError(f"bad live ladder {spec!r}: {text!r} is not WxH@KBPSk (e.g. 640x360@800k)")
        rungs.append({"width": int(m["w"]), "height": int(m["h"]), "bitrate_kbps": int(m["kbps"])})
    try:
        return LiveLadder(rungs=rungs, **timing)
    except ValidationError as exc:
        first = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(f"bad live ladder {spec!r}: {first}") from None
