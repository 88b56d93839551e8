"""The one vocabulary of events that moves through Fireside.

Every event carries its time in seconds on the session clock, so audio,
visemes, frames and captions line up by construction, never by waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class AudioChunk:
    """Mono 16-bit PCM starting at ``pts`` seconds on the session clock."""

    pcm: np.ndarray  # int16, shape (samples,)
    sample_rate: int
    pts: float = 0.0

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate

    @property
    def end(self) -> float:
        return self.pts + self.duration


@dataclass(frozen=True)
class PhonemeSpan:
    """One IPA phoneme (or a pause: ``""``) between ``start`` and ``end`` seconds.

    ``stressed`` marks the vowel of a stressed syllable (it lifts the brows).
    """

    phoneme: str
    start: float
    end: float
    stressed: bool = False

    def shifted(self, offset: float) -> "PhonemeSpan":
        return PhonemeSpan(self.phoneme, self.start + offset, self.end + offset, self.stressed)


@dataclass(frozen=True)
class Speech:
    """A piece of synthesized speech: its audio and the phonemes aligned to it."""

    text: str
    audio: AudioChunk
    phonemes: list[PhonemeSpan] = field(default_factory=list)

    def at(self, pts: float) -> "Speech":
        """The same speech placed at ``pts`` on the session clock."""
        offset = pts - self.audio.pts
        return Speech(
            self.text,
            AudioChunk(self.audio.pcm, self.audio.sample_rate, pts),
            [p.shifted(offset) for p in self.phonemes],
        )

    def after(self, t: float) -> "Speech":
        """What is left of this speech from ``t`` on the clock (a paused avatar's rest)."""
        skip = min(len(self.audio.pcm), max(0, round((t - self.audio.pts) * self.audio.sample_rate)))
        start = self.audio.pts + skip / self.audio.sample_rate
        phonemes = [
            p if p.start >= start else PhonemeSpan(p.phoneme, start, p.end, p.stressed)
            for p in self.phonemes
            if p.end > start
        ]
        return Speech(self.text, AudioChunk(self.audio.pcm[skip:], self.audio.sample_rate, start), phonemes)


@dataclass(frozen=True)
class Viseme:
    """A mouth shape (one of :data:`avatar.visemes.VISEMES`) held from ``start`` to ``end``."""

    id: str
    start: float
    end: float
    weight: float = 1.0


@dataclass(frozen=True)
class Frame:
    """One rendered avatar image (RGB, uint8, HxWx3) shown at ``pts`` seconds."""

    rgb: np.ndarray
    pts: float


@dataclass(frozen=True)
class Transcript:
    """Partial or final words of one speaker."""

    speaker: str
    text: str
    final: bool
    start: float
    end: float


@dataclass(frozen=True)
class GuardrailDecision:
    """A guardrail's verdict on a question (``input``) or an answer (``output``)."""

    check: str  # "input" | "output"
    action: str  # "allow" | "block" | "trim" | "hold"
    rule: str  # "prompt-injection", "off-limits", "personal-data", "length", "no-grounding", ...
    reason: str


@dataclass(frozen=True)
class Clause:
    """A speakable piece of an answer, with the sources it rests on.

    ``kind``: "model" (generated), "extractive" (a source's own sentence),
    "approved" (spoken verbatim from the card) or "holding" (a holding line
    instead of a guess). ``titles``: the sources as a person reads them
    ("Payments: Faster Payment System"), one for each of ``sources``.
    """

    text: str
    sources: tuple[str, ...] = ()
    kind: str = "model"
    titles: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerEnd:
    """The end of an answer: what it rested on and how long it took (ms)."""

    outcome: str  # "answered" | "approved" | "held" | "trimmed"
    sources: tuple[str, ...] = ()
    timings: dict = field(default_factory=dict)
    titles: tuple[str, ...] = ()  # the sources as a person reads them


@dataclass(frozen=True)
class SpeechStarted:
    """The person began to speak, at ``start`` seconds."""

    start: float


@dataclass(frozen=True)
class TurnEnded:
    """The person finished a turn: its final words, and when it was decided."""

    text: str
    start: float
    end: float  # when the speech stopped
    decided: float  # when the silence (and the words) said the turn was over
    # what decided it: "complete", "doubtful" or "unfinished" (the pause as
    # judged, stage.listen.turns.judge_pause), "silence" (a fixed hangover),
    # "max_turn" or "end" (of the audio); and, when judged, its readings
    why: str = ""
    words: float | None = None  # the text model's probability that the words end the turn
    sound: float | None = None  # Smart Turn's, from the audio
    score: float | None = None  # the readings weighed, Whisper's certainty with them (log-odds)
    decision_ms: float | None = None  # the two models' compute


@dataclass(frozen=True)
class TurnPending:
    """The person has just fallen silent and their words look finished: the
    turn will end unless they go on. Thinking may start on ``text`` now."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class TurnResumed:
    """The person went on after a TurnPending: the pending turn is not over."""

    at: float


@dataclass(frozen=True)
class Interrupted:
    """The person spoke over the avatar at ``at`` seconds: it pauses, until
    a real turn drops its answer or a ``FalseInterruption`` resumes it."""

    at: float


@dataclass(frozen=True)
class FalseInterruption:
    """What the person said over the avatar took no turn (a cough, a laugh,
    "mm-hm", ``text``): at ``at`` seconds the avatar goes on where it paused."""

    at: float
    text: str = ""


@dataclass(frozen=True)
class Caption:
    """What the screen shows while words are heard: who, what, from when
    to when, and the sources the words rest on."""

    speaker: str  # a display name
    text: str
    start: float
    end: float
    sources: tuple[str, ...] = ()


# -- the avatar's speech on the session clock (the session's log) -----------------
@dataclass(frozen=True)
class SpeechPlaced:
    """A piece of the avatar's speech placed from ``start`` to ``end`` seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SpeechPaused:
    """Speech over the avatar: its voice silent from ``at``, the rest of its answer kept."""

    at: float


@dataclass(frozen=True)
class SpeechResumed:
    """A paused answer goes on from ``at``."""

    at: float


@dataclass(frozen=True)
class SpeechStopped:
    """The avatar's answer cut at ``at`` (a barge-in, the moderator's stop, a new answer)."""

    at: float
