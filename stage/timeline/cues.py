"""Captions as a viewer reads them: cues of at most two lines of at most 42
characters, each line ending where a phrase ends when one is near, each cue
on screen for at least a second (the usual subtitle rules). A turn's first
cue names its speaker; the rest follow on. Rehearsal's captions (SRT, VTT
and the video) are made here."""

from __future__ import annotations

from dataclasses import replace

from stage.core.events import Caption

LINE = 42  # characters a line
LINES = 2  # lines a cue
MIN_SECONDS = 1.0  # the least time a cue is on screen (where the next one leaves room)
ENDS = (",", ";", ":", ".", "?", "!", "—", ")")  # a phrase ends after these
OPENS = frozenset(  # ... and before these
    "and but or so because which that who whom whose when where while with to for of in on at from as if than "
    "like about into through after before until against by over under between during without within across per".split()
)


def lines(text: str) -> list[str]:
    """``text`` in lines of at most ``LINE`` characters (a longer word stands alone)."""
    out: list[str] = []
    line: list[str] = []
    for word in text.split():
        if line and len(" ".join(line + [word])) > LINE:
            cut = _phrase_end(line)
            out.append(" ".join(line[:cut]))
            line = line[cut:]
            if line and len(" ".join(line + [word])) > LINE:  # what was carried over cannot take the word too
                out.append(" ".join(line))
                line = []
        line.append(word)
    return out + [" ".join(line)] if line else out


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


def cues(captions: list[Caption], named: bool = True) -> list[Caption]:
    """A turn's captions (one per piece of speech, in order) as cues of at
    most ``LINES`` lines (``\\n`` between them) that run on across the
    pieces, each from its first word's time to its last's (a word's time is
    its share of its piece's characters); with ``named``, the first begins
    with the speaker's name."""
    timed: list[tuple[str, float, float]] = []  # each word, when it is said
    for caption in captions:
        words = caption.text.split()
        total = sum(len(w) + 1 for w in words) or 1
        t = caption.start
        for word in words:
            share = (caption.end - caption.start) * (len(word) + 1) / total
            timed.append((word, t, t + share))
            t += share
    if not timed:
        return []
    text = " ".join(w for w, _, _ in timed)
    first = captions[0]
    split = lines(f"{first.speaker}: {text}" if named else text)
    if named:  # the name's words are said with the first word
        timed = [(w, timed[0][1], timed[0][1]) for w in f"{first.speaker}:".split()] + timed
    out, at = [], 0
    for i in range(0, len(split), LINES):
        group = split[i : i + LINES]
        count = sum(len(line.split()) for line in group)
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
