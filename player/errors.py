"""The player simulator's errors, all rooted in ``VodflowError`` (one printable line each)::

VodflowError
├── UsageError
│   ├── BadTrace              a trace file is missing, empty, malformed or never delivers a bit
│   ├── BadMovie              a movie description is missing or malformed
│   └── UnknownAbr            no ABR algorithm of that name
└── PlayerError               exit 2: the title could not be played
    ├── BadManifest           a manifest or the quality sidecar cannot be read as one
    └── FetchFailed           the edge refused or failed a request the player had to make
"""

from __future__ import annotations

from vodflow.errors import UsageError, VodflowError

__all__ = ["BadManifest", "BadMovie", "BadTrace", "FetchFailed", "PlayerError", "UnknownAbr"]


class BadTrace(UsageError):
    """A network trace is missing, empty, malformed, or has no period with bandwidth above zero."""


class BadMovie(UsageError):
    """A movie description (Sabre JSON) is missing or malformed."""


class UnknownAbr(UsageError):
    """No ABR algorithm has that name."""


class PlayerError(VodflowError):
    """The title could not be played."""


class BadManifest(PlayerError):
    """A manifest or the quality sidecar could not be read."""


class FetchFailed(PlayerError):
    """The edge answered a request with an error, or could not be reached."""
