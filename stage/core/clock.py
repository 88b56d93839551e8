"""The session clock: seconds since a session (or a stage) began.

Every item that moves (audio, phonemes, frames, captions) carries a time on
one clock, so they line up by construction. A clock is anything with
``now()`` and ``sleep_until(t)``: a call and the stage run on real time
(:class:`Clock`), the stage's panelists all on the stage's clock; a
rehearsal runs on its show clock (:class:`ShowClock`), which moves only as
speech is placed, so thinking takes no time on it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class SessionClock(Protocol):
    def now(self) -> float: ...

    async def sleep_until(self, t: float) -> None: ...


class Clock:
    """Real time: seconds since the clock was made."""

    def __init__(self):
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.now()))


class ShowClock:
    """A virtual clock: it reads what it was last moved to, and sleeping moves it."""

    def __init__(self, start: float = 0.0):
        self.t = start

    def now(self) -> float:
        return self.t

    async def sleep_until(self, t: float) -> None:
        self.t = max(self.t, t)
