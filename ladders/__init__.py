"""Per-title ladders: probe encodes scored with VMAF, a convex hull per codec, rungs chosen from it.

Modules (names re-exported here in brackets):

- ``model``: the records (``Hull``, ``Ladder``, ``LadderPolicy``, ``RDPoint``, ``RDPoints``, ``Rung``)
- ``errors``: the room's errors (``LadderError``, ``CurveError``, ``FrameTooSmall``)
- ``analyze``: the analysis stage, ``analyze(source, codecs, policy)`` -> ``RDPoints``; its parts:
  ``policy`` (``AnalysisPolicy``), ``probes`` (the probe grid, ``sizes``), ``excerpts`` (placing and
  cutting excerpts), ``cache`` (the content-hash cache, ``source_hash``, ``ProbeResult``), ``probing``
  (measuring in parallel, pooling into points), ``extend`` (the adaptive ends)
- ``hull``: the upper convex hull (``hull``, ``spans``, ``HullSpan``)
- ``select``: rungs chosen from the hulls (``select``)
- ``per_title``: analysis aimed at the ladder's target, then selection, in one call
- ``fixed``: the fixed reference ladder (``fixed``, ``fixed_ladder``)
- ``verify``: encoding a ladder and measuring every rung (``encode_ladder``, ``measure``)
- ``bdrate``: BD-rate and savings between curves (``bd_rate``, ``savings_per_rung``, ``top_saving``,
  ``RungSaving``, ``TopSaving``)
- ``plot``: a PNG per title and codec (``plot``)
- ``table``: a ladder as table rows (``ladder_rows``, ``LADDER_HEADER``), for the CLI and the artifacts

ffmpeg runs only in ``pipeline`` (``pipeline.excerpts`` cuts the excerpts); nothing here starts a process.
"""

from ladders.bdrate import RungSaving, TopSaving, bd_rate, savings_per_rung, top_saving
from ladders.errors import CurveError, FrameTooSmall, LadderError
from ladders.fixed import fixed, fixed_ladder
from ladders.hull import HullSpan, hull, spans
from ladders.model import Hull, Ladder, LadderPolicy, RDPoint, RDPoints, Rung
from ladders.plot import plot
from ladders.select import select

__all__ = ["CurveError", "FrameTooSmall", "LadderError"]
__all__ += ["Hull", "Ladder", "LadderPolicy", "RDPoint", "RDPoints", "Rung"]
# The functions share their modules' names (ladders.select is the function once imported from here);
# import a module's other names with ``from ladders.<module> import ...``.
__all__ += ["HullSpan", "RungSaving", "TopSaving", "bd_rate", "fixed", "fixed_ladder", "hull", "plot"]
__all__ += ["savings_per_rung", "select", "spans", "top_saving"]
