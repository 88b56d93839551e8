"""Thinking: a question in, an answer out as speakable clauses.

The order of checks is the order of trust: the input guardrail first (an
audience question is untrusted), then the card's approved answers (spoken
verbatim), then retrieval (no relevant knowledge: a holding line, never a
guess), and only then the answer, made one of two ways:

- ``extractive``: the sources' own sentences that answer the question
  (``stage.compose``), so nothing is said that the sources do not say;
- ``generated``: the model writes from the retrieved passages alone, and
  each sentence is checked whole before any of it is spoken. A sentence that fails the
  check is replaced by the source sentences that best answer the question,
  and the model stops there.

``auto`` (the default) is extractive with the embedded model, whose 135M
parameters cannot write a faithful answer, and generated with a server
(vLLM or any OpenAI-compatible one). A model that fails or stalls yields a
holding line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import AsyncIterator, Union

from stage.clauses import ClauseSplitter, ends_sentence
from stage.compose import POOL, extract
from stage.documents import Passage
from stage.events import AnswerEnd, Clause, GuardrailDecision
from stage.guardrails import AnswerCheck, check_question
from stage.knowledge import Knowledge
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
    mode: str = "extractive"  # or "generated"


class Thinker:
    """One persona's mind: its card, its knowledge and a model to speak with."""

    def __init__(self, card: PersonaCard, model: ChatModel | None, settings: ThinkSettings | None = None,
                 progress: bool = False):
        self.card = card
        self.model = model  # extractive answers need none
        self.settings = settings or ThinkSettings()
        self.mode = card.answer_mode or self.settings.mode
        self.knowledge = Knowledge(card, progress)
        self.system_prompt = card.render_system_prompt(self.settings.event)
        self.turn = 0

    def messages(self, question: str, passages: list[Passage]) -> list[dict]:
        """The persona comes first and never changes, so the model keeps it
        evaluated (a prompt cache); each question brings only the passages
        retrieved for it, so the prompt stays small whatever the knowledge."""
        facts = "\n".join(f"- {p.title}: {p.text}" for p in passages)
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": f"Facts:\n{facts}\n\nUsing only these facts, answer: {question.strip()}"},
        ]

    def warm(self) -> None:
        """Have the model evaluate this persona's prompt before the first question."""
        warm = getattr(self.model, "warm", None)
        if warm:
            warm(self.system_prompt)

    async def answer(self, question: str) -> AsyncIterator[ThinkEvent]:
        """The answer's events; each clause and the end carry their sources' readable titles."""
        events = self._answer(question)
        try:
            async for event in events:
                if isinstance(event, (Clause, AnswerEnd)) and event.sources:
                    event = replace(event, titles=self.knowledge.titles(event.sources))
                yield event
        finally:
            await events.aclose()

    async def _answer(self, question: str) -> AsyncIterator[ThinkEvent]:
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

        similarity = self.knowledge.similarities(question)
        ranked = self.knowledge.rank(question, max(self.settings.passages, POOL), similarity)
        best = extract(question, [i for i, _ in ranked], self.knowledge, similarity, self.card.max_answer_words)
        if not best:
            log.info("no knowledge about %r: holding line", question)
            for event in hold("no-grounding", "nothing in the persona's knowledge is about the question"):
                yield event
            return

        if self.mode == "extractive":
            for sentence in best:
                for piece in speakable_pieces(sentence.text):
                    timings.setdefault("first_clause_ms", ms())
                    yield Clause(piece, (sentence.source,), "extractive")
            yield AnswerEnd("answered", tuple(dict.fromkeys(s.source for s in best)), {**timings, "total_ms": ms()})
            return

        numbers = [i for i, _ in ranked[:self.settings.passages]]
        passages = [self.knowledge.passages[i] for i in numbers]
        check = AnswerCheck(self.card, question, passages)
        stream = self.model.stream(self.messages(question, passages), max_tokens=self.settings.max_tokens,
                                   temperature=self.settings.temperature, model=self.card.adapter)
        spoken: list[Clause] = []

        async def sentences_of_model() -> AsyncIterator[list[str]]:
            """The model's clauses, a whole sentence at a time: nothing is said
            before the sentence it belongs to has been checked."""
            splitter, pending = ClauseSplitter(), []
            async for delta in stream:
                timings.setdefault("first_token_ms", ms())
                for text in splitter.feed(delta):
                    pending.append(text)
                    if ends_sentence(text):
                        yield pending
                        pending = []
            rest = pending + splitter.flush()
            if rest and ends_sentence(rest[-1]):
                yield rest  # an unfinished last sentence is never said

        def replacement(reason: GuardrailDecision | None) -> list[ThinkEvent]:
            said = " ".join(c.text for c in spoken)
            events: list[ThinkEvent] = [reason] if reason else []
            for sentence in best:
                if sentence.text not in said:
                    events += [Clause(piece, (sentence.source,), "extractive") for piece in speakable_pieces(sentence.text)]
            return events

        stopped = None
        texts = sentences_of_model()
        try:
            async for group in texts:
                for text in group:
                    clause, stopped = check.clause(text)
                    if clause is None:
                        break
                if stopped is None:
                    # a whole sentence: it must say what a source sentence says, and cites that source
                    similarity, passage = self.knowledge.support(" ".join(group), numbers)
                    stopped = check.sentence(" ".join(group), similarity)
                if stopped is not None:
                    break
                cited = (self.knowledge.passages[passage].source,)
                for text in group:
                    timings.setdefault("first_clause_ms", ms())
                    spoken.append(Clause(text, cited, "model"))
                    yield spoken[-1]
        except ModelError as err:
            log.warning("model failed mid-answer: %s", err)
            for event in hold("model-failure", str(err)):
                yield event
            return
        finally:
            await texts.aclose()
            await stream.aclose()  # stops the generation now, not when collected
        sources = tuple(dict.fromkeys(s for c in spoken for s in c.sources))
        if stopped is not None and stopped.rule in ("off-limits", "personal-data"):
            # what comes next must not be said: a holding line
            timings.setdefault("first_clause_ms", ms())
            yield Clause(self.card.holding_line(self.turn), (), "holding")
            yield AnswerEnd("trimmed" if spoken else "held", sources if spoken else (), {**timings, "total_ms": ms()})
            return
        if stopped is not None and stopped.rule == "length":
            yield AnswerEnd("trimmed", sources, {**timings, "total_ms": ms()})
            return
        if stopped is not None or not spoken:
            # unsupported, or nothing whole was said (an unfinished sentence never is): the sources finish the answer
            for event in replacement(stopped):
                timings.setdefault("first_clause_ms", ms())
                yield event
            sources = tuple(dict.fromkeys([*sources, *(s.source for s in best)]))
        yield AnswerEnd("answered", sources, {**timings, "total_ms": ms()})


def thinker_for(card: PersonaCard, config, backend: str | None = None) -> Thinker:
    """A thinker for a persona with the configured model (or ``backend``)."""
    from stage.llm import connect

    llm = config.llm
    model = connect(backend or llm.backend, model=llm.model, model_path=llm.model_path,
                    api_key_env=llm.api_key_env, stall_seconds=llm.stall_seconds, threads=llm.threads)
    backend = backend or llm.backend
    mode = llm.answer_mode if llm.answer_mode != "auto" else ("extractive" if backend == "embedded" else "generated")
    settings = ThinkSettings(max_tokens=llm.max_tokens, temperature=llm.temperature, passages=llm.passages,
                             event=config.personas.event, mode=mode)
    return Thinker(card, model, settings, progress=True)


async def collect(thinker: Thinker, question: str) -> list[ThinkEvent]:
    """Every event of one answer (for tests and scripts)."""
    return [event async for event in thinker.answer(question)]
