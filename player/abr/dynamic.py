"""DYNAMIC (dash.js's default since 2.6): throughput rule while the buffer is low, BOLA once it has
grown; both algorithms see every segment so each is ready when it takes over.

- ``Dynamic`` (Sabre's ``dynamic``): BOLA takes over above 10 s of buffer when it would choose at
  least the throughput rule's rendition, and hands back below 10 s when it would choose less;
  abandonment is always the throughput rule's.
- ``DynamicDash`` (Sabre's ``dynamicdash``): BOLA-E above 10 s, throughput below 5 s (hysteresis);
  abandonment by whichever is in charge.
"""

from __future__ import annotations

from player.abr.base import Abr
from player.abr.bola import Bola, BolaE
from player.abr.throughput import ThroughputRule
from player.records import Download, Player, Progress

__all__ = ["Dynamic", "DynamicDash"]


class _Switching(Abr):
    """BOLA (``bola_cls``) and the throughput rule side by side: both see every event; ``is_bola`` says
    which one is in charge."""

    abandons = True
    bola_cls: type[Abr] = Bola

    def __init__(self) -> None:
        self.bola = self.bola_cls()
        self.tput = ThroughputRule()

    @property
    def active(self) -> Abr:
        return self.bola if self.is_bola else self.tput

    def start(self, player: Player) -> None:
        super().start(player)
        self.bola.start(player)
        self.tput.start(player)
        self.is_bola = False

    def on_delay(self, seconds: float) -> None:
        self.bola.on_delay(seconds)
        self.tput.on_delay(seconds)

    def on_download(self, download: Download) -> None:
        self.bola.on_download(download)
        self.tput.on_download(download)

    def on_seek(self, position: float) -> None:
        self.bola.on_seek(position)
        self.tput.on_seek(position)


class Dynamic(_Switching):
    name = "dynamic"
    threshold = 10.0

    def first_quality(self) -> int:
        return self.active.first_quality()

    def choose(self, index: int) -> tuple[int, float]:
        level = self.player.buffer_level()
        b = self.bola.choose(index)
        t = self.tput.choose(index)
        if self.is_bola:
            if level < self.threshold and b[0] < t[0]:
                self.is_bola = False
        elif level > self.threshold and b[0] >= t[0]:
            self.is_bola = True
        return b if self.is_bola else t

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        return self.tput.check_abandon(progress, buffer_level)


class DynamicDash(_Switching):
    name = "dynamicdash"
    bola_cls = BolaE
    low = 5.0
    high = 10.0

    def choose(self, index: int) -> tuple[int, float]:
        level = self.player.buffer_level()
        if self.is_bola and level < self.low:
            self.is_bola = False
        elif not self.is_bola and level > self.high:
            self.is_bola = True
        return self.active.choose(index)

    def check_abandon(self, progress: Progress, buffer_level: float) -> int | None:
        return self.active.check_abandon(progress, buffer_level)
