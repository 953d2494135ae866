"""Per-title ladders: probe encodes scored with VMAF, a convex hull per codec, rungs chosen from it."""

from ladders.model import Codec, Hull, Ladder, LadderPolicy, RDPoint, RDPoints, Rung

__all__ = ["Codec", "Hull", "Ladder", "LadderPolicy", "RDPoint", "RDPoints", "Rung"]
