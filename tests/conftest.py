"""Shared fixtures: the tiny sample corpus and a folder of odd media, both made once per session."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from samples import make_samples
from tests import media


@pytest.fixture(scope="session", autouse=True)
def _quiet_progress():
    # Tests never draw progress bars; progress lines still go to the log for failed-test reports.
    logging.getLogger("vodflow").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The sample corpus at 2 s, 320x180: name -> path."""
    d = tmp_path_factory.mktemp("tiny")
    paths = make_samples(d, tiny=True, show_progress=False)
    return {p.stem: p for p in paths}


@pytest.fixture(scope="session")
def odd(tmp_path_factory) -> dict[str, Path]:
    """Every odd or broken input the pipeline must handle: name -> path."""
    d = tmp_path_factory.mktemp("odd")
    return {
        "odd_dimensions": media.odd_dimensions(d),
        "vfr": media.vfr(d),
        "interlaced": media.interlaced(d),
        "single_frame": media.single_frame(d),
        "no_audio": media.no_audio(d),
        "audio_only": media.audio_only(d),
        "huge_frame": media.huge_frame(d),
        "lying_duration": media.lying_duration(d),
        "truncated": media.truncated(d),
        "truncated_faststart": media.truncated(d, faststart=True),
        "text_as_mp4": media.text_as_mp4(d),
        "empty": media.empty(d),
        "directory": d,
        "missing": d / "does-not-exist.mp4",
    }
