"""The one interface every ABR algorithm implements.

The session calls ``start`` once, ``first_quality`` for the first segment, then per segment
``choose(index) -> (rendition, delay_s)``; ``on_delay`` when it waited for room in the buffer,
``on_download`` after every request (finished or abandoned), ``on_seek`` on a seek, and, while a
download is in flight and ``abandons`` is true, ``check_abandon(progress, buffer_level)`` after every
progress step: a rendition index abandons the download (the segment is then requested again at a
fresh ``choose``), ``None`` lets it run.
"""

from __future__ import annotations

from typing import ClassVar

from player.records import Download, Player, Progress

__all__ = ["Abr"]


class Abr:
    """Base class: fetches the lowest rendition first, never delays, never abandons."""

    name: ClassVar[str] = ""
    abandons: ClassVar[bool] = False

    def start(self, player: Player) -> None:
        self.player = player
        self.movie = player.movie

    def first_quality(self) -> int:
        return 0

    def choose(self, index: int) -> tuple[int, float]:
        raise NotImplementedError

    def on_delay(self, seconds: float) -> None:
        """The player waited ``seconds`` for room in the buffer."""

    def on_download(self, download: Download) -> None:
        """A request finished or was abandoned."""

    def on_seek(self, position: float) -> None:
        """The viewer jumped to ``position`` seconds."""

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        return None
