"""The one way ``pipeline/`` runs ffprobe: ``ffprobe -v error -of json ARGS TARGET``, parsed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from vodflow import tools
from vodflow.errors import ProbeError
from vodflow.process import run

__all__ = ["ffprobe"]

_TIMEOUT_S = 120.0


def _last_line(stderr: list[str]) -> str:
    last = next((ln for ln in reversed(stderr) if ln.strip()), "no output")
    return f"ffprobe cannot read it: {last.strip()}"


def ffprobe(
    target: str | os.PathLike[str],
    *args: str,
    timeout: float | None = _TIMEOUT_S,
    explain: Callable[[list[str]], str] = _last_line,
) -> dict[str, Any]:
    """Run ffprobe with ``args`` (``-show_entries``, ``-select_streams`` ...) on ``target`` (a path or a URL)
    and return its JSON document (``{}`` when it printed nothing).

    Raises ``ProbeError`` naming ``target`` when ffprobe exits non-zero (the problem is ``explain`` of its
    stderr lines, by default the last one) or prints unreadable JSON; ``ProcessTimeout`` past ``timeout``.
    """
    argv = [tools.find(tools.Tool.FFPROBE), "-v", "error", "-of", "json", *args, target]
    done = run(argv, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ProbeError(target, explain(done.stderr_lines))
    try:
        return json.loads(done.stdout or "{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(target, f"ffprobe printed unreadable JSON ({exc})") from exc
