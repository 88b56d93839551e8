"""Judging answers on a question set (``tests/questions*.yaml``), for
``fireside bench answers`` and the tests.

A question in the set names its persona, the source that answers it (a
Markdown section, or a PDF and its page) and its key fact: a few wordings,
one of which a correct answer states. A question marked
``out_of_knowledge`` must be declined. Each question is also marked ``dev``
(looked at while tuning), ``test`` (only its totals were looked at) or
``holdout`` (written by someone else after the tuning, and run once): the
figures that count are the test and holdout splits'.

An answer is judged on what it said:
- correct: not declined, states the key fact, and cites the right source;
- a fragment: its last sentence is unfinished (no end, a trailing colon, a
  bare heading);
- an unsupported clause: a sentence of the answer (its clauses together) that
  is not a source sentence verbatim and whose numbers are not in the sources
  its clauses cite, or whose meaning is not close (MiniLM cosine below the
  guardrail's MIN_SIMILARITY) to any sentence of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rapidfuzz import fuzz

from stage.core.events import AnswerEnd, Clause
from stage.core.paths import PROJECT
from stage.think.clauses import ends_sentence, sentences
from stage.think.guardrails import MIN_SIMILARITY
from stage.think.knowledge import Knowledge

QUESTION_SETS = [
    PROJECT / "tests" / name
    for name in ("questions.yaml", "questions_report.yaml", "questions_dev.yaml", "questions_holdout.yaml")
]
SPLITS = ("dev", "test", "holdout")


@dataclass(frozen=True)
class Question:
    persona: str
    question: str
    source: str = ""
    page: int | None = None
    key: tuple[str, ...] = ()
    out_of_knowledge: bool = False
    split: str = "test"

    @property
    def address(self) -> str:
        return f"{self.source}#page={self.page}" if self.page else self.source


def load_questions(paths: list[Path] = QUESTION_SETS) -> list[Question]:
    questions = []
    for path in paths:
        for item in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            questions.append(
                Question(
                    item["persona"],
                    item["question"],
                    item.get("source", ""),
                    item.get("page"),
                    tuple(item.get("key", ())),
                    bool(item.get("out_of_knowledge")),
                    item.get("split", "test"),
                )
            )
    return questions


@dataclass
class Verdict:
    question: Question
    answer: str
    outcome: str
    sources: tuple[str, ...]
    correct: bool = False
    first: bool = False  # correct, and the key fact is in the first sentence said
    fragment: bool = False
    unsupported: list[str] = field(default_factory=list)


def _numbers(text: str) -> set[str]:
    return {n.rstrip(".,") for n in re.findall(r"\d[\d.,]*", text)}


def _sentences(clauses: list[Clause]) -> list[tuple[str, set[str]]]:
    """Clauses joined into the sentences they make, each with the sources its clauses cite."""
    found, words, sources = [], [], set()
    for clause in clauses:
        words.append(clause.text)
        sources |= set(clause.sources)
        if ends_sentence(clause.text):
            found.append((" ".join(words), sources))
            words, sources = [], set()
    if words:
        found.append((" ".join(words), sources))
    return found


def judge(question: Question, events: list, knowledge: Knowledge) -> Verdict:
    clauses = [e for e in events if isinstance(e, Clause)]
    end = next(e for e in events if isinstance(e, AnswerEnd))
    answer = " ".join(c.text for c in clauses)
    verdict = Verdict(question, answer, end.outcome, tuple(end.sources))
    said = [c for c in clauses if c.kind in ("model", "extractive")]
    if said:
        verdict.fragment = (
            not ends_sentence(said[-1].text) or fuzz.ratio(answer.lower(), question.question.lower()) > 80
        )
    for sentence, cited_sources in _sentences(said):
        cited = [i for i, p in enumerate(knowledge.passages) if p.source in cited_sources]
        text = " ".join(knowledge.passages[i].text for i in cited)
        if _numbers(sentence) - _numbers(text):
            verdict.unsupported.append(sentence)
        elif sentence.rstrip(".,;:!?") not in text and knowledge.support(sentence, cited)[0] < MIN_SIMILARITY:
            verdict.unsupported.append(sentence)
    declined = end.outcome == "held" or not said
    if not question.out_of_knowledge:
        lowered = " ".join(answer.lower().split())
        states = any(k.lower() in lowered for k in question.key)
        verdict.correct = not declined and states and question.address in end.sources
        lead = " ".join(sentences(" ".join(c.text for c in said))[:1]).lower()
        verdict.first = verdict.correct and any(k.lower() in lead for k in question.key)
    else:
        verdict.correct = declined
    return verdict
