"""Fixtures for packaging: one tiny multi-codec, multi-language title encoded once, packaged once per
encryption, and a real local HTTP server that serves the packages and answers key requests."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path

import pytest

from packager.keys import KeyStore
from packager.package import package
from pipeline.encode import encode
from pipeline.renditions import EncodeResult, RateControl, Rendition
from tests import media

FAST = {"h264": "veryfast", "hevc": "superfast", "av1": "12", "vp9": "8"}
# 25 fps, 10-frame GOPs: 0.8 s segments give 0.8 + 0.8 + 0.4 s over the 2 s title.
GOP, SEGMENT = 0.4, 0.8
RUNGS = [("h264", 320, 180), ("h264", 160, 90), ("hevc", 320, 180), ("vp9", 320, 180), ("av1", 320, 180)]
ENCRYPTIONS = ("none", "cenc", "cbcs", "aes128")


def rendition(codec: str, w: int, h: int) -> Rendition:
    rate = RateControl(mode="capped_crf", crf=30, maxrate_kbps=400)
    return Rendition(codec=codec, width=w, height=h, preset=FAST[codec], gop_seconds=GOP, rate=rate)


class _Handler(http.server.SimpleHTTPRequestHandler):
    store: KeyStore
    requests: list[str]

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        m = re.fullmatch(r"/keys/([^/]+)/([0-9a-f]{32})", self.path)
        if m is None:
            return super().do_GET()
        try:
            key = self.store.load(m.group(1)).by_kid(m.group(2)).key_bytes
        except Exception:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "16")
        self.end_headers()
        self.wfile.write(key)


class Server:
    """A threaded HTTP server on 127.0.0.1: files under ``root``, keys from ``store`` at /keys/TITLE/KID."""

    def __init__(self, root: Path, store: KeyStore) -> None:
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"store": store, "requests": self.requests})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="session")
def pk_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packages")


@pytest.fixture(scope="session")
def keystore(pk_root) -> KeyStore:
    return KeyStore(pk_root / "keys")


@pytest.fixture(scope="session")
def server(pk_root, keystore):
    s = Server(pk_root, keystore)
    yield s
    s.close()


@pytest.fixture(scope="session")
def renditions(pk_root) -> EncodeResult:
    """H.264 x2, HEVC, VP9, AV1 + AAC/Opus in English and French (from 5.1), from a clip with subtitles."""
    src_dir = pk_root / "src"
    src_dir.mkdir()
    src = media.multilang(src_dir)
    out = pk_root / "renditions"
    result = encode(src, [rendition(*r) for r in RUNGS], out, show_progress=False)
    result.save(out / "encode.json")
    return result


@pytest.fixture(scope="session")
def packages(pk_root, renditions, keystore, server):
    """encryption -> Package, every one served by ``server`` under /<encryption>/."""
    return {
        e: package(
            pk_root / "renditions",
            pk_root / e,
            encrypt=e,
            segment_seconds=SEGMENT,
            keystore=keystore,
            key_uri=f"{server.url}/keys/{{title}}/{{kid}}",
        )
        for e in ENCRYPTIONS
    }
