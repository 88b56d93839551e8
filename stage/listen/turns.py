"""Turn-taking: when a person's turn starts, pauses, goes on and ends, and
when they speak over the avatar, from 32 ms frames already judged speech or
not. The listener (``stage.listen.listener``) judges the frames; the words
are the transcriber's (``stage.listen.transcriber``)."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from stage.core.audio import RATE
from stage.core.events import Interrupted, SpeechStarted, Transcript, TurnEnded, TurnPending, TurnResumed
from stage.listen.transcriber import Transcriber
from stage.listen.vad import FRAME

FRAME_SECONDS = FRAME / RATE
_UNFINISHED = frozenset(
    "and or but so because the a an to of in on with for my your our their his her um uh "
    "if that which who is are was were than as at by from into about like".split()
)


@dataclass
class ListenSettings:
    speech_threshold: float = 0.5
    silence_threshold: float = 0.35
    min_speech: float = 0.2  # seconds: shorter sounds are not speech
    hangover: float = 0.5  # seconds of silence that end a turn
    unfinished_hangover: float = 1.2  # ... when the words look unfinished
    partial_every: float = 0.7  # seconds of speech between partial transcripts
    barge_in: float = 0.15  # seconds of speech over the avatar that interrupt it
    max_turn: float = 30.0
    pre_roll: float = 0.25  # audio kept from before speech starts
    model: str = "tiny.en"
    language: str | None = "en"
    vocabulary: str = ""  # names and terms to expect (Whisper's prompt): the panelists', for the moderator


def looks_unfinished(text: str) -> bool:
    words = re.findall(r"[\w']+", text.lower())
    return not words or words[-1] in _UNFINISHED or text.rstrip().endswith((",", "-", "—"))


class TurnTaker:
    """One speaker's turns, a frame at a time (``frame``), as events timed
    on the session clock: a run shorter than ``min_speech`` is no turn; in
    a pause the final pass starts early (``SPECULATE_AFTER``), and the turn
    ends after the hangover, a longer one when the words look unfinished."""

    RUN_GAP_FRAMES = 2
    SPECULATE_AFTER = 0.06  # seconds of silence before the final pass starts

    def __init__(self, settings: ListenSettings, transcriber: Transcriber):
        self.s = settings
        self.transcriber = transcriber
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(self.s.pre_roll / FRAME_SECONDS)))
        self._run_start: float | None = None  # start of the current run of speech
        self._run_frames: list[np.ndarray] = []
        self._run_gap = 0  # quiet frames inside the run so far
        self._turn: list[np.ndarray] | None = None  # audio of the turn in progress
        self._turn_start = 0.0
        self._silence_start: float | None = None
        self._last_partial = 0.0
        self._interrupted = False
        self._pending_sent = False  # a TurnPending went out for the current pause

    def ready(self) -> list:
        """A partial transcript made in the background, once it is ready (live only)."""
        if not self.transcriber.live:
            return []
        return self.transcriber.ready(self._turn_start if self._turn is not None else None)

    def frame(self, frame: np.ndarray, t: float, speech: bool, avatar_speaking: bool) -> list:
        """The frame that starts at ``t``, speech or not, while the avatar speaks or not."""
        return self._speech(frame, t, avatar_speaking) if speech else self._quiet(frame, t)

    def finish(self, now: float) -> list:
        """The audio ended at ``now``: a turn in progress ends."""
        if self._turn is None:
            return []
        return self._end_turn(self._silence_start or now, now)

    def _speech(self, frame: np.ndarray, t: float, avatar_speaking: bool) -> list:
        """A run of speech goes on, which may interrupt the avatar or start a turn."""
        events = []
        if self._run_start is None:
            self._run_start, self._run_frames = t, []
        self._run_frames.append(frame)
        self._run_gap = 0
        run = t + FRAME_SECONDS - self._run_start
        if avatar_speaking and not self._interrupted and run >= self.s.barge_in:
            self._interrupted = True  # once per turn
            events.append(Interrupted(t + FRAME_SECONDS))
        if self._turn is None and run >= self.s.min_speech:
            self._turn = list(self._pre_roll) + self._run_frames
            self._turn_start, self._last_partial = self._run_start, self._run_start
            events.append(SpeechStarted(self._run_start))
        elif self._turn is not None:
            self._turn.append(frame)
        if self._turn is not None:
            events += self._turn_goes_on(t)
        return events

    def _turn_goes_on(self, t: float) -> list:
        """Speech in a turn: a pause is over, a partial transcript is due, or the turn is too long."""
        events = []
        if self._silence_start is not None:  # speech again: the pause was mid-turn
            if self.transcriber.early is not None and self._pending_sent:
                events.append(TurnResumed(t))
            self._silence_start, self._pending_sent = None, False
            self.transcriber.drop_early()
        # live, partials are spaced further: the cores are shared with the call
        every = self.s.partial_every * (1.7 if self.transcriber.live else 1.0)
        if t - self._last_partial >= every and not self.transcriber.busy:
            self._last_partial = t
            events += self.transcriber.partial(self._turn, self._turn_start, t + FRAME_SECONDS)
        if t + FRAME_SECONDS - self._turn_start >= self.s.max_turn:
            events += self._end_turn(t + FRAME_SECONDS, t + FRAME_SECONDS)
        return events

    def _quiet(self, frame: np.ndarray, t: float) -> list:
        """Before a turn, a quiet frame is pre-roll; in one, a pause."""
        events = []
        if self._turn is None:
            self._pre_roll.append(frame)
        else:
            self._turn.append(frame)
            events += self._silence(t)
        # a run of speech survives a frame or two of quiet (a soft consonant,
        # a frame the avatar's echo dominated)
        self._run_gap += 1
        if self._run_start is not None and self._turn is None:
            self._run_frames.append(frame)
        if self._run_gap > self.RUN_GAP_FRAMES:
            self._run_start = None
            if self._turn is None:
                self._interrupted = False
        return events

    def _silence(self, t: float) -> list:
        if self._silence_start is None:
            self._silence_start = t
        quiet = t + FRAME_SECONDS - self._silence_start
        spoken = len(self._turn) - round(quiet / FRAME_SECONDS)
        events = []
        if self.transcriber.early is None and quiet >= self.SPECULATE_AFTER:
            # the final pass, started early: the person may well be done
            text = self.transcriber.start_final(self._turn, spoken)
            if text and not looks_unfinished(text):
                self._pending_sent = True
                events.append(TurnPending(text, self._turn_start, self._silence_start))
        if quiet < self.s.hangover:
            return events
        text = self.transcriber.early or ""
        if looks_unfinished(text) and quiet < self.s.unfinished_hangover and text:
            return events
        return events + self._end_turn(self._silence_start, t + FRAME_SECONDS, decided=t + FRAME_SECONDS)

    def _end_turn(self, end: float, now: float, decided: float | None = None) -> list:
        """The turn ends at ``end`` (its speech's end); ``now``: the time of the next frame."""
        spoken = self._turn
        quiet = round(max(0.0, now - end) / FRAME_SECONDS)
        text = self.transcriber.final(spoken, len(spoken) - quiet)
        start = self._turn_start
        self._turn, self._silence_start = None, None
        self._interrupted = self._pending_sent = False
        self._pre_roll.clear()
        if not text:
            return []  # a noise Whisper heard no words in: no turn
        return [Transcript("person", text, True, start, end), TurnEnded(text, start, end, decided or now)]
