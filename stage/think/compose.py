"""Answers made of the sources' own sentences (extractive answers), and the
rule every spoken answer keeps: no fragments.

The reader (``stage.think.reader``) scores each sentence of the best
retrieved passages by how likely it is to answer the question; the most
likely leads, and the persona holds when none is likely enough. A section
whose heading is the question's topic ("how banks detect fraud") leads over
sentences that only share its words. A question that asks for a number or a
date ("how many", "when did") is led by a sentence that has one, or held
when none close has. What follows the lead adds to it: the sentences of its
passage that answer the question too, or one that the lead leans on ("It
lets people ..." brings the sentence before), never a sentence from
elsewhere that merely shares the question's words. An answer is about
``ANSWER_WORDS`` words, more when the question asks for a list or detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz

from stage.think.clauses import ends_sentence
from stage.think.knowledge import Knowledge, content_list, fold, heading, names
from stage.think.questions import topic_of
from stage.think.reader import FEATURES, reader

MAX_SENTENCES = 3
ANSWER_WORDS = 45  # about 18 s of speech
DETAIL_WORDS = 90  # when the question asks for a list or detail
# a sentence of the lead's passage joins when the reader gives it at least this
JOIN_PROBABILITY = 0.5
# a section whose heading is at least this close to the question (MiniLM
# cosine) is the question's topic, and leads ("How do banks detect fraud?"
# against "How banks detect fraud": 0.93)
TOPIC_HEADING = 0.75
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
    r"\b\d{3,4}s?\b|\b\d{1,2}(st|nd|rd|th)[- ]centur(y|ies)\b|\b(january|february|march|april|may|june|july|"
    r"august|september|october|november|december)\b",  # 911, 1050s, 2018, the 11th century, June
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


_WHO = re.compile(r"^\s*(who|whom|whose)\b|\b(which|what) (person|people|king|duke|leader|company|family)\b", re.I)
_WHERE = re.compile(r"^\s*where\b|\b(what|which) (country|city|place|region|continent|island|town|river)\b", re.I)
_NAME = re.compile(r"(?<=\w[\s,(])[A-Z][\w'-]+")
_DETAIL = re.compile(
    r"\b(list|in detail|detailed|step by step|steps|all the|examples|tell me more|explain (how|why|in))\b", re.I
)


def answer_words(question: str, max_words: float) -> float:
    """How long the answer may be: about ANSWER_WORDS words, more for a list or detail, never past the persona's time."""
    return min(max_words, DETAIL_WORDS if _DETAIL.search(question) else ANSWER_WORDS)


def _typed(question: str, sentence: str, asked_names: set[str]) -> float:
    """1 when the sentence has the kind of thing the question asks for, 0 when
    it has not, 0.5 when the question asks for nothing in particular."""
    wanted = answer_type(question)
    if wanted is not None:
        return float(bool(wanted.search(sentence)))
    if _WHO.search(question) or _WHERE.search(question):
        return float(any(fold(n) not in asked_names for n in _NAME.findall(sentence)))
    return 0.5


def features(
    question: str, passages: list[int], knowledge: Knowledge, similarity: np.ndarray
) -> tuple[list[int], np.ndarray]:
    """The candidate sentences of the numbered passages (best first) and the reader's features for each."""
    order = {number: rank for rank, number in enumerate(passages)}
    asked = content_list(question)
    asked_set, asked_pairs = set(asked), set(zip(asked, asked[1:]))
    unique = sorted(asked_set)
    weight = dict(zip(unique, knowledge.rarity(unique)))
    total = max(1e-6, sum(weight.values()))
    asked_names = {fold(n) for n in names(question)} | {w for w in asked_set if w[0].isdigit()}
    headings = knowledge.heading_similarities(question)
    best = float(similarity.max()) if len(similarity) else 0.0
    ids, rows = [], []
    position = -1
    for i, sentence in enumerate(knowledge.sentences):
        passage = int(knowledge.owner[i])
        position = position + 1 if i and knowledge.owner[i - 1] == passage else 0
        if passage not in order or is_fragment(sentence) or _echo(sentence, question):
            continue
        words = knowledge.words(i)
        said = set(words)
        in_passage, written = knowledge.passage_words(passage)
        sentence_written = set(re.findall(r"[a-z0-9][\w'-]*", fold(sentence)))
        rows.append(
            [
                float(similarity[i]),
                best,
                float(headings[passage]),
                order[passage],
                float(order[passage] == 0),
                len(said & asked_set) / max(1, len(asked_set)),
                sum(weight[w] for w in said & asked_set) / total,
                len(in_passage & asked_set) / max(1, len(asked_set)),
                sum(weight[w] for w in in_passage & asked_set) / total,
                len(set(zip(words, words[1:])) & asked_pairs) / max(1, len(asked_pairs)),
                len(sentence_written & asked_names) / len(asked_names) if asked_names else 1.0,
                len(written & asked_names) / len(asked_names) if asked_names else 1.0,
                _typed(question, sentence, asked_names),
                len(said - asked_set) / max(1, len(said)),
                position,
                np.log1p(len(sentence.split())),
            ]
        )
        ids.append(i)
    return ids, np.asarray(rows, np.float64).reshape(-1, len(FEATURES))


