"""Per-title ladders: probe encodes scored with VMAF, a convex hull per codec, rungs chosen from it."""

from ladders.bdrate import RungSaving, TopSaving, bd_rate, savings_per_rung, top_saving
from ladders.fixed import fixed
from ladders.hull import HullSpan, hull, spans
from ladders.model import Hull, Ladder, LadderPolicy, RDPoint, RDPoints, Rung
from ladders.plot import plot
from ladders.select import select

__all__ = ["Hull", "Ladder", "LadderPolicy", "RDPoint", "RDPoints", "Rung"]
# The functions share their modules' names (ladders.select is the function once imported from here);
# import a module's other names with ``from ladders.<module> import ...``.
__all__ += ["HullSpan", "RungSaving", "TopSaving", "bd_rate", "fixed", "hull", "plot", "savings_per_rung"]
__all__ += ["select", "spans", "top_saving"]
