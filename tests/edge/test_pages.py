"""The edge's browser pages over real HTTP against a real S3 (SeaweedFS): the catalogue read from the
pointer objects, the watch page's access rules and the token it hands out, and a missing player."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import aiohttp

from edge.pages import DEFAULT_PLAYER_DIR, PLAYER_FILE, VIEWER_COOKIE, PagesConfig
from tests.edge.aio import aio
from tests.edge.conftest import TITLE
from tests.edge.harness import edge, put_title, synthetic_title

OTHER = "clip"


def _pointer(origin, title: str, version: str) -> None:
    """A pointer as ``origin.publish`` writes it (manifest names and publication time)."""
    doc = {"title": title, "version": version, "root": "r", "dash": "manifest.mpd", "hls": "master.m3u8"}
    doc |= {"published_at": "2024-01-02T03:04:05+00:00", "history": []}
    origin.client().put_object(
        Bucket=origin.location.bucket,
        Key=origin.location.key("titles", title, "current.json"),
        Body=json.dumps(doc).encode(),
        ContentType="application/json",
    )


def _catalogue(origin) -> None:
    """``film`` v1 and ``clip`` v7 published; ``draft`` has a version but no pointer (not published)."""
    files = synthetic_title()
    put_title(origin, TITLE, "v1", files)
    _pointer(origin, TITLE, "v1")
    put_title(origin, OTHER, "v7", files)
    _pointer(origin, OTHER, "v7")
    put_title(origin, "draft", "v1", files, current=False)


def _listed(page: str) -> dict[str, str]:
    """title -> the version the catalogue shows for it."""
    rows = re.findall(r'<tr data-title="([^"]+)">.*?<code>([^<]+)</code>', page)
    return dict(rows)


def _watch_config(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="watch-config">(.*?)</script>', page)
    assert m, page
    return json.loads(m.group(1))


def _player_dir(tmp_path):
    d = tmp_path / "shaka"
    d.mkdir()
    (d / PLAYER_FILE).write_text("window.shaka = {};\n")
    return d


@aio
async def test_catalogue_lists_every_pointer_with_version_and_manifest_links(origin, make_config):
    _catalogue(origin)
    async with edge(make_config(require_tokens=False)) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert r.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            page = await r.text()
        assert _listed(page) == {OTHER: "v7", TITLE: "v1"}  # sorted; no pointer, no title
        for title in (TITLE, OTHER):
            assert f'href="/watch/{title}"' in page
            assert f'href="/titles/{title}/manifest.mpd">DASH' in page
            assert f'href="/titles/{title}/master.m3u8">HLS' in page
        assert "2024-01-02T03:04:05+00:00" in page
        # A title unpublished after a listing is gone within the catalogue's 2 s.
        origin.client().delete_object(
            Bucket=origin.location.bucket, Key=origin.location.key("titles", OTHER, "current.json")
        )
        deadline = time.monotonic() + 30  # polled: the 2 s listing cache, plus a loaded machine's slack
        # Polled until the listing is right: on a loaded machine a listing may time out (a 502 page).
        while _listed(page) != {TITLE: "v1"} and time.monotonic() < deadline:
            async with http.get(f"{base}/") as r:
                page = await r.text()
        assert _listed(page) == {TITLE: "v1"}


@aio
async def test_catalogue_shows_public_titles_and_a_viewer_token_shows_the_rest(origin, make_config, signer):
    _catalogue(origin)
    config = make_config(pages=PagesConfig(public=(OTHER,)))
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies of 127.0.0.1, as a browser does
    async with edge(config) as base, aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/") as r:
            page = await r.text()
        assert _listed(page) == {OTHER: "v7"}
        assert "need a viewer token" in page
        viewer = signer.sign("/titles/", ttl=120)
        async with http.get(f"{base}/?token={viewer}") as r:
            assert _listed(await r.text()) == {OTHER: "v7", TITLE: "v1"}
            cookie = r.cookies[VIEWER_COOKIE]
            assert cookie.value == viewer and cookie["httponly"] and cookie["samesite"] == "Strict"
            assert 110 <= int(cookie["max-age"]) <= 120
        async with http.get(f"{base}/") as r:  # the cookie alone now
            assert _listed(await r.text()) == {OTHER: "v7", TITLE: "v1"}
        # A changed MAC character (not the last: its low bits are base64 padding, which decoding ignores).
        tampered = viewer[:-5] + ("B" if viewer[-5] == "A" else "A") + viewer[-4:]
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/?token={tampered}") as r:
            assert _listed(await r.text()) == {OTHER: "v7"} and VIEWER_COOKIE not in r.cookies


@aio
async def test_watch_page_of_a_public_title_carries_a_short_title_scoped_token(
    origin, make_config, signer, keystore, tmp_path
):
    _catalogue(origin)
    config = make_config(pages=PagesConfig(public=("*",), player_dir=_player_dir(tmp_path), token_ttl=300))
    async with edge(config) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/watch/{TITLE}") as r:
            assert r.status == 200 and r.content_type == "text/html"
            assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
            page = await r.text()
        cfg = _watch_config(page)
        assert cfg["manifest"] == f"/titles/{TITLE}/@v1/manifest.mpd"  # pinned to the version it was made for
        assert cfg["license"] == f"/license/{TITLE}"
        assert f'src="/player/{PLAYER_FILE}"' in page and 'src="/static/watch.js"' in page
        token = cfg["token"]
        assert signer.verify(token) == f"/titles/{TITLE}/"
        assert time.time() + 290 <= int(token.split(".")[0]) <= time.time() + 301
        # The token opens this title's manifest and licences, and nothing of another title.
        async with http.get(f"{base}{cfg['manifest']}?token={token}") as r:
            assert r.status == 200
        kid = next(iter(keystore.load(TITLE).keys.values()))
        body = {"kids": [base64.urlsafe_b64encode(kid.kid_bytes).rstrip(b"=").decode()], "type": "temporary"}
        async with http.post(f"{base}/license/{TITLE}?token={token}", json=body) as r:
            assert r.status == 200 and len((await r.json())["keys"]) == 1
        async with http.post(f"{base}/license/{TITLE}", json=body) as r:
            assert r.status == 403
        async with http.get(f"{base}/titles/{OTHER}/manifest.mpd?token={token}") as r:
            assert r.status == 403
        # The page's script and the player are served; nothing else from either folder.
        async with http.get(f"{base}/static/watch.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript" and "registerRequestFilter" in await r.text()
        async with http.get(f"{base}/player/{PLAYER_FILE}") as r:
            assert r.status == 200 and await r.text() == "window.shaka = {};\n"
        for path in ("/player/package.json", "/static/pages.py", "/player/shaka-player.compiled.map"):
            async with http.get(f"{base}{path}") as r:
                assert r.status == 404, path


@aio
async def test_watch_page_needs_a_viewer_token_for_a_title_that_is_not_public(origin, make_config, signer, tmp_path):
    _catalogue(origin)
    config = make_config(pages=PagesConfig(player_dir=_player_dir(tmp_path)))
    async with edge(config) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/watch/{TITLE}") as r:
            assert r.status == 403 and "viewer token" in await r.text()
        other = signer.sign(f"/titles/{OTHER}/", ttl=60)
        async with http.get(f"{base}/watch/{TITLE}?token={other}") as r:
            assert r.status == 403
        viewer = signer.sign("/titles/", ttl=30)  # the whole catalogue, for half a minute
        async with http.get(f"{base}/watch/{TITLE}?token={viewer}") as r:
            assert r.status == 200
            page_token = _watch_config(await r.text())["token"]
        # The page's token covers this title alone and never outlives the viewer's.
        assert signer.verify(page_token) == f"/titles/{TITLE}/"
        assert int(page_token.split(".")[0]) <= int(viewer.split(".")[0])
        expired = signer.sign(f"/titles/{TITLE}/", ttl=1, now=time.time() - 10)
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/watch/{TITLE}?token={expired}") as r:
            assert r.status == 403


@aio
async def test_unknown_title_and_missing_player_get_clean_pages(origin, make_config, tmp_path):
    _catalogue(origin)
    empty = tmp_path / "none"
    empty.mkdir()
    config = make_config(require_tokens=False, pages=PagesConfig(player_dir=empty))
    async with edge(config) as base, aiohttp.ClientSession() as http:
        for title in ("nosuch", "draft", "bad~name"):
            async with http.get(f"{base}/watch/{title}") as r:
                text = await r.text()
                assert r.status == 404 and r.content_type == "text/html", title
                assert "no such title" in text.lower() or "no published title" in text.lower()
                assert "Traceback" not in text
        async with http.get(f"{base}/watch/{TITLE}") as r:
            text = await r.text()
            assert r.status == 503
            hint = re.findall(r"<p>(Shaka Player is not installed: [^<]*)</p>", text)
            assert hint == ["Shaka Player is not installed: cd e2e &amp;&amp; npm ci (make e2e does it), "
                            "or start the edge with --player-dir DIR."]  # fmt: skip
        async with http.get(f"{base}/player/{PLAYER_FILE}") as r:
            assert r.status == 404 and "npm ci" in await r.text()


def test_the_default_player_is_the_one_make_e2e_installs_in_this_checkout():
    # Where `make e2e` puts Shaka Player (e2e/package.json), relative to the repository, whatever the room's depth.
    repo = Path(__file__).resolve().parents[2]
    assert repo / "e2e" / "node_modules" / "shaka-player" / "dist" == DEFAULT_PLAYER_DIR
    assert (repo / "e2e" / "package.json").is_file()
