"""Base class for the typed records that flow between stages (MediaInfo, QAReport, Ladder, ...)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict

__all__ = ["Record"]


class Record(BaseModel):
    """An immutable record, serialised as JSON in a title's workspace.

    Unknown fields are refused, so a record written by a newer vodflow fails loudly instead of
    silently losing data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> str:
        """Return the record as indented JSON."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """Parse a record from JSON; raises ``pydantic.ValidationError`` on a malformed document."""
        return cls.model_validate_json(text)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the record to ``path`` atomically (temp file + rename) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(self.to_json())
                fh.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a record saved by :meth:`save`."""
        return cls.from_json(Path(path).read_bytes())
