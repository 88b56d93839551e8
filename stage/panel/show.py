"""A run-of-show: the panel's title, its panelists and its segments in order.

A show file is YAML (demo shows are in ``prompts/shows/``)::

    title: Tokenised money
    moderator: {name: Grace Ho, voice: espeak-en}
    panelists: [ada, ravi]
    segments:
      - say: Good evening, and welcome.        # the moderator speaks
        slot: 15s
      - ask: What is open banking?             # the moderator asks ...
        to: ada                                # ... one panelist, or all
        slot: 45s
      - line: Thank you, Grace.                # a panelist speaks these words
        by: ravi
        slot: 10s
      - wav: closing.wav                       # a recorded moderator line
        slot: 0:20
    translation:                               # captions in a second language too
      to: zh-Hant-HK                           # Hong Kong Traditional (or zh-Hans, or "French")
      glossary: ../glossaries/hong-kong.yaml   # terms always written the same way

A segment is exactly one of ``say``, ``ask`` or ``line``, or a ``wav`` file
of the moderator (transcribed for the captions); ``ask`` may take its
question from a ``wav`` too. Answers to an ``ask`` are generated, unless it
gives the ``answer`` to speak verbatim. Each segment has a ``slot``: seconds
(``45``, ``45s``, ``2m``, ``1:30``). A broken file fails with its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from stage.core.errors import FiresideError
from stage.core.yamlfile import line_of, nodes, read_mapping, validate
from stage.think.guardrails import require_question
from stage.think.persona import PersonaCard, UnknownPersona
from stage.think.translation import Glossary, TranslationError
from voices.catalog import UnknownVoice, VoiceCatalog

ALL = "all"


class ShowError(FiresideError, ValueError):
    """A show file that cannot be rehearsed; the message names file, line and reason."""


def seconds(value) -> float:
    """``45``, ``45s``, ``2m``, ``1:30`` or ``1:02:00`` as seconds."""
    if isinstance(value, bool):
        raise ValueError("a slot is a length of time, such as 45s or 1:30")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds|m|min|mins|minutes)?", text):
        number, unit = float(match[1]), match[2] or "s"
        return number * (60 if unit.startswith("m") else 1)
    if re.fullmatch(r"\d+(:\d{1,2}){1,2}", text):
        total = 0.0
        for part in text.split(":"):
            total = total * 60 + int(part)
        return total
    raise ValueError(f"{value!r} is not a length of time: use 45, 45s, 2m or 1:30")


Seconds = Annotated[float, BeforeValidator(seconds), Field(gt=0, le=3600)]


class Moderator(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="Moderator", min_length=1)
    voice: str = "espeak-en"  # distinct from the panelists' voices


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = Field(default=None, min_length=1)
    ask: str | None = Field(default=None, min_length=1)
    line: str | None = Field(default=None, min_length=1)
    wav: str | None = None  # the moderator's recorded words (for say, or for ask)
    to: str | None = None  # ask: a panelist, or "all"
    by: str | None = None  # line: the panelist
    answer: str | None = Field(default=None, min_length=1)  # ask: the words to speak instead of generating
    slot: Seconds

    @field_validator("ask")
    @classmethod
    def _a_question(cls, ask: str | None) -> str | None:
        return ask if ask is None else require_question(ask)

    @model_validator(mode="after")
    def _one_kind(self) -> "Segment":
        kinds = [k for k in ("say", "ask", "line") if getattr(self, k) is not None]
        if len(kinds) > 1:
            raise ValueError(f"a segment is one of say, ask or line, not {' and '.join(kinds)}")
        if not kinds and self.wav is None:
            raise ValueError("a segment needs say, ask, line or wav")
        if self.wav is not None and (self.say is not None or self.line is not None):
            raise ValueError("wav is the moderator's words: give it alone (a line said), or with to (a question)")
        if self.kind == "ask" and not self.to:
            raise ValueError("a question needs 'to': a panelist's id, or all")
        if self.kind != "ask" and (self.to or self.answer):
            raise ValueError("'to' and 'answer' belong to a question (ask)")
        if self.kind == "line" and not self.by:
            raise ValueError("a line needs 'by': the panelist who says it")
        if self.kind != "line" and self.by:
            raise ValueError("'by' belongs to a line")
        if self.answer is not None and self.to == ALL:
            raise ValueError("a scripted answer is for one panelist, not all")
        return self

    @property
    def kind(self) -> Literal["say", "ask", "line"]:
        if self.line is not None:
            return "line"
        if self.ask is not None or self.to is not None:
            return "ask"
        return "say"

    @property
    def text(self) -> str | None:
        """The words as written (None where they come from a WAV file)."""
        return self.say or self.ask or self.line

    @property
    def summary(self) -> str:
        """One line: who says what ("to ravi: How do banks ...")."""
        if self.kind == "line":
            return f"{self.by}: {self.line}"
        words = self.text or f"(recorded: {Path(self.wav).name})"
        return f"to {self.to}: {words}" if self.kind == "ask" else f"moderator: {words}"


class Translation(BaseModel):
    """The captions' second line: their language and the organiser's terms."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(default="zh-Hant-HK", min_length=2)  # zh-Hant-HK, zh-Hans, or a language's name
    # terms always written the same way ("HKMA: 香港金融管理局"), or a YAML file of them
    glossary: dict[str, str] | str | None = None


