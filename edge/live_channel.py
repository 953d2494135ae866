"""One live channel as the edge holds it: the shared waits of blocking reloads and streamed segments.

A request for a playlist that does not yet hold ``(M, P)`` waits on one ``asyncio.Event`` per (rendition, M,
P) that every such request shares (``LiveChannel.reloads``), set by the state's listener: a thousand
players waiting for the next part cost one check per change, not a poll each. The listener may run on any
thread (the supervisor refreshes the state where it likes), so it only hands the change to the loop
(``call_soon_threadsafe``); everything else runs on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from packager import LIVE_MPDS, ChannelState

__all__ = ["LiveChannel"]


class LiveChannel:
    """One channel as the edge serves it: its ``state``, the held reloads (``reloads``: one shared wait per
    (rendition, msn, part)), ``changed`` (set and replaced on every change of the state: what streamed
    segments wait on) and the playlists rendered for the state's current version."""

    def __init__(self, name: str, state: ChannelState) -> None:
        self.name = name
        self.state = state
        self.reloads: dict[tuple[str, int, int | None], _Hold] = {}
        self.changed = asyncio.Event()
        self.stopped = False  # the application is shutting down: nothing waits any more
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: Callable[[], None] | None = None
        self._playlists: dict[tuple[str, bool], tuple[int, str]] = {}
        self._mpds: dict[tuple[str, str | None], tuple[int, str | None]] = {}
        self._files: tuple[int, dict[str, tuple[str, int]]] = (-1, {})

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Listen to the state's changes from now on, handing each to ``loop``."""
        self._loop = loop
        self._unlisten = self.state.add_listener(self._from_state)

    def stop(self) -> None:
        """Stop listening (the state may outlive the application) and release every waiter."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._loop = None
        self.stopped = True
        self._wake()

    def _from_state(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop closed between the check and the call: nobody is waiting any more
            self._loop = None

    def _wake(self) -> None:
        """On the loop: wake the streamed segments, and every held reload the state now satisfies."""
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()
        ended = self.ended or self.stopped
        for key in [k for k in self.reloads if ended or self.has(*k)]:
            self.reloads.pop(key).event.set()

    # --- the state, as the handlers ask it -------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.state.ended

    @property
    def hold_s(self) -> float:
        """How long a request may wait for the state: 3 x the target duration (the spec's 503 rule)."""
        return 3.0 * self.state.target_duration

    def locate(self, file: str) -> tuple[str, int] | None:
        """``(rendition, msn)`` of the segment file name ``file``: one in the window, or the next one of a
        rendition (not written yet); None for any other name. The table is rebuilt once per version."""
        version = self.state.version
        if self._files[0] != version:
            table: dict[str, tuple[str, int]] = {}
            for r in self.state.renditions:
                segments = self.state.segments(r.name)
                for seg in segments:
                    table[seg.uri] = (r.name, seg.msn)
                upcoming = self.state.next_uri(r.name)
                if upcoming is not None and segments:
                    table[upcoming] = (r.name, segments[-1].msn + 1)
            self._files = (version, table)
        return self._files[1].get(file)

    def last(self, rendition: str) -> tuple[int, int]:
        """``(msn, part index)`` of the newest part of ``rendition``, ``(-1, -1)`` before the first."""
        last = self.state.last(rendition)
        return (-1, -1) if last is None else (int(last[0]), int(last[1]))

    def has(self, rendition: str, msn: int, part: int | None) -> bool:
        """True once the playlist of ``rendition`` holds part ``part`` of segment ``msn`` (or the whole
        segment when ``part`` is None), or anything later."""
        m, p = self.last(rendition)
        if m != msn:
            return m > msn
        if part is not None:
            return p >= part
        seg = self.state.segment(rendition, msn)
        return seg is not None and bool(seg.complete)

    def playlist(self, rendition: str | None, low_latency: bool) -> str:
        """A playlist (``rendition`` None: the multivariant one), rendered once per version of the state."""
        key = (rendition or "", low_latency)
        version = self.state.version
        made = self._playlists.get(key)
        if made is None or made[0] != version:
            if rendition is None:
                text = self.state.master_playlist(low_latency=low_latency)
            else:
                text = self.state.media_playlist(rendition, low_latency=low_latency)
            made = self._playlists[key] = (version, text)
        return made[1]

    def mpd(self, file: str, licence_url: str | None) -> str | None:
        """The MPD called ``file`` (``LIVE_MPDS``: one of the two SegmentTemplate forms) naming ``licence_url``,
        rendered once per version of the state; ``None`` while there is nothing to list."""
        key = (file, licence_url)
        version = self.state.version
        made = self._mpds.get(key)
        if made is None or made[0] != version:
            if len(self._mpds) > 16:  # licence URLs come from Host headers: keep a handful, not every one
                self._mpds.clear()
            made = self._mpds[key] = (version, self.state.mpd(LIVE_MPDS[file], licence_url=licence_url))
        return made[1]

    async def hold(self, rendition: str, msn: int, part: int | None) -> bool:
        """Wait (sharing one event with every request for the same part) until ``has(...)`` or the channel
        ends; False when ``hold_s`` passes first."""
        if self.ended or self.stopped or self.has(rendition, msn, part):
            return True
        key = (rendition, msn, part)
        hold = self.reloads.get(key)
        if hold is None:
            hold = self.reloads[key] = _Hold()
        hold.waiters += 1
        try:
            async with asyncio.timeout(self.hold_s):
                await hold.event.wait()
            return True
        except TimeoutError:
            return False
        finally:
            hold.waiters -= 1
            if hold.waiters == 0 and self.reloads.get(key) is hold:
                del self.reloads[key]  # nobody left waiting for it

    async def changes(self, deadline: float) -> bool:
        """Wait for the next change of the state; False when the loop's clock passes ``deadline`` first."""
        changed = self.changed
        if self.stopped:
            return False
        try:
            async with asyncio.timeout_at(deadline):
                await changed.wait()
            return True
        except TimeoutError:
            return False


class _Hold:
    __slots__ = ("event", "waiters")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.waiters = 0
