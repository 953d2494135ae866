"""The packager's errors, each a member of the one vodflow family (``vodflow/errors.py``).

::

    UsageError
    ├── KeyStoreError        no keys for a title, a bad key file, a key folder we cannot write
    └── NotRenditions        the folder given to ``package`` holds no encode.json / rendition files
    MediaError (exit 1)
    └── InvalidPackage       ``validate`` found problems (one line per problem in ``problems``)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from vodflow.errors import MediaError, UsageError

__all__ = ["InvalidPackage", "KeyStoreError", "NotRenditions"]


class KeyStoreError(UsageError):
    """The key store cannot give or keep a title's keys."""


class NotRenditions(UsageError):
    """The input of ``package`` is not a folder of encoded renditions."""


class InvalidPackage(MediaError):
    """A package failed validation; ``problems`` holds one line per problem."""

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[str]) -> None:
        n = len(problems)
        super().__init__(path, f"{n} problem{'s' if n != 1 else ''}: {problems[0] if problems else ''}")
        self.problems = list(problems)
