"""Turn-taking: when a person's turn starts, pauses, goes on and ends, and
when they speak over the avatar, from 32 ms frames already judged speech or
not. The listener (``stage.listen.listener``) judges the frames; the words
are the transcriber's (``stage.listen.transcriber``); whether a pause ends
the turn is asked of Smart Turn (``stage.listen.smart_turn``, how the
words sound) and of a small language model (``stage.listen.sentence_end``,
what they say), whose readings are weighed (``judge_pause``).

Speech over the avatar pauses it (``Interrupted``). If what follows is no
turn, only a backchannel ("mm-hm", "right", a cough) or a false start ("But
I'm..."), the avatar resumes
(``FalseInterruption``); a real turn ends as any other (``TurnEnded``), and
the answer it interrupted is dropped."""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from stage.core.audio import RATE
from stage.core.config import ListenSettings
from stage.core.events import (
    FalseInterruption,
    Interrupted,
    SpeechStarted,
    Transcript,
    TurnEnded,
    TurnPending,
    TurnResumed,
)
from stage.listen.sentence_end import SentenceEnd
from stage.listen.smart_turn import SmartTurn
from stage.listen.transcriber import Transcriber
from stage.listen.vad import FRAME

log = logging.getLogger("fireside.listen")

FRAME_SECONDS = FRAME / RATE
SHORT = 3  # words: fewer never end a turn at once (``judge_pause``)
_UNFINISHED = frozenset(
    "and or but so because the a an to of in on with for my your our their his her um uh "
    "if that which who is are was were than as at by from into about like".split()
)
# what a listener says over a speaker without taking the turn (and what
# Whisper makes of a cough or a laugh)
_BACKCHANNEL = frozenset(
    "ah oh ooh wow yes yeah yep yup right okay ok sure "
    "indeed exactly true absolutely totally i see got it cool nice great interesting thanks thank you "
    "ha haha hahaha heh ahem cough coughing coughs laughs laughing laughter sighs clears throat".split()
)


def looks_unfinished(text: str) -> bool:
    words = re.findall(r"[\w']+", text.lower())
    return not words or words[-1] in _UNFINISHED or text.rstrip().endswith((",", "-", "—", "...", "…"))


def is_backchannel(text: str) -> bool:
    """Words that do not take the turn: none at all (a cough Whisper heard
    nothing in), or only "mm-hm" (or "MMMM", as Whisper may write it),
    "right", "yes", "I see", a laugh ("hahaha")."""
    words = re.findall(r"[\w']+", text.lower())
    return len(words) <= 4 and all(w in _BACKCHANNEL or re.fullmatch(r"[mnhu]+|(ha|he)+h?", w) for w in words)


def is_false_start(text: str) -> bool:
    """A word or two that trail off ("But I'm...", "So,") with nothing
    after them: over the avatar, no turn taken (LiveKit's
    ``min_interruption_words``, for words that go nowhere)."""
    return len(re.findall(r"[\w']+", text)) <= 2 and looks_unfinished(text)


def turn_score(words: float, sound: float, sure: float, settings: ListenSettings) -> float:
    """The readings of a pause weighed, in log-odds: ``words``, the text
    model's probability that the words so far end the turn, and ``sound``,
    Smart Turn's from the audio (``settings.words_weight`` on the words),
    and ``sure``, how sure Whisper was of the words (their mean
    log-probability, ``settings.sure_weight`` on it): misheard words, which
    neither model can read, count for less."""
    w = settings.words_weight
    return w * _logit(words) + (1 - w) * _logit(sound) + settings.sure_weight * sure


def judge_pause(words: float, sound: float, sure: float, settings: ListenSettings, text: str) -> str:
    """Whether a pause after ``text`` ends the turn ("complete"), may well
    end it ("doubtful") or does not ("unfinished"): the weighed score
    (``turn_score``) against the two thresholds, calibrated on questions
    and voices the benchmark does not use (``fireside bench turns
    --calibrate``). Words fewer than ``SHORT`` are at most doubtful: a
    greeting or a name ("Good morning, everyone", "Ravi, how ...") often
    leads into the question. Either model alone can fail: Whisper may write a
    fragment as a whole sentence ("Tell me about" heard as "Tell me I'm
    out."), and Smart Turn takes many whole questions on a synthetic or
    unusual voice for half ones."""
    score = turn_score(words, sound, sure, settings)
    if score >= settings.complete_threshold and len(re.findall(r"[\w']+", text)) >= SHORT:
        return "complete"
    return "doubtful" if score >= settings.doubtful_threshold else "unfinished"


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


@dataclass
class Judgement:
    """One pause as judged: when it began, the words then, the two readings,
    their score and verdict, the models' compute (s), and when speech came
    back (None while it has not)."""

    at: float
    text: str
    words: float
    sound: float
    score: float
    verdict: str
    compute: float
    sure: float = 0.0  # how sure Whisper was of the words (their mean log-probability)
    resumed: float | None = None


