"""Live channels: the supervisor that runs one channel, and start / stop / status from any process.

A channel is a folder under the live state folder (``$VODFLOW_LIVE`` or ``.vodflow/live``)::

    <channel>/channel.json     the ChannelConfig it was started with
    <channel>/status.json      ChannelStatus, rewritten by the supervisor every half second
    <channel>/supervisor.log   the supervisor's log
    <channel>/media/           ffmpeg's MPD, init segments and segments (run k after k restarts writes
                               ``-r<k>`` names: ``pipeline.live.run_file_names``), and its log

``start`` writes the config and starts the supervisor (``python -m flows.live <folder>``) in a session of
its own, so the channel outlives the command that started it, and returns once the first part of every
rendition is served (or raises with the supervisor's last word). The supervisor runs the real-time
encoder (``pipeline.live.LiveEncoder``), keeps the channel's live state (``packager.ChannelState``:
segments, parts, LL-HLS and plain HLS playlists) fresh, serves it over HTTP with the edge's live routes
(``edge.live``: blocking playlist reload, growing segments in chunks), restarts an encoder that died
(the playlists go on after a discontinuity; the media sequence never goes back), and reports a source
that stopped sending within ``stall_s``. ``stop`` asks it to end (SIGTERM): the encoder finishes its
last segment and the playlists end with ``EXT-X-ENDLIST``.

The DVR window (``dvr_s``) is what the playlists and the MPD list; segments that leave it stay
``margin_s`` more and are then deleted (ffmpeg deletes its own run's; the supervisor those of runs before
a restart).

While live, whole files are mirrored to the origin (``origin.live_mirror``, when ``publish`` is set and
the origin is up); on stop the kept window becomes the VOD title ``name`` (``flows.live_vod``: joined,
packaged with the channel's encryption, validated, published atomically). Encryption (cenc, cbcs) uses
the title's key store entry (``packager.live_key``); the routes serve the channel's ClearKey licence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from aiohttp import web
from pydantic import Field, field_validator

from edge.live import add_live, add_packager_routes, open_cors
from flows.live_vod import ARCHIVE_RECORD, LiveArchive, archive_channel
from origin.config import Origin, S3Location
from origin.live_mirror import LiveMirror, MirrorStats
from packager import DASH_MANIFEST, ChannelState, KeyStore, live_key
from pipeline.live import CencKey, LiveEncoder
from pipeline.live_ladder import LiveLadder, LiveRung
from pipeline.live_source import parse_source
from vodflow.errors import UsageError, VodflowError
from vodflow.ids import check_title
from vodflow.process import last_line, spawn, stop_pid
from vodflow.records import Record
from vodflow.state import State, folder

__all__ = ["ChannelConfig", "ChannelStatus", "ChannelSupervisor", "channel_dir", "start", "status", "stop"]

log = logging.getLogger(__name__)

_TICK_S = 0.01  # how often the supervisor looks at the encoder's files: bounds how late a part is announced
_STATUS_EVERY_S = 0.5
_RESTART_EVERY_S = 1.0
_PRUNE_EVERY_S = 1.0
_STOP_WAIT_S = 20.0
_CLOSE_MARGIN_S = 0.5  # stop: MPDs stop announcing the next segment one update period (+ this) before the end
_END_LINGER_S = 4.0  # the ended channel is served this long after its end (two MPD update periods)
_ARCHIVE_WAIT_S = 600.0  # joining, packaging, validating and publishing a DVR window: seconds, not minutes


def _default_ladder() -> LiveLadder:
    # The real-time ladder: 360p 800 kb/s and 180p 250 kb/s.
    return LiveLadder(rungs=[LiveRung(width=640, height=360, bitrate_kbps=800),
                             LiveRung(width=320, height=180, bitrate_kbps=250)])  # fmt: skip


class ChannelConfig(Record):
    """What a channel is: its name (a title ID), its source, the ladder, the window and how to watch it."""

    name: str
    source: str
    ladder: LiveLadder = Field(default_factory=_default_ladder)
    # The DVR window: what the playlists and the MPD list (timeShiftBufferDepth), so a player can seek back
    # this far; at least six segments (RFC 8216bis's sliding window).
    dvr_s: float = Field(300.0, gt=0, le=6 * 3600)
    # Segments that left the window stay this long more for players still fetching them, then go.
    margin_s: float = Field(30.0, ge=0, le=3600)
    encryption: Literal["none", "cenc", "cbcs"] = "none"  # one key per channel, from the key store (live_key)
    # No new part for this long: the source is reported stalled (three 0.5 s parts; the issue asks <= 2 s).
    stall_s: float = Field(1.5, gt=0, le=30)
    target_latency_s: float = Field(2.0, gt=0, le=30)
    port: int = Field(0, ge=0, le=65535)  # the channel's HTTP port (0: any free one)
    # Live-to-VOD on stop (flows.live_vod): the kept segments become the VOD title <name>, published to
    # ``origin`` (as --origin: None is the embedded origin) when ``publish`` is set and the origin is up.
    archive: bool = True
    publish: bool = True
    origin: str | None = None
    vod_title: str | None = None  # the VOD title's ID (default: <name>-<start time, UTC>)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_title(v)

    @field_validator("vod_title")
    @classmethod
    def _vod_title(cls, v: str | None) -> str | None:
        return None if v is None else check_title(v)

    @field_validator("origin")
    @classmethod
    def _origin(cls, v: str | None) -> str | None:
        if v is not None:
            S3Location.parse(v)  # a bad URL is refused at start, not found out when the channel ends
        return v

    @property
    def window_segments(self) -> int:
        """Whole segments in the DVR window (at least 6)."""
        return max(6, math.ceil(self.dvr_s / self.ladder.segment_s - 1e-9))

    @property
    def margin_segments(self) -> int:
        """Segments kept past the window before they are deleted."""
        return math.ceil(self.margin_s / self.ladder.segment_s - 1e-9)


class ChannelStatus(Record):
    """What the supervisor last reported. ``state``: starting, live, stalled, ended or failed."""

    name: str
    state: Literal["starting", "live", "stalled", "archiving", "ended", "failed"]
    pid: int | None
    url: str | None  # http://127.0.0.1:PORT/live/<name>/
    started_at: float
    updated_at: float
    runs: int  # encoder runs so far (1 + restarts)
    segments: int  # complete segments of the first rendition
    speed: float | None  # the current encoder run's media seconds per wall second
    dropped: int  # frames the encoders dropped, all runs
    message: str = ""
    mirror: MirrorStats | None = None  # the channel's files on the origin (None: no origin to mirror to)


def channel_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of channel ``name`` under the live state folder (``root`` or its default)."""
    return folder(State.LIVE, root) / check_title(name)


