"""Cutting text into sentences, and a streamed answer into speakable clauses
as soon as each is whole, so that speech starts before the answer is finished.

Where a sentence ends is decided by the word before the full stop and the
word after it:

- ``?``, ``!`` and ``…`` end a sentence, a full stop after an ordinary word
  too, unless the next word starts in lower case (``"Is it?" she asked.``):
  a sentence never starts with a lower-case letter because of a cut, except
  before a list's item ("b)") or a word such as "iPhone";
- after an abbreviation that names or introduces something (Mr., Dr., St.,
  e.g., i.e., vs.), or an initial (J. R. R. Tolkien, George W. Bush), a full
  stop never ends one; after "No.", "Fig.", "Jan." it does not before a
  number ("No. 5");
- after one that often closes a sentence (etc., Inc., Ltd., Co., U.S., U.K.,
  a.m., p.m.), it ends one only before a capital;
- "1." at the start of a sentence numbers a list's item;
- decimals (3.5, $1.2 billion) have no space after their point, so they are
  never a candidate.

The choice needs the first letter of the next word: a streamed sentence is
cut when that letter has come (the whole next word, when it is in lower case).
"""

from __future__ import annotations

import re

# a full stop after these never ends a sentence: they name or introduce what follows
_NEVER_END = frozenset(
    "mr mrs ms messrs dr prof st mt ft rev hon gen col lt capt sgt gov sen rep pres "
    "e.g i.e vs v cf viz approx ca c esp incl".split()
)
# ... nor after these before a number ("No. 5", "Fig. 3", "Jan. 12"); else as any word
_BEFORE_NUMBER = frozenset(
    "no nos fig figs vol vols pp p art sec ch op jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# ... and after these, which often close a sentence, it ends one only before a capital
_MAY_END = frozenset(
    "etc inc ltd co corp bros jr sr esq al dept ave blvd rd "
    "u.s u.k u.s.a u.s.s.r u.n e.u d.c l.a n.y a.m p.m b.c a.d".split()
)
# ... unless the next word goes on the name: "Co. Ltd.", "Acme Inc. Ltd."
_NAME_GOES_ON = frozenset("ltd inc co corp llc plc limited jr sr".split())
_NUMERALS = frozenset("IVX")  # as _MAY_END, not initials: "World War I. The war..."
_OPENERS = "\"'“‘«([{¿¡"
_CLOSERS = "\"'”’»)]}"
_FOOTNOTE = r"\[(?:\d{1,3}|[a-z]|citation needed)\]"  # Wikipedia's: "in 2010.[3] The"
# a sentence end: its punctuation, closing quotes and brackets, footnote marks, a space
_SENTENCE_END = re.compile(rf"([.!?…]+)[\"'”’»)\]]*(?:{_FOOTNOTE})*\s|[。！？]")
_FOOTNOTES_LAST = re.compile(rf"(?:{_FOOTNOTE})+$")
_NEXT_WORD = re.compile(r"\s*(\S*)")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")  # "j.r.r", "u.s"
_LIST_ITEM = re.compile(r"\(?(?:[a-z]|[ivx]{1,4}|\d{1,3})\)")  # "b)", "(iv)"
_CAMEL = re.compile(r"[a-z]+[A-Z]")  # "iPhone", "eBay": lower case, yet a sentence may start with it
# words that open a new phrase: the first clause may end before one of them
# (not "and" nor "or", which join words more often than clauses: "slow and expensive")
_PHRASE_OPENERS = frozenset(
    "but because which that who by with when where while so to for in on "
    "through from as if than after before since until".split()
)
_CLAUSE_END = re.compile(r"[,;:]\s|[—–]\s?|[，；：]")  # "3,000" and "10:30" are no clause ends


def _ends_at(text: str, match: re.Match, start: int, final: bool) -> bool | None:
    """Does the sentence that began at ``start`` end at ``match`` (a
    :data:`_SENTENCE_END` in ``text``)? None: not yet known, as the next word
    has still to come (never when ``final``: nothing more will)."""
    mark = match.group(1)
    if mark is None:
        return True  # "。", "！", "？"
    after = _NEXT_WORD.match(text, match.end())
    following, whole = after.group(1), final or after.end() < len(text)
    letter = following.lstrip(_OPENERS)[:1]
    if not letter:
        return True if whole else None  # the end of the text (or a lone dash)
    starts = letter.isupper()
    if letter.islower():
        if not whole:
            return None  # "b)" or "iPhone" may yet start a sentence
        if not (_LIST_ITEM.fullmatch(following) or _CAMEL.match(following)):
            return False
        starts = True
    if mark != ".":
        return True  # "?", "!", an ellipsis
    space = match.start() - 1  # the word before the full stop
    while space >= start and not text[space].isspace():
        space -= 1
    raw = text[space + 1 : match.start()].strip(_OPENERS + _CLOSERS)
    word = raw.lower()
    if word in _MAY_END or raw in _NUMERALS:
        if starts and not whole:
            return None  # "Co. Ltd.": the whole next word tells
        return starts and following.strip(_OPENERS + _CLOSERS + ".,;:").lower() not in _NAME_GOES_ON
    if word in _NEVER_END:
        return False
    if len(word) == 1 and word.isalpha() or _DOTTED.fullmatch(word):
        return False  # an initial: "J. R. R. Tolkien", "J.K. Rowling"
    if word in _BEFORE_NUMBER and letter.isdigit():
        return False
    if space < start and word.isdigit() and len(word) <= 3:
        return False  # "1. First item."
    return True


def _clause_end(text: str, words: int) -> int | None:
    """Where the first clause (up to a comma, a semicolon, a dash) of at least ``words`` words ends."""
    for match in _CLAUSE_END.finditer(text):
        if len(text[: match.start()].split()) >= words:
            return match.end()
    return None


def phrase_break(text: str, words: int, whole: bool = True) -> int | None:
    """Where the text's first phrase of at least ``words`` words ends: at a
    clause's end, else before a word that opens a new phrase ("because",
    "which", "in"...), leaving two words at least after it. Not ``whole``
    (a stream): its last word may still be growing, and is not read."""
    cuts = [_clause_end(text, words)]
    found = list(re.finditer(r"\S+(?=\s)" if not whole else r"\S+", text))
    for n, match in enumerate(found[words:], start=words):
        if match.group(0).lower() in _PHRASE_OPENERS and (not whole or len(found) - n >= 2):
            cuts.append(match.start())
            break
    return min((cut for cut in cuts if cut is not None), default=None)


def opening(text: str, words: int) -> list[str]:
    """The text as its first phrase (``words`` words at least, see
    :func:`phrase_break`) and the rest; whole, where it has no such phrase."""
    cut = phrase_break(text, words)
    if cut is None:
        return [text]
    return [part for part in (text[:cut].strip(), text[cut:].strip()) if part]


def ends_sentence(text: str) -> bool:
    """Does the text end a sentence (not a clause, nor a colon before a list)?"""
    return _FOOTNOTES_LAST.sub("", text.strip()).rstrip("\"'”’)]")[-1:] in (".", "!", "?", "…", "。", "！", "？")


def sentences(text: str) -> list[str]:
    """The whole sentences of a text, in order; what follows the last full
    stop is a sentence too."""
    text = " ".join(text.split()) + " "
    found, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if _ends_at(text, match, start, final=True):
            found.append(text[start : match.end()].strip())
            start = match.end()
    found.append(text[start:].strip())
    return [s for s in found if any(c.isalnum() for c in s)]


class ClauseSplitter:
    """Feed text as it streams; take clauses out as they complete.

    The first clause is cut at its first comma, or before a word that opens
    a new phrase ("by", "which", "and"...), once it has ``first_words``
    words, so the voice can start at once; later ones at sentence ends, or
    at a comma once ``long_words`` words have built up. A sentence end is cut
    as :func:`sentences` cuts it, once the next word tells: its first letter,
    or the whole word when it is in lower case or follows "p.m.".
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
        clauses = []
        while (end := self._sentence_end(final=True)) is not None:
            if (clause := self._take(end, more=False)) is not None:
                clauses.append(clause)
        rest = " ".join(self.buffer.split())
        self.buffer = ""
        return clauses + ([rest] if any(c.isalnum() for c in rest) else [])

    def _sentence_end(self, final: bool) -> int | None:
        """Where the buffer's first sentence ends; -1: it may end where the next word will tell."""
        for match in _SENTENCE_END.finditer(self.buffer):
            ends = _ends_at(self.buffer, match, 0, final)
            if ends is None:
                return -1
            if ends:
                return match.end()
        return None

    def _next(self) -> str | None:
        end = self._sentence_end(final=False)
        if end is not None:
            return None if end < 0 else self._take(end)
        if self.emitted == 0:
            cut = phrase_break(self.buffer, self.first_words, whole=False)
        else:
            cut = _clause_end(self.buffer, self.long_words)
        return None if cut is None else self._take(cut)

    def _take(self, end: int, more: bool = True) -> str | None:
        clause, self.buffer = " ".join(self.buffer[:end].split()), self.buffer[end:]
        if not any(c.isalnum() for c in clause):  # stray punctuation: nothing to say
            return self._next() if more else None
        self.emitted += 1
        return clause
