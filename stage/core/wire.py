"""The wire format: every message a call or the stage sends its pages (over
the WebRTC data channel, in the console's feed, in a LiveKit room), defined
once. Each has a ``type``; the pages read only these fields (see the
README's "Messages" section).

On stage a message also says whose it is (``panelist``, ``name``) and where
it sits in the feed (``seq``, ``at`` on the stage clock); a field with no
value is left out of the JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    panelist: str | None = None  # on stage: the panelist's id, or "moderator"
    name: str | None = None  # on stage: their display name
    seq: int | None = None  # on stage: the message's number in the feed
    at: float | None = None  # on stage: when it was published (stage clock, seconds)

    def wire(self) -> dict:
        """The message as JSON-ready data."""
        return self.model_dump(mode="json", exclude_none=True)


class CaptionMessage(Message):
    """Words as they are heard: the person's (running, then final) or an avatar's."""

    type: Literal["caption"] = "caption"
    speaker: str | None = None  # a call: "person" or the persona's id
    text: str
    final: bool = True
    kind: str | None = None  # an avatar's: model, extractive, approved, holding, scripted; "moderator"
    sources: list[str] | None = None
    titles: list[str] | None = None  # the sources as a person reads them
    answer: int | None = None  # which answer of the session the words belong to
    start: float | None = None  # when the words are heard (session clock)
    end: float | None = None


class GuardrailMessage(Message):
    """A guardrail decision other than allow, shown after the words before it."""

    type: Literal["guardrail"] = "guardrail"
    check: str
    action: str
    rule: str
    reason: str


class DecisionMessage(GuardrailMessage):
    """The same decision, for the console only, as soon as it is taken."""

    type: Literal["decision"] = "decision"


class ClauseMessage(Message):
    """What a panelist is about to say (the console sees it before it is heard)."""

    type: Literal["clause"] = "clause"
    text: str
    kind: str
    sources: list[str] = []
    titles: list[str] = []


class TurnMetrics(BaseModel):
    """A call's turn, by LiveKit Agents' names; every field in seconds, from
    the end of the person's speech unless it says otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    end_of_turn_delay: float | None = Field(None, description="seconds: to the turn's end")
    transcription_delay: float | None = Field(None, description="seconds: to the final transcript")
    llm_ttft: float | None = Field(None, description="seconds: the model's first token after its request")
    tts_ttfb: float | None = Field(None, description="seconds: the voice's first audio after the first clause")
    e2e_latency: float | None = Field(None, description="seconds: to the avatar's first audio")


class AnswerEndMessage(Message):
    type: Literal["answer_end"] = "answer_end"
    outcome: str  # answered, approved, held, trimmed, cut at the time limit
    sources: list[str] = []
    titles: list[str] | None = None
    timings: dict = {}  # the thinker's, in ms
    after_speech_end: dict | None = None  # a call's: when each step came, after the person stopped (s)
    metrics: TurnMetrics | None = None  # a call's turn, by LiveKit's names


class StoppedMessage(Message):
    """The avatar was silenced (a barge-in, or the moderator's stop)."""

    type: Literal["stopped"] = "stopped"
    at: float | None = None


class PausedMessage(Message):
    """The person spoke over the avatar: it is silent, waiting to see whether they take the turn."""

    type: Literal["paused"] = "paused"
    at: float | None = None


class ResumedMessage(Message):
    """It was a cough or an "mm-hm", not a turn: the avatar goes on where it paused."""

    type: Literal["resumed"] = "resumed"
    at: float | None = None


class AskedMessage(Message):
    """A question put to the panel. The stage shows an audience question as
    the audience's ("Question from Priya"), a typed one as the moderator's,
    and never one the guardrail refuses (nor a spoken one: its words were
    captioned as they were said)."""

    type: Literal["asked"] = "asked"
    question: str
    to: str  # a panelist's id, or "all"
    id: str | None = None  # the audience question's id, when it came from the queue
    by: Literal["audience", "moderator", "microphone"] = "moderator"  # who put it: typed, or said
    asker: str | None = None  # the audience member's name ("" when anonymous)
    refused: str | None = None  # the guardrail's rule, when it refuses the question (not projected)
    original: str | None = None  # the asker's own words, where the question is their translation


class TranslationMessage(Message):
    """A caption's second line in another language."""

    type: Literal["translation"] = "translation"
    of: int | None = None  # the caption's seq (on stage): its clause's last piece
    since: int | None = None  # its clause's first piece's caption (seq): the line translates since .. of
    answer: int | None = None  # the caption's answer (in a call)
    language: str
    text: str


WireMessage = Annotated[
    Union[
        CaptionMessage,
        GuardrailMessage,
        DecisionMessage,
        ClauseMessage,
        AnswerEndMessage,
        StoppedMessage,
        PausedMessage,
        ResumedMessage,
        AskedMessage,
        TranslationMessage,
    ],
    Field(discriminator="type"),
]
WIRE = TypeAdapter(WireMessage)


def read_message(data: dict | str | bytes) -> WireMessage:
    """A message from its JSON (or JSON-ready data); pydantic's error when it is not one."""
    return WIRE.validate_json(data) if isinstance(data, (str, bytes)) else WIRE.validate_python(data)
