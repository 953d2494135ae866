"""Running async test bodies without a plugin: ``@aio`` turns ``async def test_x(...)`` into a plain test
that runs in a fresh event loop with a deadline, so a hang fails the test instead of the session."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

DEADLINE = 60.0


def aio(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(DEADLINE):
                return await fn(*args, **kwargs)

        return asyncio.run(bounded())

    return run


async def until(cond: Callable[[], bool], *, timeout: float = 10.0, what: str = "condition") -> None:
    """Wait (yielding to the loop) until ``cond()`` holds; fails after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
