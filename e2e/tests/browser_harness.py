"""What the browser tests share: a static server on 127.0.0.1, the Chromium driver and the verdict.

The server maps ``/e2e/`` to this folder (player page, scripts, node_modules), ``/pkg/`` to the folder of
packages the tests made, and ``/keys/<name>`` to AES-128 keys held in memory (the edge's key URI). It
logs every request with its status, so a failing case can say what the player fetched. ``Server.proxy``
passes a path prefix on to another server (a live channel's supervisor), streaming each answer as it
arrives, so the page and the channel share one origin. The live pages (``LiveCase``, ``play_live``,
``live_problems``) are in ``live_harness``.
"""

from __future__ import annotations

import http.server
import json
import logging
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

E2E_DIR = Path(__file__).resolve().parent.parent
PROBE = E2E_DIR / "probe.js"
CHROMIUM = Path("/usr/bin/chromium")

# A passing case: the first frame within FIRST_FRAME_MS of the page starting the player, at least
# MIN_PLAYED_S of media played, frames decoded, the picture changing by more than MIN_PICTURE_CHANGE
# (mean absolute luma difference, 0-255, between the first capture and a later one) and not flat.
FIRST_FRAME_MS = 5000
MIN_PLAYED_S = 4.0
MIN_PICTURE_CHANGE = 2.0
MIN_PICTURE_STD = 8.0

_RUN_TIMEOUT_S = 900
_PROXY_TIMEOUT_S = 30  # longer than any blocking playlist reload the channel holds (3 target durations)
_TYPES = {
    ".mpd": "application/dash+xml",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".vtt": "text/vtt",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
}


@dataclass
class Server:
    """A running test server; ``url`` is its origin, ``requests`` every (path, status) it answered."""

    url: str
    packages: Path
    keys: dict[str, bytes]
    requests: list[tuple[str, int]] = field(default_factory=list)
    upstreams: dict[str, str] = field(default_factory=dict)  # path prefix -> the origin it is passed to

    def fetched(self, prefix: str) -> list[tuple[str, int]]:
        return [(p, s) for p, s in self.requests if p.startswith(prefix)]

    def proxy(self, prefix: str, origin: str) -> None:
        """Pass every request under ``prefix`` (``/live/<channel>/``) on to ``origin`` (``http://host:port``)."""
        self.upstreams[prefix] = origin.rstrip("/")


