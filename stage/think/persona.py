"""Persona cards: who an avatar is, what it knows, and what it will not say.

A card is a YAML file (see ``prompts/personas/``); paths in it are relative
to the ``prompts/`` folder that holds it. A broken card fails at load with
the file, the field and the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Collection, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field, field_validator

from avatar.rigs import spec_problem
from stage.core import paths
from stage.core.errors import FiresideError
from stage.core.yamlfile import read_mapping, validate

PROMPTS = paths.PROMPTS


WORDS_PER_SECOND = 2.6  # a calm speaking pace


class PersonaError(FiresideError, ValueError):
    """A card that cannot be used; the message names file, field and reason."""


class ApprovedAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=3)
    answer: str = Field(min_length=1)
    sources: list[str] = []


class OffLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    keywords: list[str] = Field(min_length=1)


class PersonaCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    title: str
    voice: str = "joe"
    # the voice in a one-to-one call, where the answer must come within a second: a
    # slower voice (Kokoro's) on stage and in rehearsal, a fast one (Piper's) in calls
    call_voice: str | None = None
    avatar: str = "stylized"
    style: str = ""
    # who the persona is, in a sentence or two, for questions about itself ("who runs you?")
    about: str = ""
    system_prompt: str
    knowledge: list[str] = []
    approved_answers: list[ApprovedAnswer] = []
    off_limits: list[OffLimits] = []
    holding_lines: list[str] = Field(min_length=1)
    max_answer_seconds: float = Field(default=25, gt=0, le=300)
    # extractive or generated answers for this persona (default: the config's llm.answer_mode)
    answer_mode: Literal["extractive", "generated"] | None = None
    # the LoRA adapter that vLLM serves for this persona (the request's model name)
    adapter: str | None = None
    root: Path = Field(default=PROMPTS, exclude=True)

    @property
    def max_answer_words(self) -> float:
        """About how many words fit in the persona's time, at a calm pace."""
        return self.max_answer_seconds * WORDS_PER_SECOND

    @field_validator("system_prompt")
    @classmethod
    def _template_parses(cls, text: str) -> str:
        try:
            jinja2.Environment().parse(text)
        except jinja2.TemplateSyntaxError as err:
            raise ValueError(f"template error on line {err.lineno}: {err.message}") from None
        return text

    def knowledge_paths(self) -> list[Path]:
        return [self.root / k for k in self.knowledge]

    def render_system_prompt(self, event: str = "a banking innovation conference") -> str:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        return (
            env.from_string(self.system_prompt)
            .render(name=self.name, title=self.title, style=self.style, event=event)
            .strip()
        )

    @property
    def source(self) -> str:
        """The card as an answer's source (what a question about the persona is answered from)."""
        return f"personas/{self.id}.yaml"

    def introduction(self) -> str:
        """The answer to a question about the persona itself: who it is, that it
        is an AI avatar (always said), and the card's ``about``."""
        line = f"I'm {self.name}, {self.title}, and I'm an AI avatar, not a person."
        return f"{line} {self.about.strip()}" if self.about.strip() else line

    def holding_line(self, turn: int = 0) -> str:
        return self.holding_lines[turn % len(self.holding_lines)]


def load_persona(path: Path, voices: Collection[str] | None = None) -> PersonaCard:
    """A card, checked: its fields, the files it names, its avatar and (given
    the ``voices`` there are) its voice. A problem names the file and field."""
    path = Path(path)
    data = read_mapping(path, PersonaError, "persona card")
    card = validate(PersonaCard, {**data, "root": path.resolve().parent.parent}, path, PersonaError)
    for k in card.knowledge_paths():
        if not k.is_file():
            raise PersonaError(f"{path}: knowledge: {k} does not exist")
    for field, voice in (("voice", card.voice), ("call_voice", card.call_voice)):
        if voices is not None and voice is not None and voice not in voices:
            known = ", ".join(sorted(voices))
            raise PersonaError(f"{path}: {field}: unknown voice {voice!r}; known voices: {known}")
    problem = spec_problem(card.avatar)
    if problem:
        raise PersonaError(f"{path}: avatar: {problem}")
    return card


def read_personas(
    folder: Path | None = None, voices: Collection[str] | None = None
) -> tuple[dict[str, PersonaCard], list[PersonaError]]:
    """Every good card in a ``personas/`` folder, by id, and what is wrong with the others."""
    folder = Path(folder) if folder else PROMPTS / "personas"
    cards: dict[str, PersonaCard] = {}
    problems: list[PersonaError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            card = load_persona(path, voices)
            if card.id in cards:
                raise PersonaError(f"{path}: id: {card.id!r} is already used by another card")
        except PersonaError as problem:
            problems.append(problem)
            continue
        cards[card.id] = card
    return cards, problems


def load_personas(folder: Path | None = None, voices: Collection[str] | None = None) -> dict[str, PersonaCard]:
    """Every card in a ``personas/`` folder, by id; the first broken one is a :class:`PersonaError`."""
    cards, problems = read_personas(folder, voices)
    if problems:
        raise problems[0]
    return cards


class UnknownPersona(FiresideError, KeyError):
    def __init__(self, persona_id: str, known: list[str]):
        super().__init__(persona_id)
        self.message = f"unknown persona {persona_id!r}; known personas: {', '.join(known) or '(none)'}"

    def __str__(self) -> str:
        return self.message
