"""Captions as a viewer reads them: cues of at most two lines of at most 42
characters, each line ending where a phrase ends when one is near, each cue
on screen for at least a second (the usual subtitle rules). A turn's first
cue names its speaker; the rest follow on. Rehearsal's captions (SRT, VTT
and the video) are made here."""

from __future__ import annotations

import re
from dataclasses import replace

from stage.core.events import Caption
from stage.think.translation import is_chinese

LINE = 42  # characters a line
CHINESE_LINE = 16  # characters a line of Chinese (each as wide as about two Latin letters)
LINES = 2  # lines a cue
MIN_SECONDS = 1.0  # the least time a cue is on screen (where the next one leaves room)
ENDS = (
    ",",
    ";",
    ":",
    ".",
    "?",
    "!",
    "—",
    ")",
    "，",
    "。",
    "？",
    "！",
    "、",
    "；",
    "：",
    "」",
)  # a phrase ends after these
OPENS = frozenset(  # ... and before these
    "and but or so because which that who whom whose when where while with to for of in on at from as if than "
    "like about into through after before until against by over under between during without within across per".split()
)
# Chinese is written without spaces: each character is a word here (Latin words and
# numbers between them stay whole: "Grace Ho", "2018")
_HAN = "\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef"
_CHINESE_WORDS = re.compile(f"[{_HAN}]|[^{_HAN}]+")


def _words(text: str, chinese: bool) -> list[str]:
    if not chinese:
        return text.split()
    return [word.strip() for word in _CHINESE_WORDS.findall(text) if word.strip()]


def _joined(words: list[str], chinese: bool) -> str:
    return "".join(words) if chinese else " ".join(words)


def lines(text: str, width: int | None = None, chinese: bool | None = None) -> list[str]:
    """``text`` in lines of at most ``width`` characters (``LINE``, or
    ``CHINESE_LINE`` for Chinese, told or seen); a longer word stands alone."""
    chinese = is_chinese(text) if chinese is None else chinese
    width = width or (CHINESE_LINE if chinese else LINE)
    join = lambda words: _joined(words, chinese)  # noqa: E731
    out: list[str] = []
    line: list[str] = []
    for word in _words(text, chinese):
        if line and len(join(line + [word])) > width:
            cut = _phrase_end(line)
            out.append(join(line[:cut]))
            line = line[cut:]
            if line and len(join(line + [word])) > width:  # what was carried over cannot take the word too
                out.append(join(line))
                line = []
        line.append(word)
    return out + [join(line)] if line else out


def _phrase_end(words: list[str]) -> int:
    """Where to end a full line: after the last punctuation in its second
    half, else before the last word that opens a phrase there, else after its last word."""
    least = max(1, len(words) // 2)
    for k in range(len(words), least - 1, -1):
        if words[k - 1].endswith(ENDS):
            return k
    for k in range(len(words) - 1, least - 1, -1):
        if words[k].lower().strip("\"'(") in OPENS:
            return k
    return len(words)


def cues(captions: list[Caption], named: bool = True, chinese: bool | None = None) -> list[Caption]:
    """A turn's captions (one per piece of speech, in order) as cues of at
    most ``LINES`` lines (``\\n`` between them) that run on across the
    pieces, each from its first word's time to its last's (a word's time is
    its share of its piece's characters); with ``named``, the first begins
    with the speaker's name. Chinese captions are cut between characters."""
    if chinese is None:  # as told, else as seen
        chinese = bool(captions) and is_chinese("".join(c.text for c in captions))
    timed: list[tuple[str, float, float]] = []  # each word, when it is said
    for caption in captions:
        words = _words(caption.text, chinese)
        total = sum(len(w) + 1 for w in words) or 1
        t = caption.start
        for word in words:
            share = (caption.end - caption.start) * (len(word) + 1) / total
            timed.append((word, t, t + share))
            t += share
    if not timed:
        return []
    text = _joined([w for w, _, _ in timed], chinese)
    first = captions[0]
    name = f"{first.speaker}：" if chinese else f"{first.speaker}: "
    split = lines(f"{name}{text}" if named else text, chinese=chinese)
    if named:  # the name's words are said with the first word
        timed = [(w, timed[0][1], timed[0][1]) for w in _words(name, chinese)] + timed
    out, at = [], 0
    for i in range(0, len(split), LINES):
        group = split[i : i + LINES]
        count = sum(len(_words(line, chinese)) for line in group)
        words = timed[at : at + count]
        at += count
        out.append(replace(first, text="\n".join(group), start=words[0][1], end=words[-1][2]))
    return out


def held(cues: list[Caption]) -> list[Caption]:
    """Each cue kept on screen ``MIN_SECONDS`` at least, where the next one
    starts late enough to leave the room (cues in time order)."""
    out = []
    for i, cue in enumerate(cues):
        after = cues[i + 1].start if i + 1 < len(cues) else cue.start + MIN_SECONDS
        out.append(replace(cue, end=max(cue.end, min(cue.start + MIN_SECONDS, after))))
    return out
