"""A live channel's media segments at the edge: complete ones as plain files, growing ones streamed.

A segment is served up to the bytes the channel state vouches for (the end of its last complete chunk,
or the whole file once the state has closed it), never bytes ffmpeg is still in the middle of writing.

- complete: 200 (or 206 for one ``Range``), ``Cache-Control: public, max-age=86400, immutable``;
- growing, no ``Range`` or an open-ended one (``bytes=N-``, what a byte-range ``EXT-X-PRELOAD-HINT`` and
  an LL-DASH player ask for): 200/206 with chunked transfer, the bytes present at once, then more on every
  change of the state until the segment is complete (``no-store``);
- growing, a closed range of bytes not there yet: answered once they are (``Content-Range: .../*``);
- the next segment of a rendition (not written yet): waits for it to appear, then as above;
- any other segment not in the window: 404 at once.

A request the state does not move forward for 3 x the target duration is answered 503, or, once its head
is sent, cut off without the final chunk so the client cannot take a truncated segment for a whole one.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from edge.http import RangeNotSatisfiable, parse_range
from edge.live_channel import LiveChannel

__all__ = ["GROWING_CACHE", "SEGMENT_CACHE", "serve_segment"]

SEGMENT_CACHE = "public, max-age=86400, immutable"
GROWING_CACHE = "no-store"
_UNKNOWN_END = 2**53 - 1  # RFC 8673: the last byte named for a live answer whose end is not known yet
_RANGE = re.compile(r"bytes=(\d{1,19})-(\d{0,19})")
_READ = 256 << 10  # most bytes read from a segment file per write of a streamed answer


def _gone() -> web.HTTPNotFound:
    """The answer for a segment outside the window: one that left it, or one that will never exist."""
    return web.HTTPNotFound(text="no such segment (outside the live window)\n")


class _View:
    """Where one segment of one rendition stands: ``end`` (bytes servable), ``complete``, and ``path`` (its
    file now: ffmpeg renames a growing ``.tmp`` to the final name when it is complete)."""

    def __init__(self, channel: LiveChannel, rendition: str, msn: int, file: str) -> None:
        self.channel, self.rendition, self.msn, self.file = channel, rendition, msn, file
        self.end, self.complete, self.path = 0, False, None

    def look(self) -> bool:
        """Update the view; False while the segment does not exist yet. Raises 404 when it never will (or no
        longer does)."""
        seg = self.channel.state.segment(self.rendition, self.msn)
        if seg is None:
            if self.channel.ended or self.channel.last(self.rendition)[0] >= self.msn:
                raise _gone()
            return False
        if seg.uri != self.file:
            # The next segment of an encoder that died: the restarted one's first segment took its msn (under
            # a name of its run) and starts its own timeline. It is not the segment asked for.
            raise _gone()
        self.end, self.complete, self.path = seg.size, seg.complete, seg.path
        return True

    def read(self, first: int, end: int) -> bytes:
        """Bytes ``first`` to ``end`` (exclusive) of the segment. Raises 404 when its file is gone."""
        for _ in range(3):  # renamed from .tmp between the look and the open: look again
            try:
                # A synchronous read: the bytes were written a moment ago and sit in the page cache.
                with open(self.path, "rb") as fh:
                    fh.seek(first)
                    return fh.read(end - first)
            except FileNotFoundError:
                self.look()
        raise _gone()


async def serve_segment(
    request: web.Request, channel: LiveChannel, file: str, headers: dict[str, str]
) -> web.StreamResponse:
    """The answer to ``GET|HEAD`` of the media segment ``file`` of ``channel`` (see the module docstring).
    Raises 404, 416 or 503 as ``web.HTTPException``s."""
    where = channel.locate(file)
    if where is None:
        raise web.HTTPNotFound(text="no such segment\n")
    rendition, msn = where
    view = _View(channel, rendition, msn, file)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + channel.hold_s
    if not view.look() and msn != channel.last(rendition)[0] + 1:
        raise _gone()
    rng = request.headers.get("Range")
    first, last = 0, None
    while True:
        if view.end:  # exists
            if view.complete:
                return _complete(request, view, headers)
            if rng is not None:
                first, last = _growing_range(rng)
            if (last is None and view.end > first) or (last is not None and view.end > last):
                break
        if not await channel.changes(deadline):
            raise web.HTTPServiceUnavailable(text=f"segment {file} did not grow for {channel.hold_s:g} s\n")
        view.look()
    headers["Cache-Control"] = GROWING_CACHE
    if last is not None:  # a closed range, all there now (a part of a growing segment)
        headers["Content-Range"] = f"bytes {first}-{last}/*"
        return web.Response(status=206, body=view.read(first, last + 1), headers=headers)
    return await _stream(request, channel, view, first, rng is not None, headers)


def _complete(request: web.Request, view: _View, headers: dict[str, str]) -> web.Response:
    headers["Cache-Control"] = SEGMENT_CACHE
    headers["Accept-Ranges"] = "bytes"
    rng = request.headers.get("Range")
    size = view.end
    if rng is None:
        return web.Response(body=view.read(0, size), headers=headers)
    try:
        first, last = parse_range(rng, size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return web.Response(status=206, body=view.read(first, last + 1), headers=headers)


def _growing_range(header: str) -> tuple[int, int | None]:
    """``(first, last or None)`` of one ``bytes=`` range on a segment whose length is not known yet: a
    suffix range cannot be answered before the end exists, so it is 416 like anything malformed."""
    m = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if m is None or (m.group(2) and int(m.group(2)) < int(m.group(1))):
        raise web.HTTPRequestRangeNotSatisfiable(text="range not satisfiable on a growing segment\n")
    return int(m.group(1)), (int(m.group(2)) if m.group(2) else None)


async def _stream(
    request: web.Request, channel: LiveChannel, view: _View, first: int, ranged: bool, headers: dict[str, str]
) -> web.StreamResponse:
    """Send ``view``'s bytes from ``first`` as they come, until the segment is complete."""
    response = web.StreamResponse(status=206 if ranged else 200, headers=headers)
    if ranged:
        response.headers["Content-Range"] = f"bytes {first}-{_UNKNOWN_END}/*"
    response.enable_chunked_encoding()
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    sent = first
    loop = asyncio.get_running_loop()
    try:
        while True:
            while sent < view.end:
                upto = min(view.end, sent + _READ)
                await response.write(view.read(sent, upto))
                sent = upto
            if view.complete:
                await response.write_eof()
                return response
            if not await channel.changes(loop.time() + channel.hold_s):
                break
            view.look()
    except web.HTTPNotFound:
        pass  # deleted while it was being sent
    except ConnectionResetError:
        return response  # the client hung up (a player that switched, an edge shutting down)
    # Cut off without the last chunk: a client must not take what it has for the whole segment.
    if request.transport is not None:
        request.transport.abort()
    return response
