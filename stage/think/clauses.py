"""Cutting a streamed answer into speakable clauses, as soon as each is whole,
so that speech starts before the answer is finished."""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "a.m",
    "p.m",
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "u.s",
    "u.k",
    "no",
    "inc",
    "ltd",
    "co",
}
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s|[。！？]")
# words that open a new phrase: the first clause may end before one of them
_PHRASE_OPENERS = frozenset(
    "and but or because which that who by with when where while so to for in on "
    "through from as if than after before since until".split()
)
_CLAUSE_END = re.compile(r"[,;:]\s|[—–]\s?|[，；：]")  # "3,000" and "10:30" are no clause ends


def _abbreviation(head: str) -> bool:
    """Does ``head`` end in an abbreviation or an initial ("e.g.", "J.")?"""
    words = head.split()
    last = words[-1].lower().rstrip(".!?…") if words else ""
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def ends_sentence(text: str) -> bool:
    """Does the text end a sentence (not a clause, nor a colon before a list)?"""
    return text.strip().rstrip("\"'”’)]")[-1:] in (".", "!", "?", "…", "。", "！", "？")


def sentences(text: str) -> list[str]:
    """The whole sentences of a text, in order; what follows the last full
    stop is a sentence too."""
    text = " ".join(text.split()) + " "
    found, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if not _abbreviation(text[start : match.start() + 1]):
            found.append(text[start : match.end()].strip())
            start = match.end()
    found.append(text[start:].strip())
    return [s for s in found if any(c.isalnum() for c in s)]


class ClauseSplitter:
    """Feed text as it streams; take clauses out as they complete.

    The first clause is cut at its first comma, or before a word that opens
    a new phrase ("by", "which", "and"...), once it has ``first_words``
    words, so the voice can start at once; later ones at sentence ends, or
    at a comma once ``long_words`` words have built up.
    """

    def __init__(self, first_words: int = 4, long_words: int = 14):
        self.first_words = first_words
        self.long_words = long_words
        self.buffer = ""
        self.emitted = 0

    def feed(self, text: str) -> list[str]:
        self.buffer += text
        clauses = []
        while (clause := self._next()) is not None:
            clauses.append(clause)
        return clauses

    def flush(self) -> list[str]:
        rest = " ".join(self.buffer.split())
        self.buffer = ""
        return [rest] if any(c.isalnum() for c in rest) else []

    def _next(self) -> str | None:
        for match in _SENTENCE_END.finditer(self.buffer):
            head = self.buffer[: match.end()]
            if _abbreviation(head[: match.start() + 1]):
                continue
            return self._take(match.end())
        minimum = self.first_words if self.emitted == 0 else self.long_words
        for match in _CLAUSE_END.finditer(self.buffer):
            if len(self.buffer[: match.start()].split()) >= minimum:
                return self._take(match.end())
        if self.emitted == 0:
            # complete words only: the last one may still be growing
            for match in re.finditer(r"\S+(?=\s)", self.buffer):
                word = match.group(0).lower()
                before = self.buffer[: match.start()]
                if word in _PHRASE_OPENERS and len(before.split()) >= self.first_words:
                    return self._take(match.start())
        return None

    def _take(self, end: int) -> str | None:
        clause, self.buffer = " ".join(self.buffer[:end].split()), self.buffer[end:]
        if not any(c.isalnum() for c in clause):  # stray punctuation: nothing to say
            return self._next()
        self.emitted += 1
        return clause