class Show(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    event: str | None = None  # where the panel happens, for the personas' prompts
    moderator: Moderator = Moderator()
    panelists: list[str] = Field(min_length=1, max_length=6)
    segments: list[Segment] = Field(min_length=1)
    translation: Translation | None = None  # none: captions in English only
    path: Path | None = Field(default=None, exclude=True)

    def glossary(self, names: list[str] = ()) -> Glossary:
        """The translation's glossary, with ``names`` (the panelists', the
        moderator's) kept as they are written."""
        terms = {name: name for name in [self.moderator.name, *names]}
        if self.translation is not None:
            base = self.path.parent if self.path is not None else None
            terms.update(Glossary.load(self.translation.glossary, base).terms)
        return Glossary(terms)

    def wav_path(self, segment: Segment) -> Path:
        """A segment's WAV file; a relative path is relative to the show file."""
        path = Path(segment.wav).expanduser()
        return path if path.is_absolute() or self.path is None else self.path.parent / path

    def addressed(self, segment: Segment) -> list[str]:
        """Who answers a question, in order."""
        return list(self.panelists) if segment.to == ALL else [segment.to]

    @property
    def planned(self) -> float:
        return sum(s.slot for s in self.segments)


def load_show(path: Path | str, cards: dict[str, PersonaCard], catalog: VoiceCatalog) -> Show:
    """Read and check a show file: its shape, then that its panelists,
    voices and WAV files exist. Every problem names the file and line."""
    path = Path(path)
    data = read_mapping(path, ShowError, "show file")
    show = validate(Show, data, path, ShowError)
    show.path = path
    root = nodes(path)

    def fail(loc: list, message: str):
        line = line_of(root, loc)
        raise ShowError(f"{path}{f':{line}' if line else ''}: {'.'.join(map(str, loc))}: {message}")

    for i, pid in enumerate(show.panelists):
        if pid not in cards:
            fail(["panelists", i], str(UnknownPersona(pid, sorted(cards))))
        if pid in show.panelists[:i]:
            fail(["panelists", i], f"{pid!r} is on the panel twice")
    try:
        moderator_voice = catalog.get(show.moderator.voice)
    except UnknownVoice as err:
        fail(["moderator", "voice"], str(err))
    same = [pid for pid in show.panelists if cards[pid].voice == moderator_voice.id]
    if same:
        fail(
            ["moderator", "voice"],
            f"{moderator_voice.id!r} is also {', '.join(same)}'s voice: "
            "the moderator must sound different from the panelists",
        )
    for i, segment in enumerate(show.segments):
        for field, who in (("to", segment.to), ("by", segment.by)):
            if who is not None and who != ALL and who not in show.panelists:
                allowed = ", ".join(show.panelists) + (", or all" if field == "to" else "")
                fail(["segments", i, field], f"{who!r} is not on this panel: use {allowed}")
        if segment.by == ALL:
            fail(["segments", i, "by"], "a line is said by one panelist, not all")
        if segment.wav is not None:
            wav = show.wav_path(segment)
            if not wav.is_file():
                fail(["segments", i, "wav"], f"{wav} does not exist")
    if show.translation is not None:
        try:
            show.glossary()
        except TranslationError as err:
            fail(["translation", "glossary"], str(err))
    return show
