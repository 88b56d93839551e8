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

Here: the audio, the echo gate and Silero; the turn-taking is in
``stage.listen.turns``, the words in ``stage.listen.transcriber``.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Executor

import numpy as np
from scipy.signal import fftconvolve

from stage.core.audio import RATE, Resampler
from stage.core.config import ListenSettings
from stage.core.events import AudioChunk
from stage.listen.transcriber import Transcriber
from stage.listen.turns import FRAME_SECONDS, TurnTaker
from stage.listen.vad import FRAME, SileroVad


class EchoGate:
    """What the avatar is playing, to tell its echo from the person's voice.

    Playback is added on the event loop while a listen thread reads it, so
    the chunks are only touched under a lock, and readers take a copy."""

    WINDOW = 0.6  # seconds of playback an echo can lag behind
    MIN_CORRELATION = 0.3  # below this, the frame holds no echo worth removing

    def __init__(self):
        self._chunks: deque[tuple[float, np.ndarray]] = deque()
        self._resamplers: dict[int, Resampler] = {}
        self._lock = threading.Lock()

    def add_playback(self, chunk: AudioChunk) -> None:
        resampler = self._resamplers.setdefault(chunk.sample_rate, Resampler(chunk.sample_rate))
        pcm = resampler(chunk.pcm)
        with self._lock:
            self._chunks.append((chunk.pts, pcm))
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) / RATE < chunk.pts - 5.0:
                self._chunks.popleft()

    def _recent(self) -> tuple[tuple[float, np.ndarray], ...]:
        with self._lock:
            return tuple(self._chunks)

    def playing(self, t: float) -> bool:
        return any(pts - 0.05 <= t <= pts + len(x) / RATE + self.WINDOW for pts, x in self._recent())

    def cancel(self, frame: np.ndarray, t: float) -> np.ndarray:
        """The frame less the avatar's voice in it: the recent playback is
        searched for the stretch the frame best matches (the echo's delay),
        and that stretch, scaled, is taken away. What is left is the person."""
        lo, hi = t - self.WINDOW, t + FRAME_SECONDS + 0.05
        parts = []
        for pts, x in self._recent():
            a, b = max(lo, pts), min(hi, pts + len(x) / RATE)
            if b > a:
                parts.append(x[int((a - pts) * RATE) : int((b - pts) * RATE)])
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
        stretch = reference[best : best + FRAME]
        gain = dots[best] / (window_energy[best] + 1e-9)
        return (frame - gain * stretch).astype(np.float32)


class Listener:
    """One speaker's listening: audio in, at any rate, 32 ms frames out to the
    echo gate, Silero and the turn-taking (``TurnTaker``), whose words are
    the ``Transcriber``'s.

    ``live``: audio comes in real time, so partial transcripts are made in
    the background, on ``partials`` (the runtime's pool unless given), and
    never hold up the frames behind them (a file is read faster than real
    time: there, partials are made in line)."""

    def __init__(
        self,
        settings: ListenSettings | None = None,
        sample_rate: int = RATE,
        channels: int = 1,
        start: float = 0.0,
        live: bool = False,
        *,
        partials: Executor | None = None,
    ):
        self.s = settings or ListenSettings()
        self.live = live
        if live and partials is None:
            raise ValueError("a live listener makes its partial transcripts on a pool: give it the runtime's partials")
        self.transcriber = Transcriber(self.s.model, self.s.language, live, partials, self.s.vocabulary)
        self.turns = TurnTaker(self.s, self.transcriber)
        self.resampler = Resampler(sample_rate, channels)
        self.vad = SileroVad()
        self.echo = EchoGate()
        self.avatar_speaking = False
        self.clock = start  # session time of the next frame
        self._pending = np.zeros(0, np.float32)
        self._speaking = False  # the last frame was speech (with hysteresis)

    @property
    def final_compute(self) -> list[float]:
        """Seconds of decoding after each end-of-turn decision."""
        return self.transcriber.final_compute

    def feed(self, samples: np.ndarray) -> list:
        audio = np.concatenate([self._pending, self.resampler(samples)])
        events = []
        count = len(audio) // FRAME
        for i in range(count):
            events += self._frame(audio[i * FRAME : (i + 1) * FRAME])
        self._pending = audio[count * FRAME :]
        return events

    def finish(self) -> list:
        """The end of the audio: a turn in progress ends now."""
        audio = np.concatenate([self._pending, self.resampler.flush()])
        events = []
        if len(audio):
            events += self._frame(np.pad(audio, (0, FRAME - len(audio) % FRAME))[:FRAME])
        self._pending = np.zeros(0, np.float32)
        return events + self.turns.finish(self.clock)

    def add_playback(self, chunk: AudioChunk) -> None:
        """Audio the avatar is playing (on the session clock), for the echo gate."""
        self.echo.add_playback(chunk)

    def _frame(self, frame: np.ndarray) -> list:
        """One 32 ms frame."""
        t = self.clock
        self.clock += FRAME_SECONDS
        events = self.turns.ready()
        if self.echo.playing(t):
            frame = self.echo.cancel(frame, t)  # the avatar's own voice, heard back, goes
        prob = self.vad(frame)
        self._speaking = prob >= (self.s.silence_threshold if self._speaking else self.s.speech_threshold)
        return events + self.turns.frame(frame, t, self._speaking, self.avatar_speaking)
