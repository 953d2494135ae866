"""The ladders room's errors, under ``vodflow.errors.VodflowError``.

::

    VodflowError
    └── LadderError                         a ladder or a rate-quality curve cannot be made as asked; exit 2
        ├── CurveError                      points that a hull, a BD-rate, a saving or a plot cannot use
        └── FrameTooSmall (also UsageError) a frame size below 16x16 asked of the fixed ladder

``CurveError`` and ``FrameTooSmall`` are also ``ValueError``s: ``ladders`` raised plain ``ValueError``s
for these before, and code written against that keeps working.
"""

from __future__ import annotations

from vodflow.errors import UsageError, VodflowError

__all__ = ["CurveError", "FrameTooSmall", "LadderError"]


class LadderError(VodflowError):
    """Root of the ladders room's errors; ``str()`` is one printable line."""


class CurveError(LadderError, ValueError):
    """Rate-quality points that cannot be used: none, mixed codecs, no VMAF, too few or not overlapping."""


class FrameTooSmall(LadderError, UsageError, ValueError):
    """A frame size below 16x16 was asked of the fixed reference ladder."""
