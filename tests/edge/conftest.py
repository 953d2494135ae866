"""Edge fixtures: a token signer, a key store, and a synthetic title published into the session's real
SeaweedFS (at a prefix of its own per test)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from edge.server import EdgeConfig
from edge.tokens import TokenSigner
from edge.upstream import Retry, S3Upstream, Timeouts
from packager.keys import KeyStore
from tests.edge.harness import put_title, synthetic_title

TITLE = "film"


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(os.urandom(32))


@pytest.fixture
def keystore(tmp_path) -> KeyStore:
    store = KeyStore(tmp_path / "keys")
    store.get_or_create(TITLE)
    return store


@pytest.fixture
def published(origin) -> dict[str, bytes]:
    """``film`` version ``v1`` in S3 under this test's prefix: path -> bytes."""
    files = synthetic_title()
    put_title(origin, TITLE, "v1", files)
    return files


@pytest.fixture
def make_config(origin, signer, keystore):
    """``make_config(endpoint, **overrides)``: an ``EdgeConfig`` reading this test's S3 prefix through
    ``endpoint`` (a ``FaultProxy`` URL in front of SeaweedFS, or SeaweedFS itself)."""

    def make(endpoint: str | None = None, *, total: float = 2.0, **overrides) -> EdgeConfig:
        o = dataclasses.replace(origin, endpoint_url=endpoint or origin.endpoint_url)
        upstream = S3Upstream.from_origin(
            o,
            timeouts=Timeouts(connect=0.5, read=min(1.0, total), total=total),
            retry=Retry(attempts=3, base=0.02, cap=0.1),
        )
        return EdgeConfig(upstream=upstream, **{"signer": signer, "keystore": keystore, **overrides})

    return make
