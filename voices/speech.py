"""What every speech engine shares: the engine interface, text splitting and
turning an engine's phoneme timings into :class:`PhonemeSpan` events."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Iterable, Iterator, Protocol

from stage.core.errors import FiresideError
from stage.core.events import PhonemeSpan, Speech


class SpeechEngine(Protocol):
    """Text in; speech out, piece by piece, as soon as each piece is made."""

    sample_rate: int
    # a slow voice starts an answer with its first phrase of this many words
    # at least, said apart, so the first audio does not wait for a long
    # sentence (Kokoro makes a second of speech in about 0.4 s; Piper in 0.05
    # s, so None: the first sentence is cut only past FIRST_PIECE_MAX_WORDS)
    opening_words: int | None

    def synthesize(self, text: str) -> Iterator[Speech]:
        """Yield :class:`Speech` pieces (audio plus aligned phonemes), each
        starting at 0 on its own clock; the caller places them in time."""
        ...


class SpeechError(FiresideError, ValueError):
    """Text that cannot be spoken (empty, or nothing speakable in it)."""


@lru_cache(maxsize=256)
def remembered(engine: SpeechEngine, text: str) -> tuple[Speech, ...]:
    """The speech for a line said again and again (a persona's holding
    lines, its approved answers), made once per engine and kept."""
    return tuple(engine.synthesize(text))


_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|(?<=[。！？])")
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+")
# A first sentence longer than this is split at its first clause, so the
# first audio of a reply does not wait for a long sentence to be made.
FIRST_PIECE_MAX_WORDS = 10


def speakable_pieces(text: str) -> list[str]:
    """Split text into sentences, and a long first sentence at a clause."""
    text = " ".join(text.split())
    if not text:
        raise SpeechError("there is no text to speak")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SpeechError("the text is not valid UTF-8") from None
    if not any(unicodedata.category(c)[0] in "LN" for c in text):
        raise SpeechError(f"there is nothing speakable in {text!r}")
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    first = sentences[0]
    if len(first.split()) > FIRST_PIECE_MAX_WORDS:
        clauses = _CLAUSE_END.split(first, maxsplit=1)
        if len(clauses) == 2 and len(clauses[0].split()) >= 2:
            sentences[:1] = clauses
    return sentences


PAUSE = ""  # the phoneme of a pause span
_STRESS = {"ˈ": True, "ˌ": False}
_LENGTH = "ː"
_PUNCTUATION = set(".,;:!?¡¿—–-…\"'()[]{}。，；：！？、") | {"^", "$", "_"}


def spans_from_timings(timings: Iterable[tuple[str, float]]) -> list[PhonemeSpan]:
    """Turn ``(symbol, seconds)`` pairs, in order, into phoneme spans.

    Engines time symbols that are not sounds: stress marks (their time goes
    to the next sound, which is marked stressed), the length mark and other
    modifiers (to the previous sound), word gaps (split between neighbours)
    and punctuation or start/end marks (pauses).
    """
    spans: list[PhonemeSpan] = []
    t = 0.0
    owed = 0.0  # time that belongs to the next sound
    stress = False
    for symbol, seconds in timings:
        start, t = t, t + seconds
        if symbol in _STRESS:
            owed += seconds
            stress = stress or _STRESS[symbol]
        elif symbol == " ":
            if spans and spans[-1].phoneme != PAUSE:
                _extend_last(spans, start + seconds / 2)
                owed += seconds / 2
            else:
                owed += seconds
        elif symbol in _PUNCTUATION or not symbol.strip():
            if spans and spans[-1].phoneme == PAUSE:
                _extend_last(spans, t)
            else:
                spans.append(PhonemeSpan(PAUSE, start - owed, t))
            owed, stress = 0.0, False
        elif spans and (symbol == _LENGTH or _is_modifier(symbol)):
            last = spans[-1]
            spans[-1] = PhonemeSpan(last.phoneme + symbol, last.start, t, last.stressed)
        else:
            spans.append(PhonemeSpan(symbol, start - owed, t, stress))
            owed, stress = 0.0, False
    if owed and spans:
        _extend_last(spans, t)
    return spans


def _extend_last(spans: list[PhonemeSpan], end: float) -> None:
    last = spans[-1]
    spans[-1] = PhonemeSpan(last.phoneme, last.start, end, last.stressed)


def _is_modifier(symbol: str) -> bool:
    return all(unicodedata.category(c) in ("Lm", "Mn", "Sk") for c in symbol)