def extract(
    question: str, passages: list[int], knowledge: Knowledge, similarity: np.ndarray, max_words: float
) -> list[Sentence]:
    """The sentences of the passages numbered ``passages`` (best first) that
    answer the question, in speaking order (none: no sentence does)."""
    passages = passages[:POOL]
    ids, rows = features(question, passages, knowledge, similarity)
    if not ids:
        return []
    model = reader()
    likely = dict(zip(ids, model.probability(rows)))
    topic = _topic_section(question, passages, knowledge)
    wanted_type = answer_type(question)
    ranked = sorted(ids, key=lambda i: -likely[i])
    if topic is not None:
        # the section about the question leads, from its best sentence
        ranked = [i for i in ranked if knowledge.owner[i] == topic] + [i for i in ranked if knowledge.owner[i] != topic]
    elif likely[ranked[0]] < model.threshold:
        return []  # no sentence is likely to answer: hold
    if wanted_type:
        typed = [
            i for i in ranked if wanted_type.search(knowledge.sentences[i]) and similarity[i] >= TYPE_MIN_SIMILARITY
        ]
        if not typed:
            return []  # a number or a date was asked for, and no close sentence has one
        ranked.remove(typed[0])
        ranked.insert(0, typed[0])
    lead = ranked[0]
    if _unpaired_numbers(question, knowledge.passages[knowledge.owner[lead]].text):
        return []  # "a population of 17,786,914": the documents never pair that number with the subject
    budget = answer_words(question, max_words)
    # the lead is spoken first; a topic section is read in its own order, from
    # the sentence its lead leans on ("It lets people ..." brings the one before)
    chosen = _with_context(lead, knowledge) if topic is not None else {lead}
    home = knowledge.owner[lead]

    def words_of(chosen_ids) -> int:
        return sum(len(knowledge.sentences[i].split()) for i in chosen_ids)

    # what adds to the lead: its passage's sentences that answer too (the
    # topic section's in order), or the next one when the lead alone is short
    following = [i for i in ids if knowledge.owner[i] == home and i not in chosen]
    for i in following:
        if len(chosen) >= MAX_SENTENCES:
            break
        joins = (topic is not None or likely[i] >= JOIN_PROBABILITY) or (
            i == max(chosen) + 1 and words_of(chosen) < SHORT_ANSWER_WORDS
        )
        wanted = _with_context(i, knowledge)
        if joins and words_of(chosen | wanted) <= budget:
            chosen |= wanted
    spoken = sorted(chosen) if topic is not None else [lead, *sorted(chosen - {lead})]
    return [
        Sentence(
            knowledge.sentences[i],
            knowledge.passages[knowledge.owner[i]].source,
            knowledge.passages[knowledge.owner[i]].title,
        )
        for i in spoken
    ]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in re.findall(r"\d[\d,.]*\d|\d", text)}


def _unpaired_numbers(question: str, passage: str) -> bool:
    """The question names a number its answer's passage does not have."""
    return bool(_numbers(question) - _numbers(passage))


def _with_context(i: int, knowledge: Knowledge) -> set[int]:
    """A sentence, and the one before it when it leans on it ("It lets people ...")."""
    before = i - 1
    if _LEANS_BACK.match(knowledge.sentences[i]) and before >= 0 and knowledge.owner[before] == knowledge.owner[i]:
        return {before, i}
    return {i}


def _topic_section(question: str, passages: list[int], knowledge: Knowledge) -> int | None:
    """The retrieved passage whose heading is the question's topic, if one is."""
    headings = knowledge.heading_similarities(topic_of(question))
    best = max(passages, key=lambda p: headings[p], default=None)
    if (
        best is None
        or headings[best] < TOPIC_HEADING
        or heading(knowledge.passages[best]) == knowledge.passages[best].title
    ):
        return None
    return best
