"""Waiting in tests: poll a condition with a deadline, never a bare sleep standing in for a wait."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str,
    timeout: float = 300.0,
    proc: subprocess.Popen | None = None,
    interval: float = 0.02,
) -> T:
    """Return ``condition()``'s first truthy value; poll every ``interval`` s until ``timeout``.

    Raises ``AssertionError`` naming ``what`` when the deadline passes, or at once when ``proc`` exits
    first (the thing being waited for can no longer happen).
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
