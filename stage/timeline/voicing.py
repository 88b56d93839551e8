"""Voicing an answer: the one place where a thinker's events become speech
on a clock. The live call, the stage and rehearsal all voice answers here,
so an answer is made the same way wherever it is heard.

``voice_answer`` reads the thinker's events and passes them on, with every
clause followed by its speech, piece by piece, each placed on the timeline:
a guardrail decision or the answer's end waits for ``ready`` (a draft answer
is thought and voiced at once, but says nothing until its turn is
confirmed), and the persona's time limit ends the answer after the clause
that crosses it ("cut at the time limit").

Live, a voice that fails mid-answer (Piper raising) does not leave the
person in silence: the answer stops there, and the persona's holding line
is said instead, from the voice's memory (``holding``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import AsyncIterator, Callable

from stage.core.events import AnswerEnd, Clause, GuardrailDecision, Speech
from stage.think.clauses import opening
from stage.timeline.placing import Placed, Timeline
from voices.speech import SpeechEngine, SpeechError, remembered

log = logging.getLogger("fireside.voicing")

FIXED = ("holding", "approved")  # lines said again and again: made once, kept


@dataclass(frozen=True)
class Voiced:
    """A piece of a clause's speech, placed on the clock."""

    placed: Placed
    clause: Clause


async def voice_answer(
    answer: AsyncIterator,
    voice: SpeechEngine,
    timeline: Timeline,
    *,
    speaker: str = "",
    limit: float = math.inf,
    ready: asyncio.Event | None = None,
    earliest: Callable[[], float] = lambda: 0.0,
    pool: Executor | None = None,
    on_voiced: Callable[[Speech], None] | None = None,
    holding: Callable[[], str] | None = None,
) -> AsyncIterator:
    """The answer's events, each clause followed by its :class:`Voiced` pieces.

    Speech is made on ``pool`` (a piece at a time, so a long sentence starts
    before it is whole) or, without one, here and from the voice's memory
    (the same words, the same speech: a rehearsal's is repeatable).
    ``holding``: the line said when the voice fails (live only)."""
    timeline.begin(limit)
    first = True  # the answer's first clause: a slow voice says its first phrase apart
    try:
        async for said in answer:
            if isinstance(said, Clause):
                yield said
                try:
                    for text in _said_as(voice, said, first):
                        async for piece in _pieces(voice, said, text, pool):
                            if on_voiced is not None:
                                on_voiced(piece)
                            if ready is not None:
                                await ready.wait()
                            yield Voiced(timeline.place(piece, speaker, said.sources, earliest()), said)
                except VoiceFailed as err:
                    if holding is None:
                        raise
                    async for held in _held(err, holding(), voice, timeline, speaker, ready, earliest, pool):
                        yield held
                    return
                first = False
                if timeline.over_limit:
                    if ready is not None:
                        await ready.wait()
                    yield AnswerEnd("cut at the time limit", sources=said.sources)
                    return  # the persona's time is up: what is said so far stands
            else:
                if ready is not None and (isinstance(said, AnswerEnd) or _flagged(said)):
                    await ready.wait()
                yield said
    finally:
        await answer.aclose()


def voice_now(clause: Clause, voice: SpeechEngine, timeline: Timeline, speaker: str = "") -> list[Voiced]:
    """A clause voiced here and now, from the voice's memory, placed on the timeline."""
    return [Voiced(timeline.place(piece, speaker, clause.sources), clause) for piece in remembered(voice, clause.text)]


class VoiceFailed(RuntimeError):
    """The voice raised while saying a clause (not text it cannot say: that clause is left out)."""


async def _held(
    err: VoiceFailed, line: str, voice: SpeechEngine, timeline: Timeline, speaker: str, ready, earliest, pool
) -> AsyncIterator:
    """The answer stops where the voice failed: the decision, the holding
    ``line`` from the voice's memory (made once, so a voice that fails on
    new text may still say it), the end."""
    log.warning("the voice failed mid-answer, a holding line instead: %s", err)
    yield GuardrailDecision("voice", "hold", "voice-failure", str(err))
    clause = Clause(line, (), "holding")
    try:
        pieces = await asyncio.get_running_loop().run_in_executor(pool, remembered, voice, line)
    except Exception as again:  # noqa: BLE001 - the voice cannot even say that: the answer ends in silence
        log.warning("the voice cannot say the holding line either: %r", again)
        pieces = ()
    if pieces:
        yield clause
    for piece in pieces:
        if ready is not None:
            await ready.wait()
        yield Voiced(timeline.place(piece, speaker, (), earliest()), clause)
    if ready is not None:
        await ready.wait()
    yield AnswerEnd("held")


def _flagged(event) -> bool:
    return isinstance(event, GuardrailDecision) and event.action != "allow"


def _said_as(voice: SpeechEngine, clause: Clause, first: bool) -> list[str]:
    """The texts a clause is voiced as: an answer's first one, where the voice
    is slow, as its first phrase and the rest (``SpeechEngine.opening_words``)."""
    if first and voice.opening_words and clause.kind not in FIXED:
        return opening(clause.text, voice.opening_words)
    return [clause.text]


async def _pieces(voice: SpeechEngine, clause: Clause, text: str, pool: Executor | None) -> AsyncIterator[Speech]:
    """The speech of ``text``, (a part of) ``clause``, piece by piece."""
    if pool is None:  # here and now, from the voice's memory (as ``voice_now``)
        for piece in remembered(voice, text):
            yield piece
        return
    loop = asyncio.get_running_loop()
    try:
        if clause.kind in FIXED:
            for piece in await loop.run_in_executor(pool, remembered, voice, text):
                yield piece
            return
        pieces = voice.synthesize(text)
        while (piece := await loop.run_in_executor(pool, next, pieces, None)) is not None:
            yield piece
    except SpeechError as err:  # live, a clause that cannot be said is left out, not the whole answer
        log.warning("cannot say %r: %s", text, err)
    except Exception as err:  # noqa: BLE001 - the voice itself failed (Piper raised)
        raise VoiceFailed(f"the voice failed on {text!r}: {err!r}") from err
