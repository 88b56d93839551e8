"""Answers made of the sources' own sentences (extractive answers), and the
rule every spoken answer keeps: no fragments.

The sentences of the best retrieved passages are scored by how close their
meaning is to the question (MiniLM cosine) plus the question's words they
share; the best one leads, and others close to it join while the persona's
time allows. A question that asks for a number or a date ("how many", "when
did") is led by a sentence that has one, or held when none close has. They
are spoken in the order of the passages they come from,
and a sentence that leans on the one before it ("It lets people ...")
brings that one along.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from stage.think.clauses import ends_sentence
from stage.think.knowledge import Knowledge, content_words

MAX_SENTENCES = 3
# a further sentence joins when it scores at least this close to the best one
JOIN_MARGIN = 0.12
RANK_PENALTY = 0.02  # per place a sentence's passage is below the best passage
TYPE_BONUS = 0.1  # for a sentence with the kind of thing asked for (a number, a date)
# a question asking for a number or a date is answered by a sentence that has
# one and is at least this close to it, or not at all
TYPE_MIN_SIMILARITY = 0.35
POOL = 6  # the best passages whose sentences are candidates
SHORT_ANSWER_WORDS = 20  # a lone sentence shorter than this takes the next one of its passage
_LEANS_BACK = re.compile(r"^(it|its|this|these|that|those|they|their|such|he|she|both|then|there)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    text: str
    source: str  # the passage's address
    title: str  # the passage's readable title


def is_fragment(text: str) -> bool:
    """Not a whole sentence worth saying alone: no end, a trailing colon, a bare heading."""
    return not ends_sentence(text) or len(text.split()) < 4


def _echo(sentence: str, question: str) -> bool:
    """A sentence that only says the question again."""
    return (
        fuzz.token_set_ratio(sentence.lower(), question.lower()) >= 90
        and len(sentence.split()) <= len(question.split()) + 3
    )


_QUANTITY_QUESTION = re.compile(
    r"\b(how (many|much|fast|long|often|big|large|high|low|quickly)|what (share|percentage|proportion|fraction|"
    r"number|rate|amount|level|threshold|per ?cent|size|volume)|what time)\b",
    re.IGNORECASE,
)
_DATE_QUESTION = re.compile(
    r"^\s*when (will|did|does|do|is|was|were|are|can|could|should|would|has|have|had)\b"
    r"|\b(what|which|in what) (year|date|month)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|"
    r"hundred|thousand|million|billion|half|twice|double|third|quarter)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(1[89]|20)\d\d\b|\b(january|february|march|april|may|june|july|august|september|october|"
    r"november|december)\b",
    re.IGNORECASE,
)


def answer_type(question: str) -> re.Pattern | None:
    """What the answer must contain when the question asks for a quantity
    ("how many", "what share") or a date ("when did", "what year")."""
    if _DATE_QUESTION.search(question):
        return _DATE
    if _QUANTITY_QUESTION.search(question):
        return _QUANTITY
    return None


def extract(
    question: str, passages: list[int], knowledge: Knowledge, similarity: np.ndarray, max_words: float
) -> list[Sentence]:
    """The sentences of the passages numbered ``passages`` (best first) that
    answer the question, in speaking order."""
    passages = passages[:POOL]
    order = {number: rank for rank, number in enumerate(passages)}
    asked = content_words(question)
    wanted_type = answer_type(question)
    candidates = []
    typed = []  # the candidates with what the question asks for, close enough to lead
    for i, sentence in enumerate(knowledge.sentences):
        if knowledge.owner[i] not in order or is_fragment(sentence) or _echo(sentence, question):
            continue
        words = content_words(sentence)
        overlap = len(words & asked) / max(1, len(asked))
        score = float(similarity[i]) + 0.2 * overlap - RANK_PENALTY * order[knowledge.owner[i]]
        if wanted_type and wanted_type.search(sentence):
            score += TYPE_BONUS
            if similarity[i] >= TYPE_MIN_SIMILARITY:
                typed.append((score, i))
        candidates.append((score, i))
    if not candidates:
        return []
    candidates.sort(reverse=True)
    if wanted_type:
        if not typed:
            return []  # a number or a date was asked for, and no close sentence has one
        lead = max(typed)
        candidates.remove(lead)
        candidates.insert(0, lead)
    best = candidates[0][0]
    chosen: set[int] = set()

    def words_of(ids) -> int:
        return sum(len(knowledge.sentences[i].split()) for i in ids)

    for score, i in candidates:
        if len(chosen) >= MAX_SENTENCES or (chosen and score < best - JOIN_MARGIN):
            break
        wanted = {i}
        before = i - 1
        if _LEANS_BACK.match(knowledge.sentences[i]) and before >= 0 and knowledge.owner[before] == knowledge.owner[i]:
            wanted.add(before)  # "It lets people ..." needs what "it" is
        if chosen and words_of(chosen | wanted) > max_words:
            continue
        chosen |= wanted
    (only,) = chosen if len(chosen) == 1 else (None,)
    following = (only or 0) + 1
    if (
        only is not None
        and words_of(chosen) < SHORT_ANSWER_WORDS
        and following < len(knowledge.sentences)
        and knowledge.owner[following] == knowledge.owner[only]
        and not is_fragment(knowledge.sentences[following])
        and words_of({only, following}) <= max_words
    ):
        chosen.add(following)
    spoken = sorted(chosen, key=lambda i: (order[knowledge.owner[i]], i))
    return [
        Sentence(
            knowledge.sentences[i],
            knowledge.passages[knowledge.owner[i]].source,
            knowledge.passages[knowledge.owner[i]].title,
        )
        for i in spoken
    ]