class TurnTaker:
    """One speaker's turns, a frame at a time (``frame``), as events timed
    on the session clock: a run shorter than ``min_speech`` is no turn; in
    a pause the final pass starts early (``SPECULATE_AFTER``), and after
    ``turn_check`` its words and their sound are weighed (``judge_pause``):
    a complete turn ends then, a doubtful one after ``doubtful_hangover``,
    another only after ``max_hangover`` (with ``end_of_turn: silence``,
    after the hangover, a longer one when the words look unfinished). The
    last pauses judged are kept in ``judged``; the text model is warmed
    with each partial transcript."""

    RUN_GAP_FRAMES = 2
    SPECULATE_AFTER = 0.06  # seconds of silence before the final pass starts

    def __init__(self, settings: ListenSettings, transcriber: Transcriber):
        self.s = settings
        self.transcriber = transcriber
        self.model = SmartTurn() if settings.end_of_turn == "model" else None
        self.sentence = SentenceEnd() if settings.end_of_turn == "model" else None
        if self.sentence is not None:  # partial transcripts warm it, so that in a pause only the newest words are read
            transcriber.then = self.sentence.warm
        self.judged: deque[Judgement] = deque(maxlen=256)  # the pauses judged, in order
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(self.s.pre_roll / FRAME_SECONDS)))
        self._run_start: float | None = None  # start of the current run of speech
        self._run_frames: list[np.ndarray] = []
        self._run_gap = 0  # quiet frames inside the run so far
        self._last_speech = 0.0  # the end of the last frame of speech
        self._turn: list[np.ndarray] | None = None  # audio of the turn in progress
        self._turn_start = 0.0
        self._silence_start: float | None = None
        self._verdict: Judgement | None = None  # the current pause, once judged (``judge_pause``)
        self._last_partial = 0.0
        self._interrupted = False  # the person spoke over the avatar, and it is not settled yet
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
        self._last_speech = t + FRAME_SECONDS
        run = t + FRAME_SECONDS - self._run_start
        if avatar_speaking and not self._interrupted and run >= self.s.barge_in:
            self._interrupted = True  # the avatar pauses until this is settled
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
            if self._verdict is not None:
                self._verdict.resumed = t
            self._silence_start, self._pending_sent, self._verdict = None, False, None
            self.transcriber.drop_early()
        # live, partials are spaced further: the cores are shared with the call
        every = self.s.partial_every * (1.7 if self.transcriber.live else 1.0)
        if t - self._last_partial >= every and not self.transcriber.busy:
            self._last_partial = t
            events += self.transcriber.partial(self._turn, self._turn_start, t + FRAME_SECONDS)
        if t + FRAME_SECONDS - self._turn_start >= self.s.max_turn:
            events += self._end_turn(t + FRAME_SECONDS, t + FRAME_SECONDS, why="max_turn")
            # the speech goes on: the next turn starts here, not where this run of speech began
            self._run_start, self._run_frames = t + FRAME_SECONDS, []
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
        if self._interrupted and self._turn is None and t + FRAME_SECONDS - self._last_speech >= self.s.resume_after:
            self._interrupted = False  # speech over the avatar too short to be a turn (a click, a breath)
            events.append(FalseInterruption(t + FRAME_SECONDS, ""))
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
            if text and not looks_unfinished(text) and not (self._interrupted and is_backchannel(text)):
                self._pending_sent = True
                events.append(TurnPending(text, self._turn_start, self._silence_start))
        wait = self._wait(quiet)
        if wait is None or quiet < wait:
            return events
        why = self._verdict.verdict if self._verdict is not None else "silence"
        return events + self._end_turn(self._silence_start, t + FRAME_SECONDS, decided=t + FRAME_SECONDS, why=why)

    def _wait(self, quiet: float) -> float | None:
        """How long the current pause must last to end the turn (None: not known yet)."""
        text = self.transcriber.early or ""
        if self._interrupted and is_backchannel(text):
            # no turn taken: the avatar goes on soon, at once after a whole "mm-hm"
            trails = not text or text.rstrip().endswith((",", "-", "...", "…"))
            return self.s.resume_after if trails else min(self.s.turn_check, self.s.hangover)
        if self._interrupted and is_false_start(text):
            return self.s.resume_after  # unless more words follow, the avatar goes on
        longest = self.s.max_hangover
        if self.model is None:  # end_of_turn: silence
            return min(longest, self.s.unfinished_hangover if text and looks_unfinished(text) else self.s.hangover)
        if quiet < self.s.turn_check:
            return None
        if self._verdict is None:
            # read here, a frame or more after the TurnPending went out, so a draft starts first
            started = time.perf_counter()
            words = self.sentence(text) if text else 0.0
            sound = self.model(np.concatenate(self._turn))
            compute = time.perf_counter() - started
            sure = self.transcriber.early_score
            score = turn_score(words, sound, sure, self.s)
            verdict = judge_pause(words, sound, sure, self.s, text)
            self._verdict = Judgement(self._silence_start, text, words, sound, score, verdict, compute, sure)
            self.judged.append(self._verdict)
            log.info(
                "pause after %r: %s (words %.4f, sound %.3f, Whisper %.2f: %.2f)",
                text,
                verdict,
                words,
                sound,
                sure,
                score,
            )
        return {"complete": self.s.turn_check, "doubtful": self.s.doubtful_hangover}.get(self._verdict.verdict, longest)

    def _end_turn(self, end: float, now: float, decided: float | None = None, why: str = "end") -> list:
        """The turn ends at ``end`` (its speech's end); ``now``: the time of the next frame."""
        spoken = self._turn
        quiet = round(max(0.0, now - end) / FRAME_SECONDS)
        text = self.transcriber.final(spoken, len(spoken) - quiet)
        start, interrupted, judged = self._turn_start, self._interrupted, self._verdict
        self._turn, self._silence_start, self._verdict = None, None, None
        self._interrupted = self._pending_sent = False
        self._pre_roll.clear()
        if interrupted and (is_backchannel(text) or is_false_start(text)):
            return [FalseInterruption(decided or now, text)]  # no turn taken: the avatar goes on
        if not text:
            return []  # a noise Whisper heard no words in: no turn
        readings = {}
        if judged is not None:
            readings = dict(
                words=judged.words, sound=judged.sound, score=judged.score, decision_ms=1000 * judged.compute
            )
        return [
            Transcript("person", text, True, start, end),
            TurnEnded(text, start, end, decided or now, why, **readings),
        ]
