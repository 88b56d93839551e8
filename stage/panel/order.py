"""The order of a panel's turns on a clock: who answers after whom, and the
pauses between them. The live stage runs it on real time and rehearsal on
its show clock (stage/core/clock.py), so both leave the same gaps: this is
the one place that decides them.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from stage.core.clock import SessionClock

RESPONSE_GAP = 0.6  # from the end of a question to its answer, where the question is on the clock (rehearsal)
BETWEEN_SPEAKERS = 0.5  # from one panelist's last word to the next one's turn
AFTER_SEGMENT = 0.8  # the pause that closes a segment of the run-of-show


class Panel:
    """Panelists answering one at a time, on ``clock``."""

    def __init__(self, clock: SessionClock):
        self.clock = clock

    async def in_turn(
        self, order: list[str], answer: Callable[[str], Awaitable[float]], asked_at: float | None = None
    ) -> float:
        """Each panelist of ``order`` answers in turn (``answer(pid)`` gives the
        end of its words): the first ``RESPONSE_GAP`` after ``asked_at`` (at
        once without one: a live answer's thinking is its gap), each next one
        ``BETWEEN_SPEAKERS`` after the last word before it. Returns when the
        last word has been said: the clock then."""
        end = None
        for pid in order:
            if end is not None:
                await self.clock.sleep_until(end + BETWEEN_SPEAKERS)
            elif asked_at is not None:
                await self.clock.sleep_until(asked_at + RESPONSE_GAP)
            end = await answer(pid)
        if end is not None:
            await self.clock.sleep_until(end)
        return self.clock.now()
