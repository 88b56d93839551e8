"""Listening: voice activity, partial and final transcripts, end of turn and
barge-in, for one speaker, from audio at any rate.

The listener is fed audio in order and returns events timed on the session
clock (the audio's own time). It works 32 ms at a time:

- Silero says whether a frame is speech; a run shorter than ``min_speech``
  (a cough, a click) is no turn.
- While the person speaks, Whisper runs on the turn so far every
  ``partial_every`` seconds: partial transcripts, for live captions.
- When they fall silent, the final pass starts at once, during the silence
  hangover, so the final transcript is ready when the hangover ends; if the
  words look finished, a TurnPending says so, and an answer can be prepared
  (TurnResumed withdraws it). The turn ends after ``hangover`` seconds of
  silence, or after ``unfinished_hangover`` when the words so far look
  unfinished ("...and").
- While the avatar speaks, a person speaking for ``barge_in`` seconds raises
  an interrupt. The avatar's own voice coming back through the microphone is
  found in what the avatar is playing and taken out of the input before
  anything listens to it, so it is never taken for the person's.
"""

from __future__ import annotations

import re
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from stage.asr import transcribe
from stage.audio_in import RATE, Resampler
from stage.events import AudioChunk, Interrupted, SpeechStarted, Transcript, TurnEnded, TurnPending, TurnResumed
from stage.vad import FRAME, SileroVad

FRAME_SECONDS = FRAME / RATE
_UNFINISHED = frozenset("and or but so because the a an to of in on with for my your our their his her um uh "
                        "if that which who is are was were than as at by from into about like".split())


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


def looks_unfinished(text: str) -> bool:
    words = re.findall(r"[\w']+", text.lower())
    return not words or words[-1] in _UNFINISHED or text.rstrip().endswith((",", "-", "—"))


def settings_from(config) -> ListenSettings:
    """Listener settings from the config's ``listen`` section."""
    return ListenSettings(**config.listen.model_dump())


class EchoGate:
    """What the avatar is playing, to tell its echo from the person's voice."""

    WINDOW = 0.6  # seconds of playback an echo can lag behind
    MIN_CORRELATION = 0.3  # below this, the frame holds no echo worth removing

    def __init__(self):
        self._chunks: deque[tuple[float, np.ndarray]] = deque()
        self._resamplers: dict[int, Resampler] = {}

    def add_playback(self, chunk: AudioChunk) -> None:
        resampler = self._resamplers.setdefault(chunk.sample_rate, Resampler(chunk.sample_rate))
        self._chunks.append((chunk.pts, resampler(chunk.pcm)))
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) / RATE < chunk.pts - 5.0:
            self._chunks.popleft()

    def playing(self, t: float) -> bool:
        return any(pts - 0.05 <= t <= pts + len(x) / RATE + self.WINDOW for pts, x in self._chunks)

    def cancel(self, frame: np.ndarray, t: float) -> np.ndarray:
        """The frame less the avatar's voice in it: the recent playback is
        searched for the stretch the frame best matches (the echo's delay),
        and that stretch, scaled, is taken away. What is left is the person."""
        lo, hi = t - self.WINDOW, t + FRAME_SECONDS + 0.05
        parts = []
        for pts, x in self._chunks:
            a, b = max(lo, pts), min(hi, pts + len(x) / RATE)
            if b > a:
                parts.append(x[int((a - pts) * RATE): int((b - pts) * RATE)])
        reference = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        energy = float(frame @ frame)
        if len(reference) < FRAME or energy == 0.0:
            return frame
        dots = fftconvolve(reference, frame[::-1], mode="valid")
        window_energy = np.convolve(reference * reference, np.ones(FRAME), mode="valid")
        # silent stretches of playback explain nothing (and would divide by ~0)
        score = np.where(window_energy > 1e-4 * energy, dots / np.sqrt(window_energy * energy + 1e-12), 0.0)
        best = int(np.argmax(score))
        if score[best] < self.MIN_CORRELATION:
            return frame
        stretch = reference[best:best + FRAME]
        gain = dots[best] / (window_energy[best] + 1e-9)
        return (frame - gain * stretch).astype(np.float32)


