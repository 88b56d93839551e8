"""A rehearsal's plan: the whole show on its clock, who says what and when,
with what audio. The planner fills it in show order while the renderer reads
it, on another thread: everything before ``ready_until`` is settled."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from stage.core.events import Caption, PhonemeSpan
from stage.panel.show import Show
from stage.timeline.mixer import Mixer


@dataclass
class Turn:
    """One person speaking once: a moderator's line, a question, an answer."""

    segment: int
    speaker: str  # a panelist's id, or "moderator"
    name: str
    kind: str  # "moderator" | "question" | "answer" | "line"
    text: str = ""
    start: float = 0.0
    end: float = 0.0
    sources: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # the sources as a person reads them
    # what was said, sentence by sentence, with the titles of the sources each came from
    cited: list[dict] = field(default_factory=list)
    guardrails: list[dict] = field(default_factory=list)  # every decision other than allow
    outcome: str = "spoken"  # answers: answered | approved | held | trimmed | cut at the time limit
    first_audio_ms: float | None = None  # answers: thinking and voicing before the first words

    @property
    def speaking(self) -> float:
        return self.end - self.start


@dataclass
class SegmentTiming:
    index: int
    kind: str
    summary: str
    slot: float
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def overrun(self) -> float:
        return self.duration - self.slot


@dataclass
class Plan:
    """The whole show on its clock: who says what, when, with what audio.

    It is filled in show order by the planner while the renderer reads it:
    everything before ``ready_until`` is settled."""

    show: Show
    turns: list[Turn] = field(default_factory=list)
    segments: list[SegmentTiming] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)
    language: str | None = None  # the captions' second language (the show's translation)
    translated: list[Caption] = field(default_factory=list)  # its cues, timed as the English ones
    phonemes: dict[str, list[PhonemeSpan]] = field(default_factory=dict)  # by panelist
    thinking_seconds: float = 0.0  # wall time of the planning pass
    ready_until: float = 0.0
    finished: bool = False
    error: BaseException | None = None
    mixer: Mixer = field(default_factory=Mixer)  # every voice, at its place on the show clock
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    def speaker_at(self, t: float) -> str | None:
        return next((turn.speaker for turn in self.turns if turn.start <= t < turn.end), None)

    def caption_at(self, t: float) -> Caption | None:
        return next((c for c in self.captions if c.start <= t < c.end), None)

    def translated_at(self, t: float) -> Caption | None:
        return next((c for c in self.translated if c.start <= t < c.end), None)

    # -- written by the planner ---------------------------------------------------
    def advance(self, t: float, finished: bool = False, error: BaseException | None = None) -> None:
        with self._changed:
            self.ready_until, self.finished, self.error = max(self.ready_until, t), finished, error
            self._changed.notify_all()

    # -- read by the renderer -------------------------------------------------------
    def wait_beyond(self, t: float) -> None:
        """Until the plan is settled past ``t``, or finished."""
        with self._changed:
            self._changed.wait_for(lambda: self.finished or self.ready_until > t)
        if self.error is not None:
            raise self.error

    def audio(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (48 kHz) of the mix, as int16 (read in order)."""
        return self.mixer.read(start, stop - start)
