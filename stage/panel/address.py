"""Who a question is for, from its words: a panelist named near its start
or its end ("Ravi, how do ...", "... what do you think, Ada?"), matched
loosely (a recogniser may hear "Radi" for "Ravi"), or everyone ("everyone",
"panel"). The moderator's microphone and the audience's queue both ask it."""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from stage.panel.show import ALL

EVERYONE = ("everyone", "everybody", "panel", "panelists", "all of you", "both of you")
NAME_MATCH = 75  # how alike (0-100) a word and a panelist's name must be


def addressee(text: str, names: dict[str, str]) -> str | None:
    """The panelist (by id; ``names`` maps each to its display name) that
    ``text`` names, ``all``, or None when it names no one."""
    words = re.findall(r"[\w']+", text.lower())
    near = [w for w in words[:3] + words[-2:] if len(w) >= 3]
    best, score = None, 0.0
    for pid, name in names.items():
        for called in {pid.lower(), name.split()[0].lower()}:
            for word in near:
                ratio = fuzz.ratio(word, called)
                if ratio > score:
                    best, score = pid, ratio
    if score >= NAME_MATCH:
        return best
    if any(re.search(rf"\b{word}\b", text.lower()) for word in EVERYONE):
        return ALL
    return None
