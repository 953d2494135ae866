"""Shared fixtures: the tiny sample corpus, a folder of odd media, and the embedded S3 origin (real
SeaweedFS), each made once per session."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from origin.config import Origin, S3Location
from origin.seaweed import Seaweed
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


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> Iterator[Seaweed]:
    """The embedded origin (a real ``weed mini`` on free ports, signed S3 only), shared by the session.

    Started by the same code as ``vodflow origin up`` and always stopped at the end. Do not stop it in
    a test: use ``seaweed_factory`` for an origin a test may stop and restart."""
    with Seaweed(tmp_path_factory.mktemp("origin")) as sw:
        yield sw


@pytest.fixture
def origin(seaweed) -> Origin:
    """The session origin at a prefix of its own (``t/<random>``), so tests never see each other's objects."""
    return seaweed.origin(S3Location(bucket=seaweed.bucket, prefix=f"t/{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def seaweed_factory(tmp_path_factory) -> Iterator[Callable[[], Seaweed]]:
    """Make private origins (started) that a test may stop and restart; all are stopped afterwards."""
    made: list[Seaweed] = []

    def make() -> Seaweed:
        sw = Seaweed(tmp_path_factory.mktemp("origin-private"))
        made.append(sw)
        sw.up()
        return sw

    yield make
    for sw in made:
        sw.down()