class Listener:
    """``live``: audio comes in real time, so partial transcripts are made in
    the background and never hold up the frames behind them (a file is
    read faster than real time: there, partials are made in line)."""

    RUN_GAP_FRAMES = 2
    SPECULATE_AFTER = 0.06  # seconds of silence before the final pass starts
    _partial_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="partial")

    def __init__(self, settings: ListenSettings | None = None, sample_rate: int = RATE, channels: int = 1,
                 start: float = 0.0, live: bool = False):
        self.s = settings or ListenSettings()
        self.live = live
        self._partial_job: tuple[Future, float, float] | None = None  # (words, turn start, audio end)
        self.resampler = Resampler(sample_rate, channels)
        self.vad = SileroVad()
        self.echo = EchoGate()
        self.avatar_speaking = False
        self.clock = start  # session time of the next frame
        self._pending = np.zeros(0, np.float32)
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(self.s.pre_roll / FRAME_SECONDS)))
        self._speaking = False  # the last frame was speech (with hysteresis)
        self._run_start: float | None = None  # start of the current run of speech
        self._run_frames: list[np.ndarray] = []
        self._run_gap = 0  # quiet frames inside the run so far
        self._turn: list[np.ndarray] | None = None  # audio of the turn in progress
        self._turn_start = 0.0
        self._silence_start: float | None = None
        self._last_partial = 0.0
        self._speculative: tuple[int, str] | None = None  # (frames it covers, text)
        self._interrupted = False
        self._pending_sent = False  # a TurnPending went out for the current pause
        self.final_compute: list[float] = []  # seconds of decoding after each end-of-turn decision

    # -- feeding ----------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list:
        audio = np.concatenate([self._pending, self.resampler(samples)])
        events = []
        count = len(audio) // FRAME
        for i in range(count):
            events += self._frame(audio[i * FRAME:(i + 1) * FRAME])
        self._pending = audio[count * FRAME:]
        return events

    def finish(self) -> list:
        """The end of the audio: a turn in progress ends now."""
        audio = np.concatenate([self._pending, self.resampler.flush()])
        events = []
        if len(audio):
            events += self._frame(np.pad(audio, (0, FRAME - len(audio) % FRAME))[:FRAME])
        self._pending = np.zeros(0, np.float32)
        if self._turn is not None:
            events += self._end_turn(self._silence_start or self.clock)
        return events

    def add_playback(self, chunk: AudioChunk) -> None:
        """Audio the avatar is playing (on the session clock), for the echo gate."""
        self.echo.add_playback(chunk)

    # -- one 32 ms frame ---------------------------------------------------
    def _frame(self, frame: np.ndarray) -> list:
        t = self.clock
        self.clock += FRAME_SECONDS
        ready = self._finished_partial() if self.live else []
        if self.echo.playing(t):
            frame = self.echo.cancel(frame, t)  # the avatar's own voice, heard back, goes
        prob = self.vad(frame)
        self._speaking = prob >= (self.s.silence_threshold if self._speaking else self.s.speech_threshold)
        events: list = ready
        if self._speaking:
            if self._run_start is None:
                self._run_start, self._run_frames = t, []
            self._run_frames.append(frame)
            self._run_gap = 0
            run = t + FRAME_SECONDS - self._run_start
            if self.avatar_speaking and not self._interrupted and run >= self.s.barge_in:
                self._interrupted = True  # once per turn
                events.append(Interrupted(t + FRAME_SECONDS))
            if self._turn is None and run >= self.s.min_speech:
                self._turn = list(self._pre_roll) + self._run_frames
                self._turn_start, self._last_partial = self._run_start, self._run_start
                events.append(SpeechStarted(self._run_start))
            elif self._turn is not None:
                self._turn.append(frame)
            if self._turn is not None:
                if self._silence_start is not None:  # speech again: the pause was mid-turn
                    if self._speculative and self._pending_sent:
                        events.append(TurnResumed(t))
                    self._silence_start, self._speculative, self._pending_sent = None, None, False
                # live, partials are spaced further: the cores are shared with the call
                every = self.s.partial_every * (1.7 if self.live else 1.0)
                if t - self._last_partial >= every and (self._partial_job is None or self._partial_job[0].done()):
                    self._last_partial = t
                    events += self._partial(t + FRAME_SECONDS)
                if t + FRAME_SECONDS - self._turn_start >= self.s.max_turn:
                    events += self._end_turn(t + FRAME_SECONDS)
        else:
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

    def _partial(self, end: float) -> list:
        if not self.live:
            text = self._recognise(self._turn).text
            return [Transcript("person", text, False, self._turn_start, end)] if text else []
        audio = np.concatenate(self._turn)
        job = self._partial_pool.submit(transcribe, audio, self.s.model, self.s.language)
        self._partial_job = (job, self._turn_start, end)
        return []

    def _finished_partial(self) -> list:
        """A partial transcript made in the background, once it is ready."""
        if self._partial_job is None or not self._partial_job[0].done():
            return []
        job, start, end = self._partial_job
        self._partial_job = None
        text = job.result().text
        if not text or self._turn is None or start != self._turn_start:
            return []  # the turn it belonged to is over
        return [Transcript("person", text, False, start, end)]

    def _silence(self, t: float) -> list:
        if self._silence_start is None:
            self._silence_start = t
        quiet = t + FRAME_SECONDS - self._silence_start
        spoken = len(self._turn) - round(quiet / FRAME_SECONDS)
        events = []
        if self._speculative is None and quiet >= self.SPECULATE_AFTER:
            # the final pass, started early: the person may well be done
            self._speculative = (spoken, self._recognise(self._turn[:spoken]).text)
            if self._speculative[1] and not looks_unfinished(self._speculative[1]):
                self._pending_sent = True
                events.append(TurnPending(self._speculative[1], self._turn_start, self._silence_start))
        if quiet < self.s.hangover:
            return events
        text = self._speculative[1] if self._speculative else ""
        if looks_unfinished(text) and quiet < self.s.unfinished_hangover and text:
            return events
        return events + self._end_turn(self._silence_start, decided=t + FRAME_SECONDS)

    def _end_turn(self, end: float, decided: float | None = None) -> list:
        spoken = self._turn
        started = time.perf_counter()
        quiet = round(max(0.0, self.clock - end) / FRAME_SECONDS)
        if self._speculative is not None and self._speculative[0] == len(spoken) - quiet:
            text = self._speculative[1]
        else:
            text = self._recognise(spoken[: len(spoken) - quiet] if quiet else spoken).text
        self.final_compute.append(time.perf_counter() - started)
        start = self._turn_start
        self._turn, self._silence_start, self._speculative = None, None, None
        self._interrupted = self._pending_sent = False
        self._pre_roll.clear()
        if not text:
            return []  # a noise Whisper heard no words in: no turn
        return [Transcript("person", text, True, start, end), TurnEnded(text, start, end, decided or self.clock)]

    def _recognise(self, frames: list[np.ndarray]):
        audio = np.concatenate(frames) if frames else np.zeros(0, np.float32)
        return transcribe(audio, self.s.model, self.s.language)
