"""The probe grid: which encodes a per-title analysis makes (``ProbeEncode``) at which frame sizes (``sizes``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from pipeline.probe import MediaInfo, parse_rate, require_video
from pipeline.renditions import RateControl, Rendition

__all__ = ["ProbeEncode", "sizes"]


@dataclass(frozen=True, slots=True)
class ProbeEncode:
    """One probe encode of the analysis: a codec at a frame size, a CRF and a preset."""

    codec: str
    width: int
    height: int
    crf: float
    preset: str

    def rendition(self, gop_seconds: float) -> Rendition:
        """The uncapped constant-quality rendition that writes this probe, with GOPs of ``gop_seconds``.

        Raises ``pydantic.ValidationError`` for a CRF the codec does not take."""
        return Rendition(
            codec=self.codec,  # type: ignore[arg-type]
            width=self.width,
            height=self.height,
            rate=RateControl(mode="crf", crf=self.crf),
            preset=self.preset,
            gop_seconds=gop_seconds,
        )


def sizes(info: MediaInfo, heights: Iterable[int]) -> list[tuple[int, int]]:
    """Probe frame sizes, largest first: each height up to the source's, width from its display aspect.

    Widths and heights are even (4:2:0); raises ``NoVideoStream`` as ``require_video``.
    """
    v = require_video(info)
    sar = parse_rate((v.sar or "1:1").replace(":", "/")) or Fraction(1)
    aspect = v.width * sar / v.height
    out = []
    wanted = {h for h in heights if h <= v.height}
    if heights and v.height < max(heights):
        # A source between the standard heights (a 1920x800 scope film) is probed at its own size too:
        # otherwise the best the source can give would never be measured.
        wanted.add(v.height)
    for h in sorted(wanted, reverse=True):
        h2 = h // 2 * 2
        w2 = max(2, round(h2 * aspect / 2) * 2)
        if (w2, h2) not in out:
            out.append((w2, h2))
    return out
