"""Thinking: a question in, an answer out as speakable clauses.

The order of checks is the order of trust: the input guardrail first (an
audience question is untrusted), then the card's approved answers (spoken
verbatim), then retrieval (no relevant knowledge: a holding line, never a
guess), and only then the answer, made one of two ways:

- ``extractive``: the sources' own sentences that answer the question
  (``stage.think.compose``), so nothing is said that the sources do not say;
- ``generated``: the model writes from the retrieved passages alone, and
  each sentence is checked whole before any of it is spoken. A sentence that fails the
  check is replaced by the source sentences that best answer the question,
  and the model stops there.

``auto`` (the default) is extractive with the embedded model, whose 135M
parameters cannot write a faithful answer, and generated with a server
(vLLM or any OpenAI-compatible one). A model that fails or stalls yields a
holding line.

The thinker picks the way; each is made in ``stage.think.answers``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import AsyncIterator

from stage.core.config import LLMSettings, PersonaSettings
from stage.core.events import AnswerEnd, Clause, GuardrailDecision
from stage.think.answers import GeneratedAnswer, Stopwatch, ThinkEvent, approved, extractive, held
from stage.think.compose import POOL, Sentence, extract
from stage.think.documents import Passage
from stage.think.guardrails import AnswerCheck, check_question, require_question
from stage.think.knowledge import Knowledge
from stage.think.llm import ChatModel, connect
from stage.think.persona import ApprovedAnswer, PersonaCard
from stage.think.questions import about_persona, parts, topic_of, unaddressed
from voices.speech import speakable_pieces

log = logging.getLogger("fireside.think")


class Thinker:
    """One persona's mind: its card, its knowledge and a model to speak with."""

    def __init__(
        self,
        card: PersonaCard,
        model: ChatModel | None,
        llm: LLMSettings | None = None,
        progress: bool = False,
        knowledge: Knowledge | None = None,
        event: str = PersonaSettings().event,
    ):
        self.card = card
        self.model = model  # extractive answers need none
        self.llm = llm or LLMSettings(answer_mode="extractive")  # the config's ``llm`` section
        self.mode = card.answer_mode or self.llm.mode
        self.knowledge = knowledge or Knowledge(card, progress)  # built here, or shared (``Cast``)
        self.system_prompt = card.render_system_prompt(event)
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

    def sayable(self) -> list[str]:
        """What this persona may say, clause by clause, as its answers say it: its
        approved answers, holding lines and knowledge's sentences (to translate ahead)."""
        texts = [a.answer for a in self.card.approved_answers] + list(self.card.holding_lines)
        texts += self.knowledge.sentences
        return [piece for text in texts for piece in speakable_pieces(text)]

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
        """The checks in the order of trust, then the answer, made the card's (or the settings') way."""
        clock = Stopwatch()
        question = require_question(question)  # an empty one is refused with a clear message
        self.turn += 1
        verdict = check_question(question, self.card)
        yield verdict
        if verdict.action == "block":
            for event in held(self._holding_line(), clock, verdict.rule, verdict.reason)[1:]:
                yield event
            return
        answer = self.knowledge.approved_answer(question) or self._about_me(question)
        if answer:
            for event in approved(answer, clock):
                yield event
            return
        # in a thread: embedding and ranking take tens of milliseconds (far
        # more on a busy machine), and the event loop carries every call's audio
        ranked, best = await asyncio.to_thread(self._ground, question)
        if not best:
            log.info("no knowledge about %r: holding line", question)
            for event in held(
                self._holding_line(), clock, "no-grounding", "nothing in the persona's knowledge is about the question"
            ):
                yield event
            return
        if self.mode == "extractive":
            for event in extractive(best, clock):
                yield event
            return
        events = self._generated(question, [i for i, _ in ranked[: self.llm.passages]], best, clock)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()  # stops the model now, not when collected

    def foresee(self, question: str) -> GuardrailDecision:
        """What this persona will do with ``question``, without answering it
        (the moderator's console shows it before the question is asked):
        refuse it (the input check), hold for want of knowledge, or answer it,
        from the card or from its sources. Retrieval takes tens of ms: call it
        off the event loop."""
        verdict = check_question(question, self.card)
        if verdict.action == "block":
            return verdict
        if self.knowledge.approved_answer(question) or self._about_me(question):
            return GuardrailDecision("input", "allow", "approved", "an approved answer on the persona's card")
        _, best = self._ground(question)
        if not best:
            return GuardrailDecision(
                "knowledge", "hold", "no-grounding", "nothing in the persona's knowledge is about the question"
            )
        titles = dict.fromkeys(sentence.title for sentence in best)
        return GuardrailDecision("knowledge", "allow", "grounded", "from " + "; ".join(titles))

    def _about_me(self, question: str) -> ApprovedAnswer | None:
        """A question about the persona itself is answered from its card."""
        if not about_persona(question):
            return None
        return ApprovedAnswer(question=question, answer=self.card.introduction(), sources=[self.card.source])

    def _ground(self, question: str) -> tuple[list[tuple[int, float]], list[Sentence]]:
        """The passages about the question, best first, and the source
        sentences that best answer it (none: nothing in the knowledge does).
        Each part of a question that asks two or three things is answered
        from its own source, in the time the whole answer has; a "tell me
        about X" question is about X; the persona's name in it ("Ada, ...") is no topic."""
        asked = parts(unaddressed(question, [self.card.name, self.card.name.split()[0]]))
        all_ranked, best = [], []
        for part in asked:
            topic = topic_of(part)
            similarity = self.knowledge.similarities(topic)
            ranked = self.knowledge.rank(topic, max(self.llm.passages, POOL), similarity)
            found = extract(
                topic, [i for i, _ in ranked], self.knowledge, similarity, self.card.max_answer_words / len(asked)
            )
            best += [s for s in found if s not in best]
            all_ranked += [r for r in ranked if r not in all_ranked]
        return all_ranked, best

    def _generated(
        self, question: str, numbers: list[int], best: list[Sentence], clock: Stopwatch
    ) -> AsyncIterator[ThinkEvent]:
        """The model's answer from the numbered passages, checked as it comes."""
        passages = [self.knowledge.passages[i] for i in numbers]
        check = AnswerCheck(self.card, question, passages)
        stream = self.model.stream(
            self.messages(question, passages),
            max_tokens=self.llm.max_tokens,
            temperature=self.llm.temperature,
            model=self.card.adapter,
        )
        return GeneratedAnswer(self.knowledge, check, numbers, best, clock, self._holding_line).events(stream)

    def _holding_line(self) -> str:
        return self.card.holding_line(self.turn)


def thinker_for(card: PersonaCard, config, backend: str | None = None, knowledge: Knowledge | None = None) -> Thinker:
    """A thinker for a persona with the configured model (or ``backend``), on
    ``knowledge`` when it is shared (else its own is built)."""
    llm = config.llm if backend is None else config.llm.model_copy(update={"backend": backend})
    model = connect(
        llm.backend,
        model=llm.model,
        model_path=llm.model_path,
        api_key_env=llm.api_key_env,
        stall_seconds=llm.stall_seconds,
        threads=llm.threads,
    )
    return Thinker(card, model, llm, progress=True, knowledge=knowledge, event=config.personas.event)


async def collect(thinker: Thinker, question: str) -> list[ThinkEvent]:
    """Every event of one answer (for tests and scripts)."""
    return [event async for event in thinker.answer(question)]
