"""Guardrails. Audience questions are untrusted: each is checked for prompt
injection and off-limits topics before the model sees it, and each clause of
an answer is checked for off-limits topics, personal data and length before
it is spoken. Every decision is logged with its reason."""

from __future__ import annotations

import logging
import re

from stage.core.errors import FiresideError
from stage.core.events import GuardrailDecision
from stage.think.documents import Passage
from stage.think.knowledge import content_words
from stage.think.persona import PersonaCard

log = logging.getLogger("fireside.guardrails")

# a clause must share this much of its meaning with the knowledge it was given ...
MIN_SUPPORT = 0.4
# ... and each generated sentence must say what one of its source sentences
# says, at least this closely (MiniLM cosine). Calibrated on the question set's
# dev split: the persona cards' approved answers, faithful paraphrases written
# by people, scored 0.54-0.96 against the sections they cite (short rhetorical
# lines such as "Slow down." 0.03-0.14); the small model's off-topic and
# contradicting sentences ("No, it cannot be biased.") 0.04-0.22. Its
# inventions built from source words scored 0.62-0.73, inside the faithful
# range: no threshold on this similarity separates them, which is why the
# embedded model answers extractively by default.
MIN_SIMILARITY = 0.55

_INJECTION = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instructions?|rules?|prompts?|guidelines?|guardrails?|persona|programming)\b",
        r"\b(reveal|show|print|repeat|tell me|output|leak)\b.{0,30}\b(system prompt|instructions|your prompt|hidden prompt|rules you)\b",
        r"\byou are (now|no longer)\b",
        r"\bfrom now on\b.{0,40}\b(you|your)\b",
        r"\b(pretend|act as if|roleplay|role-play)\b.{0,40}\b(you are|to be|as)\b",
        r"\b(developer|debug|god|jailbreak|dan) mode\b",
        r"\bjailbreak\b",
        r"^\s*(system|assistant)\s*:",
        r"\bnew (instructions|rules|persona)\b",
        r"\bsay exactly\b|\brepeat after me\b",
    )
]

# personal data that must never be spoken: phone numbers, ID and card numbers, e-mail addresses
_PERSONAL = {
    "phone number": re.compile(r"(?<!\w)(\+?\d{1,3}[\s-]?)?(\(?\d{2,4}\)?[\s-]?)?\d{3,4}[\s-]?\d{4}(?!\w)"),
    "identity number": re.compile(r"\b[A-Z]{1,2}\d{6}\s?\(?[0-9A]\)?|\b\d{3}-\d{2}-\d{4}\b|\b[STFG]\d{7}[A-Z]\b"),
    "card number": re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    "e-mail address": re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"),
}


class EmptyQuestion(FiresideError, ValueError):
    """A question with nothing to ask: empty, blank, or only punctuation."""

    def __init__(self, message: str = "the question is empty: say or type what you want to ask"):
        super().__init__(message)


def require_question(text: str) -> str:
    """The question, stripped; :class:`EmptyQuestion` when it has no letter
    or digit at all ("", "   ", "  ?? "), which no persona could answer."""
    text = str(text or "").strip()
    if not any(c.isalnum() for c in text):
        raise EmptyQuestion()
    return text


def _decision(check: str, action: str, rule: str, reason: str) -> GuardrailDecision:
    decision = GuardrailDecision(check=check, action=action, rule=rule, reason=reason)
    # a refusal is news; a question let through is not (the audit log has both)
    log.log(logging.DEBUG if action == "allow" else logging.INFO, "%s check: %s (%s): %s", check, action, rule, reason)
    return decision


def _off_limits(text: str, card: PersonaCard) -> tuple[str, str] | None:
    lowered = " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())
    for item in card.off_limits:
        for keyword in item.keywords:
            if re.search(rf"\b{re.escape(keyword.lower())}\b", lowered):
                return item.topic, keyword
    return None


def check_question(question: str, card: PersonaCard) -> GuardrailDecision:
    """Allow or block a question before the model sees it."""
    for pattern in _INJECTION:
        match = pattern.search(question)
        if match:
            return _decision(
                "input",
                "block",
                "prompt-injection",
                f"the question tries to change the persona's instructions: {match.group(0)!r}",
            )
    topic = _off_limits(question, card)
    if topic:
        return _decision("input", "block", "off-limits", f"the question is about {topic[0]} ({topic[1]!r})")
    return _decision("input", "allow", "clean", "no injection or off-limits topic found")


class AnswerCheck:
    """Checks an answer clause by clause, as it streams.

    Besides topics, personal data and length, a generated clause must rest
    on what the model was given (the passages, the question, the card): most
    of its content words, and every number in it, must appear there. This
    catches the small model's inventions ("the BBA", "25 per cent").
    """

    def __init__(self, card: PersonaCard, question: str = "", passages: list[Passage] = ()):
        self.card = card
        self.words = 0
        self.grounded = bool(passages)
        self.asked = content_words(question)
        self.known = content_words(" ".join([question, card.name, card.title, *(p.text for p in passages)]))

    def clause(self, text: str) -> tuple[str | None, GuardrailDecision | None]:
        """The clause to speak (None: stop the answer here) and any decision taken."""
        topic = _off_limits(text, self.card)
        if topic:
            return None, _decision("output", "block", "off-limits", f"the answer turned to {topic[0]} ({topic[1]!r})")
        for kind, pattern in _PERSONAL.items():
            if pattern.search(text):
                return None, _decision("output", "block", "personal-data", f"the answer contains a {kind}")
        if self.grounded:
            words = content_words(text)
            if words and words <= self.asked:
                return None, _decision("output", "block", "echo", f"the answer only says the question again: {text!r}")
            numbers = {w for w in words if w[0].isdigit()}
            if numbers - self.known:
                return None, _decision(
                    "output",
                    "block",
                    "unsupported",
                    f"the answer gives a number its sources do not: {sorted(numbers - self.known)}",
                )
            if len(words) >= 3 and len(words & self.known) / len(words) < MIN_SUPPORT:
                return None, _decision(
                    "output", "block", "unsupported", f"the answer strays from its sources: {text!r}"
                )
        words = len(text.split())
        limit = self.card.max_answer_words
        if self.words + words > limit and self.words > 0:
            return None, _decision(
                "output", "trim", "length", f"the answer would run past {self.card.max_answer_seconds:g} s of speech"
            )
        self.words += words
        return text, None

    @staticmethod
    def sentence(text: str, similarity: float) -> GuardrailDecision | None:
        """A whole generated sentence, and its similarity to its closest source sentence."""
        if similarity < MIN_SIMILARITY:
            return _decision(
                "output",
                "block",
                "unsupported",
                f"no source sentence says this (similarity {similarity:.2f}): {text!r}",
            )
        return None
