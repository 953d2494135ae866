"""ABR algorithms behind one interface (``base.Abr``); ``make(name)`` builds one by name.

Names: ``throughput``, ``bba``, ``bola``, ``bola_basic``, ``bolae``, ``dynamic``, ``dynamicdash``,
``mpc`` (robust MPC), ``quality`` (quality-aware, maximises VMAF from the sidecar).
"""

from __future__ import annotations

from collections.abc import Callable

from origin.player.abr.base import Abr
from origin.player.abr.bba import Bba
from origin.player.abr.bola import Bola, BolaE
from origin.player.abr.dynamic import Dynamic, DynamicDash
from origin.player.abr.mpc import QualityAware, RobustMpc
from origin.player.abr.throughput import ThroughputRule
from origin.player.errors import UnknownAbr

__all__ = ["ALGORITHMS", "Abr", "make"]

ALGORITHMS: dict[str, Callable[[], Abr]] = {
    "throughput": ThroughputRule,
    "bba": Bba,
    "bola": Bola,
    "bola_basic": lambda: Bola(basic=True),
    "bolae": BolaE,
    "dynamic": Dynamic,
    "dynamicdash": DynamicDash,
    "mpc": RobustMpc,
    "quality": QualityAware,
}


def make(name: str) -> Abr:
    """A fresh algorithm of that name; raises ``UnknownAbr``."""
    try:
        return ALGORITHMS[name]()
    except KeyError:
        raise UnknownAbr(f"no ABR algorithm {name!r} (choose from {', '.join(ALGORITHMS)})") from None
