"""The edge's own pages in Chromium: a cenc and a clear package published with ``origin.publish`` to a real
SeaweedFS, the edge started as its own process (``python -m edge``), its catalogue opened and each
title played from ``/watch/<id>`` by the page's Shaka Player with the token and ClearKey licences the edge
hands out; an unknown title gets a clean 404 page.

The clear title is public (``pages.public``); the cenc one needs a viewer token (``/titles/``, signed with
the edge's secret file as ``vodflow sign`` does), given as ``?token=``.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_harness import PROBE, playback_problems, run_pages

from edge.process import EdgeProcess
from edge.tokens import TokenSigner, load_secret
from origin.config import S3Location
from origin.publish import publish
from origin.seaweed import Seaweed

REPO = Path(__file__).resolve().parents[2]
CENC, CLEAR = "e2e-h264", "e2e-h264-clear"  # the cenc title keeps the key store's title name


@pytest.fixture(scope="module")
def edge_site(packages, work) -> Iterator[dict]:
    """SeaweedFS with both titles published, and an edge process in front of it: {url, viewer token}."""
    with Seaweed(work / "pages-origin") as sw:
        origin = sw.origin(S3Location(bucket=sw.bucket, prefix="pages"))
        publish(packages.root / "h264_cenc", CENC, origin, keystore=work / "keys")
        publish(packages.root / "h264_clear", CLEAR, origin, keystore=work / "keys")
        secret, config = work / "edge-secret", work / "edge.json"
        config.write_text(json.dumps({"pages": {"public": [CLEAR]}}))
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": origin.endpoint_url,
            "AWS_ACCESS_KEY_ID": origin.access_key,
            "AWS_SECRET_ACCESS_KEY": origin.secret_key,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        args = ["--port", "0", "--origin", str(origin.location)]
        args += ["--keys", str(work / "keys"), "--secret-file", str(secret), "--config", str(config)]
        args += ["--no-access-log"]
        with EdgeProcess(args, env=env, cwd=REPO, log=work / "pages-edge.log", grace=15.0) as edge:
            viewer = TokenSigner(load_secret(path=secret)).sign("/titles/", ttl=600)
            yield {"url": edge.url, "viewer": viewer}


@pytest.fixture(scope="module")
def pages(edge_site, work) -> dict[str, dict]:
    base, viewer = edge_site["url"], edge_site["viewer"]
    cases = [
        {"id": "catalogue", "url": f"{base}/?token={viewer}"},
        {"id": "watch-cenc", "url": f"{base}/watch/{CENC}?token={viewer}"},
        {"id": "watch-clear", "url": f"{base}/watch/{CLEAR}"},
        {"id": "watch-unknown", "url": f"{base}/watch/no-such-title"},
    ]
    started = time.monotonic()
    found = run_pages([{**c, "init": str(PROBE)} for c in cases], work / "browser-pages", concurrency=1)
    print(f"edge pages in Chromium: {time.monotonic() - started:.1f} s")
    return found


def test_catalogue_lists_the_published_titles(pages):
    r = pages["catalogue"]
    assert r["httpStatus"] == 200 and r["heading"] == "Titles", r
    assert {f"/watch/{CENC}", f"/watch/{CLEAR}"} <= set(r["links"]), r["links"]
    assert f"/titles/{CENC}/manifest.mpd" in r["links"] and f"/titles/{CLEAR}/master.m3u8" in r["links"]


@pytest.mark.parametrize("case", ["watch-cenc", "watch-clear"])
def test_watch_page_plays(pages, case):
    r = pages[case]
    assert r["httpStatus"] == 200, r
    found = playback_problems(r)
    seen = {k: r.get(k) for k in ("doneReason", "status", "firstFrameMs", "playedSeconds", "totalVideoFrames")}
    assert found == [], f"{case}: {seen}; console {r.get('consoleErrors')}\n" + "\n".join(found)


def test_unknown_title_gets_a_clean_404_page(pages):
    r = pages["watch-unknown"]
    assert r["httpStatus"] == 404 and r["heading"] == "Not found", r
    assert "no-such-title" in r["text"] and "Traceback" not in r["text"]
    assert not r["pageErrors"] and not r["consoleErrors"][1:], r  # the 404 itself is the one console error


def test_a_title_that_is_not_public_needs_a_viewer_token(edge_site):
    try:
        urllib.request.urlopen(f"{edge_site['url']}/watch/{CENC}", timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
    else:
        raise AssertionError(f"/watch/{CENC} opened without a viewer token")