def _supervisor_alive(pid: int | None, out: Path) -> bool:
    """True when ``pid`` is a running supervisor of the channel folder ``out`` (not a reused pid, not a
    zombie: an exited child of ours the caller has not reaped)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    # An empty command line is a process in its last moments of exit (its memory is gone, it is not yet a
    # zombie): still ours, still alive, so stop() returns only once it is gone.
    return not cmdline or (b"flows.live" in cmdline and os.fsencode(out.resolve()) in cmdline)


def status(name: str, root: str | os.PathLike[str] | None = None) -> ChannelStatus:
    """The channel's last status; a supervisor that vanished without saying so is reported ``failed``.
    Raises ``UsageError`` when there is no such channel."""
    path = channel_dir(name, root) / "status.json"
    if not path.is_file():
        raise UsageError(f"no live channel {name!r} (nothing in {path.parent})")
    st = ChannelStatus.load(path)
    if st.state in ("starting", "live", "stalled", "archiving") and not _supervisor_alive(st.pid, path.parent):
        st = st.model_copy(update={"state": "failed", "message": st.message or "the supervisor is gone"})
    return st


def start(config: ChannelConfig, *, root: str | os.PathLike[str] | None = None, timeout: float = 30.0) -> ChannelStatus:
    """Start ``config``'s channel and return its status once every rendition has a part to serve.

    Raises ``UsageError`` when the channel is already running or its source is malformed or unreachable
    (``parse_source``), and ``VodflowError`` with the supervisor's last message when it fails to start
    (nothing is left running then)."""
    parse_source(config.source)  # a malformed or missing source fails here, before anything starts
    out = channel_dir(config.name, root)
    if (out / "status.json").is_file():
        st = status(config.name, root)
        if st.state in ("starting", "live", "stalled", "archiving"):
            raise UsageError(f"live channel {config.name!r} is already running (pid {st.pid}): stop it first")
    if (out / ARCHIVE_RECORD).is_file():
        done = LiveArchive.load(out / ARCHIVE_RECORD)
        if done.package and done.version is None:  # never delete what was not published
            raise UsageError(
                f"live channel {config.name!r}: its last archive {done.package} is not published; publish it "
                f"(vodflow publish {done.package} {config.name}) or delete it before starting the channel again"
            )
    out.mkdir(parents=True, exist_ok=True)
    for old in ("media", "archive"):  # a stopped channel started again begins a new presentation
        if (out / old).exists():
            shutil.rmtree(out / old)
    (out / ARCHIVE_RECORD).unlink(missing_ok=True)
    (out / "status.json").unlink(missing_ok=True)
    config.save(out / "channel.json")
    with open(out / "supervisor.log", "ab") as logf:
        proc = spawn(
            [sys.executable, "-m", "flows.live", str(out.resolve())], stdout=logf, stderr=logf, new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "status.json").is_file():
            st = ChannelStatus.load(out / "status.json")
            if st.state in ("live", "stalled"):
                return st
            if st.state in ("failed", "ended"):
                proc.wait(5)
                raise VodflowError(f"live channel {config.name!r} did not start: {st.message}")
        if proc.poll() is not None:
            raise VodflowError(f"live channel {config.name!r} did not start: {last_line(out / 'supervisor.log')}")
        time.sleep(0.05)  # the supervisor is another process: its status file is the only signal
    stop_pid(proc.pid, lambda p: _supervisor_alive(p, out), _STOP_WAIT_S)
    raise VodflowError(f"live channel {config.name!r} served nothing within {timeout:g} s; see {out}/supervisor.log")


def stop(name: str, root: str | os.PathLike[str] | None = None, *, timeout: float | None = None) -> ChannelStatus:
    """End the channel: the encoder finishes its segment, the playlists get ``EXT-X-ENDLIST`` and, when
    the config asks for it, the channel becomes a VOD title (``flows.live_vod``); returns the final
    status. ``timeout``: how long to wait for all that before the supervisor is killed (default: 20 s,
    plus 10 min when archiving). Raises ``UsageError`` when there is no such channel."""
    st = status(name, root)
    out = channel_dir(name, root)
    if timeout is None:
        archive = ChannelConfig.load(out / "channel.json").archive if (out / "channel.json").is_file() else False
        timeout = _STOP_WAIT_S + (_ARCHIVE_WAIT_S if archive else 0.0)
    if st.state in ("starting", "live", "stalled", "archiving") and st.pid:
        stop_pid(st.pid, lambda p: _supervisor_alive(p, out), timeout)
    return status(name, root)


# --- the supervisor (runs in its own process) --------------------------------------------------------


class ChannelSupervisor:
    """One channel, running: the encoder, the live state, the HTTP routes; ``await run()`` until
    ``stopping`` is set (SIGTERM or SIGINT in the supervisor process, or the caller in-process: the bench)."""

    def __init__(self, out: Path, config: ChannelConfig) -> None:
        self.out = out
        self.config = config
        self.source = parse_source(config.source)
        self.started_at = time.time()
        self.media = out / "media"
        self.runs = 0
        self.dropped_before = 0  # frames dropped by encoder runs that ended
        self.encoder: LiveEncoder | None = None
        ladder = config.ladder
        self.keystore = KeyStore()  # an encrypted channel's key is its title's (packager.live_key)
        protection, self.key = live_key(self.keystore, config.name, config.encryption, ladder.largest.height)
        self.state = ChannelState(
            self.media, start=datetime.fromtimestamp(self.started_at, UTC), segment_s=ladder.segment_s,
            part_s=ladder.part_s, window_segments=config.window_segments, protection=protection,
            key=self.key.key_bytes if self.key else None,  # cbcs: the state encrypts what the encoder writes
        )  # fmt: skip
        self.url: str | None = None
        self.time_url = ""
        self.stopping = asyncio.Event()
        self.last_media = self.encoder_started = time.monotonic()
        self.last_version = -1
        self.mirror: LiveMirror | None = None
        self.mirrored: set[str] = set()  # the files put to the mirror and not dropped since

    def _start_encoder(self) -> None:
        self.encoder = LiveEncoder(
            self.source,
            self.config.ladder,
            self.media,
            manifest_name=DASH_MANIFEST,
            run=self.runs,  # a restarted encoder writes names of its own; the state numbers them on
            window_segments=self.config.window_segments,
            extra_window_segments=self.config.margin_segments,
            target_latency_s=self.config.target_latency_s,
            utc_timing_url=self.time_url,
            cenc=CencKey(self.key.key, self.key.kid) if self.key and self.config.encryption == "cenc" else None,
        )
        self.runs += 1
        self.encoder_started = self.last_media = time.monotonic()

    def _status(self, state: str, message: str = "") -> ChannelStatus:
        stats = self.encoder.stats() if self.encoder is not None else None
        renditions = self.state.renditions
        return ChannelStatus(
            name=self.config.name,
            state=state,
            pid=os.getpid(),
            url=self.url,
            started_at=self.started_at,
            updated_at=time.time(),
            runs=self.runs,
            segments=sum(s.complete for s in self.state.segments(renditions[0].name)) if renditions else 0,
            speed=stats.speed_measured if stats else None,
            dropped=self.dropped_before + (stats.dropped if stats else 0),
            message=message,
            mirror=self.mirror.stats if self.mirror is not None else None,
        )

    async def run(self, *, handle_signals: bool = True) -> int:
        """Serve the channel until ``stopping`` is set (or SIGTERM/SIGINT with ``handle_signals``); 0 when it
        ended, 1 when it failed (the status file says why)."""
        app = web.Application()
        # The clock the MPDs name, and CORS for any page: the packager's routes are open (tokens are the edge's).
        add_packager_routes(app)
        add_live(app, {self.config.name: self.state}, keystore=self.keystore, cors=open_cors)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.config.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/live/{self.config.name}/"
        self.time_url = f"http://127.0.0.1:{port}/live/time"
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT) if handle_signals else ():
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            self._status("starting").save(self.out / "status.json")
            self._open_mirror()
            self._start_encoder()
            await self._loop()
            return 0
        except VodflowError as exc:
            self._status("failed", str(exc)).save(self.out / "status.json")
            return 1
        except Exception as exc:  # a bug: said in the status at once, not left for a pid check to find
            log.exception("the supervisor failed")
            self._status("failed", f"internal error: {type(exc).__name__}: {exc} (see supervisor.log)").save(
                self.out / "status.json"
            )
            return 1
        finally:
            if self.encoder is not None:
                await loop.run_in_executor(None, self.encoder.stop)
            await runner.cleanup()

    def _prune(self) -> None:
        """Delete what earlier encoder runs left behind the window and its margin. ffmpeg deletes its own
        run's old segments; a restarted encoder forgets the files of the run before, so they are ours."""
        keep = self.config.window_segments + self.config.margin_segments
        current = self.runs - 1
        for r in self.state.renditions:
            segs = self.state.segments(r.name)
            if not segs:
                continue
            newest = max(s.msn for s in segs)
            old = [s for s in segs if s.run != current and s.complete and s.msn <= newest - keep]
            for s in old:
                s.path.unlink(missing_ok=True)
            held = {s.init_uri for s in segs if s not in old}
            for init in {s.init_uri for s in old} - held:
                (self.media / init).unlink(missing_ok=True)

    def _ready(self) -> bool:
        # Live once every rendition has a part a player can fetch.
        renditions = self.state.renditions
        return bool(renditions) and all(self.state.last(r.name) is not None for r in renditions)

    async def _loop(self) -> None:
        next_status = next_prune = 0.0
        state, said = "starting", ""
        restart_at: float | None = None
        closing_until: float | None = None
        while True:
            self.state.refresh()
            now = time.monotonic()
            if self.stopping.is_set():
                if closing_until is None:  # MPDs stop announcing the next segment; players see it, then the end
                    self.state.close_soon()
                    closing_until = now + self.config.ladder.segment_s + _CLOSE_MARGIN_S
                elif now >= closing_until:
                    break
            if self.state.version != self.last_version:
                self.last_version = self.state.version
                self.last_media = now
            assert self.encoder is not None
            if state == "starting" and self.runs == 1 and not self.encoder.alive:
                self.encoder.check()  # a source that never gave a frame (unreachable, refused): fail, say why
            if restart_at is None and not self.encoder.alive:
                # Restart: the new run's segments follow a discontinuity; the media sequence goes on. An
                # encoder that dies at once (a source that refuses it) is retried at most once a second.
                log.warning("encoder exited (%s); restarting", self.encoder.returncode)
                self.dropped_before += self.encoder.stats().dropped
                self.encoder.stop()
                restart_at = max(now, self.encoder_started + _RESTART_EVERY_S)
            if restart_at is not None and now >= restart_at:
                restart_at = None
                self._start_encoder()
            if state == "starting" and self._ready():
                state = "live"
            elif state in ("live", "stalled"):
                state = "stalled" if now - self.last_media > self.config.stall_s else "live"
            if now >= next_prune:
                self._prune()
                self._sync_mirror()
                next_prune = now + _PRUNE_EVERY_S
            if now >= next_status or state != said:  # a change of state is reported at once
                message = "no media from the source for %.1f s" % (now - self.last_media) if state == "stalled" else ""
                self._status(state, message).save(self.out / "status.json")
                next_status, said = now + _STATUS_EVERY_S, state
            await asyncio.sleep(_TICK_S)
        assert self.encoder is not None
        await asyncio.get_running_loop().run_in_executor(None, self.encoder.stop)
        self.state.refresh()
        self.state.end()
        ended_at = time.monotonic()
        self._sync_mirror()
        message = ""
        if self.config.archive:
            self._status("archiving", "turning the channel into a VOD title").save(self.out / "status.json")
            archived = await asyncio.get_running_loop().run_in_executor(None, self._archive)
            message = archived.message
        if self.mirror is not None:
            mirror = self.mirror
            await asyncio.get_running_loop().run_in_executor(None, mirror.close)
            if self.config.archive and archived.version is not None:
                # The VOD title holds the window now; the mirror's copy of it goes (a failure keeps it).
                with contextlib.suppress(VodflowError):
                    await asyncio.get_running_loop().run_in_executor(None, mirror.remove_all)
        # Players still watching reload their playlists (one per rendition) and the MPD: they must find the
        # ended ones (EXT-X-ENDLIST, a static MPD), not a closed port, or they end on an error (e2e/tests).
        await asyncio.sleep(max(0.0, ended_at + _END_LINGER_S - time.monotonic()))
        self._status("ended", message).save(self.out / "status.json")

    def _open_mirror(self) -> None:
        if not self.config.publish:
            return
        try:
            self.mirror = LiveMirror(Origin.resolve(self.config.origin), self.config.name)
        except VodflowError as exc:
            log.warning("no origin mirror for %s (its files stay on this machine only): %s", self.config.name, exc)

    def _sync_mirror(self) -> None:
        """Put what became whole since the last look, drop what left the folder."""
        if self.mirror is None:
            return
        for r in self.state.renditions:
            for s in self.state.segments(r.name):
                if s.complete and s.uri not in self.mirrored and s.path.is_file():
                    init = self.state.init_segment(s.init_uri)  # as players get it (cbcs, pssh)
                    if s.init_uri not in self.mirrored and init is not None:
                        self.mirror.put(self.media / s.init_uri, init)
                        self.mirrored.add(s.init_uri)
                    self.mirror.put(s.path)
                    self.mirrored.add(s.uri)
        for name in sorted(self.mirrored):
            if not (self.media / name).exists():
                self.mirror.drop(name)
                self.mirrored.discard(name)

    def _archive(self) -> LiveArchive:
        c = self.config
        cenc = self.key.key if self.key is not None and c.encryption == "cenc" else None
        title = c.vod_title or f"{c.name}-{datetime.fromtimestamp(self.started_at, UTC):%Y%m%dT%H%M%SZ}"
        return archive_channel(
            self.out, self.state, c.ladder, title=title, encryption=c.encryption, origin=c.origin,
            publish_it=c.publish, keystore=self.keystore, cenc_key=cenc,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.live <channel folder>``: run the supervisor of the channel configured there."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = ChannelConfig.load(out / "channel.json")
        return asyncio.run(ChannelSupervisor(out, config).run())
    except VodflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
