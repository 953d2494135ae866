"""The binary versions every cached task's key includes: a new ffmpeg or Shaka Packager invalidates them.

Both the ingest's media tasks (``flows.tasks``) and the distributed chunk tasks (``flows.distributed``)
key their cached results with ``versions_digest()``.
"""

from __future__ import annotations

import functools
import hashlib
import json

from vodflow.tools import versions

__all__ = ["versions_digest"]


@functools.cache
def versions_digest() -> str:
    """A 16-hex-digit hash of every bundled binary's version (computed once per process).

    Raises ``ToolError`` (from ``vodflow.tools.versions``) when a binary cannot be found or run."""
    found = {name: i.version for name, i in sorted(versions().items())}
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]
