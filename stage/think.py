"""Thinking: a question in, an answer out as speakable clauses.

The order of checks is the order of trust: the input guardrail first (an
audience question is untrusted), then the card's approved answers (spoken
verbatim), then retrieval (no relevant knowledge: a holding line, never a
guess), and only then the model, whose clauses are checked one by one
before they are spoken. A model that fails or stalls yields a holding line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator, Union

from stage.clauses import ClauseSplitter
from stage.events import AnswerEnd, Clause, GuardrailDecision
from stage.guardrails import AnswerCheck, check_question
from stage.knowledge import Knowledge, Passage
from stage.llm import ChatModel, ModelError
from stage.persona import PersonaCard
from voices.speech import speakable_pieces

log = logging.getLogger("fireside.think")

ThinkEvent = Union[GuardrailDecision, Clause, AnswerEnd]


@dataclass
class ThinkSettings:
    max_tokens: int = 120
    temperature: float = 0.0
    passages: int = 2
    event: str = "a banking innovation conference"


class Thinker:
    """One persona's mind: its card, its knowledge and a model to speak with."""

    def __init__(self, card: PersonaCard, model: ChatModel, settings: ThinkSettings | None = None):
        self.card = card
        self.model = model
        self.settings = settings or ThinkSettings()
        self.knowledge = Knowledge(card)
        knowledge = "\n".join(f"- {p.text}" for p in self.knowledge.passages)
        self.system_prompt = f"{card.render_system_prompt(self.settings.event)}\n\nFacts:\n{knowledge}"
        self.turn = 0

    def messages(self, question: str, passages: list[Passage]) -> list[dict]:
        """The persona and all it knows come first and never change, so the
        model keeps them evaluated (a prompt cache); each question adds only
        itself and the headings of the passages retrieved for it."""
        pointers = "; ".join(p.text.split(":", 1)[0] for p in passages)
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": f"{question.strip()}\n(Answer from: {pointers}.)"},
        ]

    def warm(self) -> None:
        """Have the model evaluate this persona's prompt before the first question."""
        warm = getattr(self.model, "warm", None)
        if warm:
            warm(self.system_prompt)

    async def answer(self, question: str) -> AsyncIterator[ThinkEvent]:
        started = time.perf_counter()
        self.turn += 1
        timings: dict[str, float] = {}

        def ms() -> float:
            return round((time.perf_counter() - started) * 1000, 1)

        def hold(rule: str, reason: str) -> list[ThinkEvent]:
            timings.setdefault("first_clause_ms", ms())
            check = {"no-grounding": "input", "model-failure": "model"}.get(rule, "output")
            return [GuardrailDecision(check, "hold", rule, reason),
                    Clause(self.card.holding_line(self.turn), (), "holding"),
                    AnswerEnd("held", (), {**timings, "total_ms": ms()})]

        verdict = check_question(question, self.card)
        yield verdict
        if verdict.action == "block":
            for event in hold(verdict.rule, verdict.reason)[1:]:
                yield event
            return

        approved = self.knowledge.approved_answer(question)
        if approved:
            for i, piece in enumerate(speakable_pieces(approved.answer)):
                if i == 0:
                    timings["first_clause_ms"] = ms()
                yield Clause(piece, tuple(approved.sources), "approved")
            yield AnswerEnd("approved", tuple(approved.sources), {**timings, "total_ms": ms()})
            return

        passages = self.knowledge.search(question, self.settings.passages)
        if not passages:
            log.info("no knowledge about %r: holding line", question)
            for event in hold("no-grounding", "nothing in the persona's knowledge is about the question"):
                yield event
            return
        sources = tuple(dict.fromkeys(p.source for p in passages))

        splitter, check = ClauseSplitter(), AnswerCheck(self.card, question, passages)
        stream = self.model.stream(self.messages(question, passages), max_tokens=self.settings.max_tokens,
                                   temperature=self.settings.temperature, model=self.card.adapter)

        async def texts() -> AsyncIterator[str]:
            async for delta in stream:
                timings.setdefault("first_token_ms", ms())
                for text in splitter.feed(delta):
                    yield text
            for text in splitter.flush():
                yield text

        spoken, stopped = 0, None
        clauses = texts()
        try:
            async for text in clauses:
                clause, decision = check.clause(text)
                if decision:
                    yield decision
                if clause is None:
                    stopped = decision
                    break
                timings.setdefault("first_clause_ms", ms())
                spoken += 1
                yield Clause(clause, sources, "model")
        except ModelError as err:
            log.warning("model failed mid-answer: %s", err)
            for event in hold("model-failure", str(err)):
                yield event
            return
        finally:
            await clauses.aclose()
            await stream.aclose()  # stops the generation now, not when collected
        if stopped is not None and (spoken == 0 or stopped.rule in ("off-limits", "personal-data")):
            # nothing safe was said, or what comes next must not be: a holding line
            timings.setdefault("first_clause_ms", ms())
            yield Clause(self.card.holding_line(self.turn), (), "holding")
        elif spoken == 0:
            for event in hold("empty-answer", "the model said nothing that could be spoken"):
                yield event
            return
        outcome = "answered" if stopped is None else ("trimmed" if spoken else "held")
        yield AnswerEnd(outcome, sources if spoken else (), {**timings, "total_ms": ms()})


def thinker_for(card: PersonaCard, config, backend: str | None = None) -> Thinker:
    """A thinker for a persona with the configured model (or ``backend``)."""
    from stage.llm import connect

    llm = config.llm
    model = connect(backend or llm.backend, model=llm.model, model_path=llm.model_path,
                    api_key_env=llm.api_key_env, stall_seconds=llm.stall_seconds, threads=llm.threads)
    settings = ThinkSettings(max_tokens=llm.max_tokens, temperature=llm.temperature, passages=llm.passages,
                             event=config.personas.event)
    return Thinker(card, model, settings)


async def collect(thinker: Thinker, question: str) -> list[ThinkEvent]:
    """Every event of one answer (for tests and scripts)."""
    return [event async for event in thinker.answer(question)]
