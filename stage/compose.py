"""Answers made of the sources' own sentences (extractive answers), and the
rule every spoken answer keeps: no fragments.

The sentences of the retrieved passages are scored by how close their
meaning is to the question (MiniLM cosine) plus the question's words they
share; the best one leads, and others close to it join while the persona's
time allows. They are spoken in the order of the passages they come from,
and a sentence that leans on the one before it ("It lets people ...")
brings that one along.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from stage.clauses import ends_sentence
from stage.knowledge import Knowledge, content_words

WORDS_PER_SECOND = 2.6  # a calm speaking pace
MAX_SENTENCES = 3
# a further sentence joins when it scores at least this close to the best one
JOIN_MARGIN = 0.12
RANK_PENALTY = 0.08  # per place a sentence's passage is below the best passage
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
    return fuzz.token_set_ratio(sentence.lower(), question.lower()) >= 90 and len(sentence.split()) <= len(question.split()) + 3


def extract(question: str, passages: list[int], knowledge: Knowledge, similarity: np.ndarray,
            max_seconds: float) -> list[Sentence]:
    """The sentences of the passages numbered ``passages`` (best first) that
    answer the question, in speaking order."""
    order = {number: rank for rank, number in enumerate(passages)}
    asked = content_words(question)
    candidates = []
    for i, sentence in enumerate(knowledge.sentences):
        if knowledge.owner[i] not in order or is_fragment(sentence) or _echo(sentence, question):
            continue
        words = content_words(sentence)
        overlap = len(words & asked) / max(1, len(asked))
        candidates.append((float(similarity[i]) + 0.2 * overlap - RANK_PENALTY * order[knowledge.owner[i]], i))
    if not candidates:
        return []
    candidates.sort(reverse=True)
    best = candidates[0][0]
    budget = max_seconds * WORDS_PER_SECOND
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
        if chosen and words_of(chosen | wanted) > budget:
            continue
        chosen |= wanted
    (only,) = chosen if len(chosen) == 1 else (None,)
    following = (only or 0) + 1
    if (only is not None and words_of(chosen) < SHORT_ANSWER_WORDS and following < len(knowledge.sentences)
            and knowledge.owner[following] == knowledge.owner[only] and not is_fragment(knowledge.sentences[following])
            and words_of({only, following}) <= budget):
        chosen.add(following)
    spoken = sorted(chosen, key=lambda i: (order[knowledge.owner[i]], i))
    return [Sentence(knowledge.sentences[i], knowledge.passages[knowledge.owner[i]].source,
                     knowledge.passages[knowledge.owner[i]].title) for i in spoken]
