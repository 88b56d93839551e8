"""The order of a panel's turns on a clock: who answers after whom, and the
pauses between them. The live stage runs it on real time and rehearsal on
its show clock (stage/core/clock.py), so both leave the same gaps: this is
the one place that decides them.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from stage.core.clock import SessionClock
from stage.panel.show import Segment, Show
from stage.think.persona import PersonaCard

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


SPOKEN_WORDS_PER_SECOND = 3.0  # the voices' pace (the demo's rehearsal: 2.3 to 3.6, 3.0 on average)
TYPICAL_ANSWER = 12.0  # seconds of an unscripted answer (the demo's rehearsed ones: 8 to 13 s)


def likely_seconds(segment: Segment, show: Show, cards: dict[str, PersonaCard]) -> float:
    """About how long a segment of the run-of-show takes: its words at the
    voices' pace, each answer (its scripted words, else a typical answer
    within the persona's time limit), and the gaps this panel leaves."""

    def said(text: str) -> float:
        return len(text.split()) / SPOKEN_WORDS_PER_SECOND

    if segment.kind == "line":
        return said(segment.line) + AFTER_SEGMENT
    seconds = said(segment.text) if segment.text else _wav_seconds(show.wav_path(segment))
    if segment.kind == "ask":
        answers = [
            said(segment.answer) if segment.answer else min(cards[pid].max_answer_seconds, TYPICAL_ANSWER)
            for pid in show.addressed(segment)
        ]
        seconds += RESPONSE_GAP + sum(answers) + BETWEEN_SPEAKERS * (len(answers) - 1)
    return seconds + AFTER_SEGMENT


def _wav_seconds(path) -> float:
    """A recording's length (0 where it cannot be told without decoding it)."""
    import wave

    try:
        with wave.open(str(path)) as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error):
        return 0.0
