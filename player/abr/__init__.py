"""ABR algorithms behind one interface (``base.Abr``); ``make(name)`` builds one by name.

Names: ``throughput``, ``bba``, ``bola``, ``bola_basic``, ``bolae``, ``dynamic``, ``dynamicdash``,
``mpc`` (robust MPC), ``quality`` (quality-aware, maximises VMAF from the sidecar).
"""

from __future__ import annotations

from collections.abc import Callable

from player.abr.base import Abr
from player.abr.bba import Bba
from player.abr.bola import Bola, BolaE
from player.abr.dynamic import Dynamic, DynamicDash
from player.abr.mpc import QualityAware, RobustMpc
from player.abr.throughput import ThroughputRule
from player.errors import UnknownAbr

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