def _handler(server: Server) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **_TYPES}

        def translate_path(self, path: str) -> str:
            rel = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
            for prefix, root in (("/e2e/", E2E_DIR), ("/pkg/", server.packages)):
                if rel.startswith(prefix):
                    target = (root / rel[len(prefix) :]).resolve()
                    if target.is_relative_to(root.resolve()):
                        return str(target)
            return str(server.packages / ".nothing-here")

        def do_GET(self) -> None:
            rel = urllib.parse.urlsplit(self.path).path
            for prefix, origin in server.upstreams.items():
                if rel.startswith(prefix):
                    self._pass_on(origin)
                    return
            if rel.startswith("/keys/"):
                key = server.keys.get(rel[len("/keys/") :])
                if key is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(key)))
                self.end_headers()
                self.wfile.write(key)
                return
            super().do_GET()

        def do_POST(self) -> None:  # a live channel's ClearKey licence
            rel = urllib.parse.urlsplit(self.path).path
            for prefix, origin in server.upstreams.items():
                if rel.startswith(prefix):
                    self._pass_on(origin, self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                    return
            self.send_error(405)

        def _pass_on(self, origin: str, body: bytes | None = None) -> None:
            # HTTP/1.0 to the browser: the body ends when the connection closes, so a growing segment is
            # forwarded chunk by chunk as the channel sends it, with no length known in advance. The Host
            # goes along: the channel names absolute URLs (an MPD's licence URL) by the one it was asked by.
            headers = {k: v for k, v in self.headers.items() if k.lower() in ("range", "host", "content-type")}
            request = urllib.request.Request(origin + self.path, data=body, headers=headers)
            try:
                upstream = urllib.request.urlopen(request, timeout=_PROXY_TIMEOUT_S)
            except urllib.error.HTTPError as exc:
                upstream = exc
            except OSError as exc:  # the channel is gone (stopped): what a player sees from a dead origin
                self.send_error(502, f"upstream: {exc}")
                return
            with upstream:
                self.send_response(upstream.status)
                for name in ("Content-Type", "Content-Range", "Content-Length", "Accept-Ranges"):
                    if upstream.headers.get(name):
                        self.send_header(name, upstream.headers[name])
                self.end_headers()
                while chunk := upstream.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()

        def end_headers(self) -> None:
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            server.requests.append((urllib.parse.urlsplit(self.path).path, int(code) if str(code).isdigit() else 0))

        def log_message(self, format: str, *args: object) -> None:
            log.debug("server: " + format, *args)

    return Handler


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Players abort downloads they no longer need (an ABR switch, the page closing): not our error.
        log.debug("server: connection from %s ended early", client_address, exc_info=True)


@contextmanager
def serve(packages: Path, keys: Mapping[str, bytes] | None = None) -> Iterator[Server]:
    """Serve ``packages`` (and this folder) on 127.0.0.1 at a free port until the block ends."""
    server = Server(url="", packages=packages, keys=dict(keys or {}))
    httpd = _HTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def wrong_key(key: bytes) -> bytes:
    """``key`` with its first byte flipped: a key of the right shape that decrypts nothing."""
    return bytes([key[0] ^ 0xFF]) + key[1:]


@dataclass(frozen=True)
class Case:
    """One playback: ``player`` (shaka, dashjs, hlsjs) plays ``package/manifest`` (under /pkg/).

    ``clearkey``: hand the player the package's ClearKey keys (cenc, cbcs); ``wrong_key``: hand it each
    of those keys with its first byte flipped instead.
    """

    id: str
    player: str
    package: str
    manifest: str
    codec: tuple[str, ...]  # the codec string's prefixes the player may choose: avc1, vp09, av01
    clearkey: bool = False
    wrong_key: bool = False
    seconds: float = 6.0
    timeout_ms: int = 20000

    def url(self, origin: str, keys: Mapping[str, str]) -> str:
        query = {
            "player": self.player,
            "manifest": f"/pkg/{self.package}/{self.manifest}",
            "seconds": f"{self.seconds:g}",
            "timeout": str(self.timeout_ms),
        }
        if self.clearkey:
            if not keys:
                raise ValueError(f"{self.id}: package {self.package} has no keys")
            if self.wrong_key:
                keys = {kid: wrong_key(bytes.fromhex(key)).hex() for kid, key in keys.items()}
            query["clearkeys"] = json.dumps(dict(keys))
        return f"{origin}/e2e/player.html?{urllib.parse.urlencode(query)}"


def play(
    cases: list[Case], origin: str, keys: Mapping[str, Mapping[str, str]], work: Path, *, concurrency: int = 3
) -> dict[str, dict]:
    """Play every case in one headless Chromium (e2e/run.mjs); return each page's findings by case id.

    ``keys``: package name -> {key id hex: key hex} for the ClearKey cases.
    """
    return run_pages([{"id": c.id, "url": c.url(origin, keys.get(c.package, {}))} for c in cases], work, concurrency)


def run_pages(
    pages: list[dict], work: Path, concurrency: int = 3, *, on_line: Callable[[str], None] | None = None
) -> dict[str, dict]:
    """Open each ``{"id", "url"[, "init", "networkKbps", "shotEveryMs"]}`` in one headless Chromium
    (e2e/run.mjs); each page's findings by id. ``init``: a script run before the page's own (``PROBE``
    measures pages other than player.html). ``on_line`` is called with each line run.mjs writes to stderr
    as it comes (its phase lines: ``e2e: <id>: phase <phase>``), on a thread of its own."""
    work.mkdir(parents=True, exist_ok=True)
    cases_file, results_file = work / "cases.json", work / "results.json"
    cases_file.write_text(json.dumps(pages))
    cmd = ["node", str(E2E_DIR / "run.mjs"), str(cases_file), str(results_file)]
    cmd += ["--concurrency", str(concurrency), "--shots", str(work / "shots")]
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        try:
            proc.wait(timeout=_RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    stderr = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"e2e/run.mjs exited {proc.returncode}:\n{stderr[-4000:]}")
    log.info("run.mjs:\n%s", stderr)
    return json.loads(results_file.read_text())["results"]


def problems(case: Case, r: Mapping) -> list[str]:
    """Everything a viewer would call broken about one playback; empty means it played."""
    found = playback_problems(r)
    sizes = [(s["width"], s["height"]) for s in r.get("frameSizes") or []]
    if len(set(sizes)) < 2:
        found.append(f"no ABR switch reached the screen (frame sizes {sizes})")
    reported = {s.get("to") for s in r.get("switches") or []} - {None}
    if len(reported) < 2:
        found.append(f"the player reported no switch between renditions (heights {sorted(reported)})")
    if not str(r.get("codec") or "").startswith(case.codec):
        found.append(f"the player chose codec {r.get('codec')!r}, not {' or '.join(case.codec)}")
    return found


def playback_problems(r: Mapping) -> list[str]:
    """What a viewer would call broken whatever the player: no first frame in time, too little played, no
    decoded frames, a fatal error, a picture that never changes or is flat. Empty means it played."""
    found = []
    if not r.get("done"):
        return [f"the page never finished: {r.get('fatal')}"]
    if r.get("doneReason") == "timeout":
        found.append(f"playback stalled: {r.get('currentTime', 0):.2f} s reached in {r.get('elapsedMs')} ms")
    if r.get("fatal"):
        found.append(f"fatal player error: {r['fatal']}")
    found += page_problems(r, first_frame_ms=FIRST_FRAME_MS, min_played_s=MIN_PLAYED_S)
    captures = r.get("captures") or []
    change = max((c["diffFromFirst"] for c in captures), default=0.0)
    if change <= MIN_PICTURE_CHANGE:
        found.append(f"the picture did not change (largest difference {change:.2f} over {len(captures)} captures)")
    flat = [c for c in captures if c["std"] < MIN_PICTURE_STD]
    if flat:
        found.append(f"{len(flat)} of {len(captures)} captures are flat (blank or garbage)")
    return found


def page_problems(r: Mapping, *, first_frame_ms: int, min_played_s: float) -> list[str]:
    """What any player page (VOD or live) calls broken: a video element or page error, no first frame
    within ``first_frame_ms``, less than ``min_played_s`` played, no decoded frame."""
    found = []
    if r.get("videoError"):
        found.append(f"video element error: {r['videoError']}")
    if r.get("pageErrors"):
        found.append(f"page errors: {r['pageErrors']}")
    first = r.get("firstFrameMs")
    if first is None:
        found.append("no frame was ever presented")
    elif first > first_frame_ms:
        found.append(f"first frame after {first} ms (limit {first_frame_ms})")
    if (r.get("playedSeconds") or 0) < min_played_s:
        found.append(f"only {r.get('playedSeconds') or 0:.2f} s of media played (need {min_played_s:g})")
    if not r.get("totalVideoFrames"):
        found.append("no video frame was decoded")
    return found
