"""A persona's knowledge: Markdown passages ranked by BM25 (``bm25s``), and
approved answers matched by fuzzy string similarity (``rapidfuzz``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import bm25s
import Stemmer
from rapidfuzz import fuzz

from stage.persona import ApprovedAnswer, PersonaCard

# below this BM25 score a passage is not about the question
MIN_SCORE = 1.2
# a question this similar (0-100) to an approved one gets its answer verbatim
APPROVED_SIMILARITY = 85.0


@dataclass(frozen=True)
class Passage:
    text: str
    source: str  # "knowledge/ada/payments.md#faster-payment-system"
    score: float = 0.0


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def split_markdown(text: str, source: str) -> list[Passage]:
    """One passage per section; a section is its heading and its text."""
    passages, heading, lines = [], "", []

    def close() -> None:
        body = " ".join(" ".join(lines).split())
        if body:
            passages.append(Passage(f"{heading}: {body}" if heading else body,
                                    f"{source}#{_slug(heading)}" if heading else source))

    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)", line)
        if match:
            close()
            heading, lines = match.group(1).strip(), []
        else:
            lines.append(line)
    close()
    return passages


_STEMMER = Stemmer.Stemmer("english")
# bm25s's short list, plus the function words of spoken answers
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | frozenset(
    "has have had does did doing done can could would should may might must shall will about also its it's "
    "our ours we you your yours they them their theirs he him his she her hers i me my what which who whom "
    "when where why how all any both each few more most other some such only own same than too very just "
    "so because while during before after above below from up down out over under again further here once "
    "being been am were do yes not nor one two many much well like us let let's".split())


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning ("regulators" -> "regul"), numbers kept whole."""
    words = re.findall(r"[a-z0-9][a-z0-9.,'-]*[a-z0-9]|[a-z0-9]", text.lower())
    words = [w.strip(".,'-") for w in words]
    return {w if w[0].isdigit() else _STEMMER.stemWord(w) for w in words
            if w and w not in _STOPWORDS and (len(w) > 2 or w.isdigit())}


def _normalise(question: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", question.lower()).split())


class Knowledge:
    def __init__(self, card: PersonaCard):
        self.approved: list[ApprovedAnswer] = card.approved_answers
        self.passages: list[Passage] = []
        for path in card.knowledge_paths():
            source = path.relative_to(card.root).as_posix() if path.is_relative_to(card.root) else str(path)
            self.passages += split_markdown(path.read_text(encoding="utf-8"), source)
        self._index = None
        self._stemmer = _STEMMER  # "regulate" finds "regulators"
        if self.passages:
            self._index = bm25s.BM25()
            self._index.index(bm25s.tokenize([p.text for p in self.passages], stopwords="en",
                                             stemmer=self._stemmer, show_progress=False),
                              show_progress=False)

    def approved_answer(self, question: str) -> ApprovedAnswer | None:
        q = _normalise(question)
        best = max(self.approved, key=lambda a: fuzz.ratio(q, _normalise(a.question)), default=None)
        if best and fuzz.ratio(q, _normalise(best.question)) >= APPROVED_SIMILARITY:
            return best
        return None

    def search(self, question: str, k: int = 2) -> list[Passage]:
        """The passages about the question, best first (none when nothing is)."""
        if self._index is None:
            return []
        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self._stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        ids, scores = self._index.retrieve(tokens, k=min(k, len(self.passages)), show_progress=False)
        return [Passage(self.passages[i].text, self.passages[i].source, float(s))
                for i, s in zip(ids[0], scores[0]) if s >= MIN_SCORE]
