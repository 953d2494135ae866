"""The QA records: ``QAPolicy`` (every threshold), ``Check`` (one finding) and ``QAReport`` (all of them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, computed_field, model_validator

from pipeline.probe import MediaInfo
from vodflow.errors import QAFailed
from vodflow.records import Record

__all__ = ["Check", "QAPolicy", "QAReport", "Severity"]

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
