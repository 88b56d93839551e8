"""Speech on a clock: the one place where a voice is laid out in time.

Every path that voices words uses it: the live call and the stage (on real
time, piece by piece as each is made), rehearsal, clips and the README's
frame strip (on a virtual clock). Each piece of speech starts where the one
before it ended, or later when the caller says the clock has moved on (an
answer's first piece from its first sound, without the voice's lead-in); its
words become a caption for exactly the time they are heard; an answer ends
after the piece that reaches the persona's time limit; and a cut (a
barge-in, the moderator's stop) moves the end back to the cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from stage.core.events import Caption, Speech

LEAD_IN_KEPT = 0.01  # seconds of quiet kept before the voice of an answer's first piece
VOICE_FLOOR = 650  # int16 level above which a sample is voice (about 2% of full scale)


@dataclass(frozen=True)
class Placed:
    """A piece of speech put on the clock, and the caption of its words."""

    speech: Speech
    caption: Caption

    @property
    def end(self) -> float:
        return self.speech.audio.end


class Timeline:
    """Speech placed back to back from ``start`` (seconds on the session clock)."""

    def __init__(self, start: float = 0.0):
        self.end = start  # where the speech placed so far ends
        self.limit = math.inf  # seconds of speech the current answer may take
        self._answer_start: float | None = None

    def begin(self, limit: float = math.inf) -> None:
        """A new answer starts with its next piece; it may last ``limit`` seconds."""
        self.limit = limit
        self._answer_start = None

    def place(self, piece: Speech, speaker: str = "", sources: Iterable[str] = (), earliest: float = 0.0) -> Placed:
        """``piece`` at the end of the speech so far (or at ``earliest`` when that is later)."""
        start = max(self.end, earliest)
        if self._answer_start is None:
            piece = from_voice(piece)  # an answer is heard from its first sound
        placed = piece.at(start)
        self.end = placed.audio.end
        if self._answer_start is None:
            self._answer_start = start
        return Placed(placed, Caption(speaker, piece.text, start, placed.audio.end, tuple(sources)))

    @property
    def over_limit(self) -> bool:
        """The current answer has taken its time: what is said so far stands, nothing more."""
        return self._answer_start is not None and self.end - self._answer_start >= self.limit

    def cut(self, at: float) -> None:
        """Nothing placed is heard after ``at``."""
        self.end = min(self.end, at)

    def delay(self, by: float) -> None:
        """The speech not yet heard moves ``by`` seconds later (a paused
        answer resumed); the pause does not count against the answer's time."""
        self.end += by
        if self._answer_start is not None:
            self._answer_start += by


def from_voice(piece: Speech) -> Speech:
    """``piece`` from just before its voice starts: the quiet a voice makes
    before its first word (Piper's is 35-60 ms) is not waited through."""
    loud = np.flatnonzero(np.abs(piece.audio.pcm) > VOICE_FLOOR)
    skip = int(loud[0]) - round(LEAD_IN_KEPT * piece.audio.sample_rate) if loud.size else 0
    return piece.after(piece.audio.pts + skip / piece.audio.sample_rate) if skip > 0 else piece


def spoken(pieces: Iterable[Speech], start: float = 0.0) -> tuple[list[Speech], float]:
    """Pieces of speech placed back to back from ``start``, and where they end."""
    timeline = Timeline(start)
    placed = [timeline.place(piece).speech for piece in pieces]
    return placed, timeline.end
