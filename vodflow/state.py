"""Where vodflow keeps its state on this machine: one folder per concern under ``.vodflow/`` in the current
directory, each moved elsewhere by its own environment variable.

=========  ==========================  ==============================================================
folder     variable                    holds
=========  ==========================  ==============================================================
work       ``VODFLOW_WORK``            the flows' title workspaces and Prefect's result records
keys       ``VODFLOW_KEYS``            the key store (never inside a package or the bucket)
origin     ``VODFLOW_ORIGIN``          the embedded SeaweedFS: data, log, ports, credentials
cache      ``VODFLOW_CACHE``           the ladder analysis's probe cache (content-addressed)
live       ``VODFLOW_LIVE``            live channels: config, status, the encoder's segments and playlists
edge       ``VODFLOW_EDGE_SECRET_FILE`` the edge's token secret (this variable names the file itself)
=========  ==========================  ==============================================================
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

__all__ = ["ENV", "ROOT", "State", "edge_secret_file", "folder", "help_text", "secret_help"]

ROOT = Path(".vodflow")


class State(StrEnum):
    WORK = "work"
    KEYS = "keys"
    ORIGIN = "origin"
    CACHE = "cache"
    LIVE = "live"


_SECRET_ENV = "VODFLOW_EDGE_SECRET_FILE"
_SECRET_FILE = ROOT / "edge" / "secret"
ENV = {State.WORK: "VODFLOW_WORK", State.KEYS: "VODFLOW_KEYS", State.ORIGIN: "VODFLOW_ORIGIN",
       State.CACHE: "VODFLOW_CACHE", State.LIVE: "VODFLOW_LIVE"}  # fmt: skip


def folder(which: State, path: str | os.PathLike[str] | None = None) -> Path:
    """The folder for ``which``: ``path`` if given, else its environment variable, else ``.vodflow/<which>``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(ENV[which]) or ROOT / which.value)


def edge_secret_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The edge's token secret file: ``path``, else ``$VODFLOW_EDGE_SECRET_FILE``, else ``.vodflow/edge/secret``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(_SECRET_ENV) or _SECRET_FILE)


def help_text(which: State) -> str:
    """``default $VAR or .vodflow/<which>``, for command-line help."""
    return f"default ${ENV[which]} or {ROOT / which.value}"


def secret_help() -> str:
    """``default $VODFLOW_EDGE_SECRET_FILE or .vodflow/edge/secret``, for command-line help."""
    return f"default ${_SECRET_ENV} or {_SECRET_FILE}"
