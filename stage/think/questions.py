"""What a question asks, read before it is answered: whether it is about the
persona itself ("what's your name?", "are you a real person?"), what a
"tell me about X" question is about, and the parts of a question that asks
two things at once ("What is open finance, and when did FPS launch?")."""

from __future__ import annotations

import re

_ABOUT_PERSONA = re.compile(
    r"\b(your name|who are you|who am i (talking|speaking) (to|with)|introduce yourself|about yourself|"
    r"are you (a |an )?(real|human|person|people|robot|bot|ai|machine|computer|avatar|actor|program)|"
    r"are you real|what are you\b|your (role|job|title)|what do you do\b|"
    r"who (runs|made|built|created|operates|controls|programmed|owns|is behind) you|"
    r"what('s| is) your (name|role|job|title))",
    re.IGNORECASE,
)

_TOPIC = re.compile(
    r"^\s*(?:so,? |and |now,? )?(?:can you |could you |would you |please )*"
    r"(?:tell (?:me|us) (?:a bit |a little |something |more )?about|what do you know about|what can you tell (?:me|us) about|"
    r"explain|describe|talk (?:to us |to me )?about|give (?:me|us) an overview of)\s+(?P<topic>.+?)[\s?.!]*$",
    re.IGNORECASE,
)

_WH = r"(?:what|how|why|when|where|who|whom|whose|which|is|are|was|were|does|do|did|can|could|will|would|should)"
# "..., and how is it regulated?" / "...? And when ..." : a second question starts
_SECOND_PART = re.compile(rf"(?:\?\s+|,?\s+and\s+|;\s*)(?=(?:and\s+)?{_WH}\b)", re.IGNORECASE)


def about_persona(question: str) -> bool:
    """Does the question ask about the persona itself: its name, its role, whether it is a person, who runs it?"""
    return bool(_ABOUT_PERSONA.search(question))


def unaddressed(question: str, names: list[str]) -> str:
    """The question without the name it is put to ("Ada, when did FPS launch?"
    is "When did FPS launch?"): the name says who answers, not what is asked."""
    for name in sorted(names, key=len, reverse=True):
        called = re.escape(name)
        question = re.sub(rf"^\s*{called}\s*[,:]\s*", "", question, flags=re.IGNORECASE)
        question = re.sub(rf"\s*,\s*{called}\s*(?=[?.!]?\s*$)", "", question, flags=re.IGNORECASE)
    question = question.strip()
    return question[:1].upper() + question[1:]


def topic_of(question: str) -> str:
    """What a "tell me about X" question is about (X), or the question itself."""
    match = _TOPIC.match(question)
    return match.group("topic") if match else question


def parts(question: str) -> list[str]:
    """The questions a question asks: one, or each of two or three that it
    joins ("What is open finance, and when did FPS launch?"). A part of fewer
    than three words is not a question of its own ("what and how")."""
    pieces = [p.strip(" ,;") for p in _SECOND_PART.split(question.strip())]
    pieces = [re.sub(r"^and\s+", "", p, flags=re.IGNORECASE) for p in pieces if p]
    if len(pieces) < 2 or any(len(p.split()) < 3 for p in pieces):
        return [question.strip()]
    return [p[0].upper() + p[1:] + ("" if p.endswith("?") else "?") for p in pieces[:3]]
