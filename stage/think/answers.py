"""The ways an answer is made, for the thinker (``stage.think.thinker``),
which picks one: a holding line, an approved answer said verbatim, the
sources' own sentences, or an answer the model writes, checked a sentence
at a time. Each gives the answer's events, its end timed."""

from __future__ import annotations

import logging
import time
from typing import AsyncIterator, Callable, Iterator, Union

from stage.core.events import AnswerEnd, Clause, GuardrailDecision
from stage.think.clauses import ClauseSplitter, ends_sentence
from stage.think.compose import Sentence
from stage.think.guardrails import AnswerCheck
from stage.think.knowledge import Knowledge
from stage.think.llm import ModelError
from stage.think.persona import ApprovedAnswer
from voices.speech import speakable_pieces

log = logging.getLogger("fireside.think")

ThinkEvent = Union[GuardrailDecision, Clause, AnswerEnd]


class Stopwatch:
    """An answer's timings, in milliseconds since it was asked for."""

    def __init__(self):
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def first(self, name: str = "first_clause_ms") -> None:
        """``name`` happened now, if it had not before."""
        self.timings.setdefault(name, self.ms())

    def end(self, outcome: str, sources: tuple[str, ...]) -> AnswerEnd:
        return AnswerEnd(outcome, sources, {**self.timings, "total_ms": self.ms()})


def held(line: str, clock: Stopwatch, rule: str, reason: str) -> list[ThinkEvent]:
    """No answer: the decision to hold, the holding ``line``, the end."""
    clock.first()
    check = {"no-grounding": "input", "model-failure": "model"}.get(rule, "output")
    return [GuardrailDecision(check, "hold", rule, reason), Clause(line, (), "holding"), clock.end("held", ())]


def approved(answer: ApprovedAnswer, clock: Stopwatch) -> Iterator[ThinkEvent]:
    """The card's approved answer, verbatim."""
    for piece in speakable_pieces(answer.answer):
        clock.first()
        yield Clause(piece, tuple(answer.sources), "approved")
    yield clock.end("approved", tuple(answer.sources))


def extractive(best: list[Sentence], clock: Stopwatch) -> Iterator[ThinkEvent]:
    """The sources' own sentences that answer the question."""
    for sentence in best:
        for piece in speakable_pieces(sentence.text):
            clock.first()
            yield Clause(piece, (sentence.source,), "extractive")
    yield clock.end("answered", tuple(dict.fromkeys(s.source for s in best)))


class GeneratedAnswer:
    """The model writes from the retrieved passages (numbered ``passages``)
    alone, and each sentence is checked whole before any of it is said. A
    sentence that fails the check is replaced by the source sentences that
    best answer the question (``best``), and the model stops there."""

    def __init__(
        self,
        knowledge: Knowledge,
        check: AnswerCheck,
        passages: list[int],
        best: list[Sentence],
        clock: Stopwatch,
        holding_line: Callable[[], str],
    ):
        self.knowledge, self.check, self.passages, self.best = knowledge, check, passages, best
        self.clock = clock
        self.holding_line = holding_line

    async def events(self, stream: AsyncIterator[str]) -> AsyncIterator[ThinkEvent]:
        """The answer's events from the model's ``stream``, which is closed at the end (or when this is)."""
        spoken: list[Clause] = []
        stopped = None
        self.clock.first("request_ms")
        texts = self._sentences(stream)
        try:
            async for group in texts:
                stopped, cited = self._check(group)
                if stopped is not None:
                    break
                for text in group:
                    self.clock.first()
                    spoken.append(Clause(text, cited, "model"))
                    yield spoken[-1]
        except ModelError as err:
            log.warning("model failed mid-answer: %s", err)
            for event in held(self.holding_line(), self.clock, "model-failure", str(err)):
                yield event
            return
        finally:
            await texts.aclose()
            await stream.aclose()  # stops the generation now, not when collected
        for event in self._ending(spoken, stopped):
            yield event

    async def _sentences(self, stream: AsyncIterator[str]) -> AsyncIterator[list[str]]:
        """The model's clauses, a whole sentence at a time: nothing is said
        before the sentence it belongs to has been checked."""
        splitter, pending = ClauseSplitter(), []
        async for delta in stream:
            self.clock.first("first_token_ms")
            for text in splitter.feed(delta):
                pending.append(text)
                if ends_sentence(text):
                    yield pending
                    pending = []
        rest = pending + splitter.flush()
        if rest and ends_sentence(rest[-1]):
            yield rest  # an unfinished last sentence is never said

    def _check(self, group: list[str]) -> tuple[GuardrailDecision | None, tuple[str, ...]]:
        """Why a sentence (its clauses) must not be said, or the source it cites."""
        stopped = None
        for text in group:
            clause, stopped = self.check.clause(text)
            if clause is None:
                break
        if stopped is None:
            # a whole sentence: it must say what a source sentence says, and cites that source
            similarity, passage = self.knowledge.support(" ".join(group), self.passages)
            stopped = self.check.sentence(" ".join(group), similarity)
        if stopped is not None:
            return stopped, ()
        return None, (self.knowledge.passages[passage].source,)

    def _ending(self, spoken: list[Clause], stopped: GuardrailDecision | None) -> Iterator[ThinkEvent]:
        """What follows the model's last sentence said: a holding line, the sources' sentences, the end."""
        sources = tuple(dict.fromkeys(s for c in spoken for s in c.sources))
        if stopped is not None and stopped.rule in ("off-limits", "personal-data"):
            # what comes next must not be said: a holding line
            self.clock.first()
            yield Clause(self.holding_line(), (), "holding")
            yield self.clock.end("trimmed" if spoken else "held", sources if spoken else ())
            return
        if stopped is not None and stopped.rule == "length":
            yield self.clock.end("trimmed", sources)
            return
        if stopped is not None or not spoken:
            # unsupported, or nothing whole was said (an unfinished sentence never is): the sources finish the answer
            for event in self._replacement(spoken, stopped):
                self.clock.first()
                yield event
            sources = tuple(dict.fromkeys([*sources, *(s.source for s in self.best)]))
        yield self.clock.end("answered", sources)

    def _replacement(self, spoken: list[Clause], reason: GuardrailDecision | None) -> list[ThinkEvent]:
        said = " ".join(c.text for c in spoken)
        events: list[ThinkEvent] = [reason] if reason else []
        for sentence in self.best:
            if sentence.text not in said:
                events += [Clause(piece, (sentence.source,), "extractive") for piece in speakable_pieces(sentence.text)]
        return events
