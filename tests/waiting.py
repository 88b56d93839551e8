"""How long a test waits for something that should happen: a limit for
when it never does, never a measure of speed. On a busy machine everything
takes longer, so every limit grows with ``PATIENCE``:
``FIRESIDE_TEST_PATIENCE`` when set (``make test-under-load`` sets it),
else 1 plus the machine's load per core when the tests start."""

from __future__ import annotations

import asyncio
import os
import time


def _patience() -> float:
    given = os.environ.get("FIRESIDE_TEST_PATIENCE")
    if given:
        return max(1.0, float(given))
    return 1.0 + os.getloadavg()[0] / (os.cpu_count() or 1)


PATIENCE = _patience()


def seconds(limit: float) -> float:
    """``limit`` seconds, on this machine."""
    return limit * PATIENCE


def ms(limit: float) -> int:
    """``limit`` seconds, on this machine, in milliseconds (as Playwright counts)."""
    return round(limit * PATIENCE * 1000)


def wait_until(condition, limit: float, step: float = 0.1) -> bool:
    """Until ``condition()`` holds (True), or ``limit`` seconds on this machine pass (False)."""
    deadline = time.monotonic() + seconds(limit)
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


async def until(condition, limit: float, step: float = 0.1) -> bool:
    """``wait_until``, for a test's event loop: the loop runs while it waits."""
    deadline = time.monotonic() + seconds(limit)
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True
