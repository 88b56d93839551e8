"""The words of a turn, for the listener: partial transcripts while the
person speaks, and the final one, started early, during the pause that may
end the turn, so that it is ready when the turn ends.

Whisper failing (out of memory, a broken model file) costs the turn it was
hearing, never the listening: its words come back empty, and a turn with no
words is no turn."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future

import numpy as np

from stage.core.events import Transcript
from stage.listen.asr import Recognition, transcribe

log = logging.getLogger("fireside.listen")
NOTHING = Recognition("", 0.0, False)


class Transcriber:
    """Whisper on a turn's audio (a list of frames).

    ``live``: audio comes in real time, so partial transcripts are made on
    the ``partials`` pool and collected once ready (``ready``); they never
    hold up the frames behind them. Otherwise (a file, read faster than real
    time) they are made in line."""

    def __init__(self, model: str, language: str | None, live: bool, partials: Executor, vocabulary: str = ""):
        self.model, self.language, self.live, self.vocabulary = model, language, live, vocabulary
        self._partials = partials
        self._job: tuple[Future, float, float] | None = None  # (words, turn start, audio end)
        self._early: tuple[int, str] | None = None  # the final pass made early: (frames it covers, text)
        self.early_score = 0.0  # how sure Whisper was of the early pass's words (mean log-probability)
        self.final_compute: list[float] = []  # seconds of decoding after each end-of-turn decision
        # called with each partial transcript's words where it is made (live: on
        # the pool), so that what reads them later (the text end-of-turn model) is warm
        self.then: Callable[[str], None] | None = None

    def words(self, frames: list[np.ndarray]) -> str:
        return self.recognize(frames).text

    def recognize(self, frames: list[np.ndarray]) -> Recognition:
        audio = np.concatenate(frames) if frames else np.zeros(0, np.float32)
        return _heard(audio, self.model, self.language, vocabulary=self.vocabulary)

    # -- partial transcripts ------------------------------------------------
    @property
    def busy(self) -> bool:
        """A partial transcript is being made in the background."""
        return self._job is not None and not self._job[0].done()

    def partial(self, frames: list[np.ndarray], start: float, end: float) -> list:
        """The transcript of the turn so far (``start`` to ``end``): now, or, live, later from ``ready``."""
        if not self.live:
            text = self._partial(np.concatenate(frames)).text
            return [Transcript("person", text, False, start, end)] if text else []
        self._job = (self._partials.submit(self._partial, np.concatenate(frames)), start, end)
        return []

    def _partial(self, audio: np.ndarray) -> Recognition:
        heard = _heard(audio, self.model, self.language)
        if self.then is not None and heard.text:
            self.then(heard.text)
        return heard

    def ready(self, turn_start: float | None) -> list:
        """A partial transcript made in the background, once it is ready, if
        the turn it belongs to (the one from ``turn_start``; None: no turn) goes on."""
        if self._job is None or not self._job[0].done():
            return []
        job, start, end = self._job
        self._job = None
        text = job.result().text
        if not text or turn_start is None or start != turn_start:
            return []  # the turn it belonged to is over
        return [Transcript("person", text, False, start, end)]

    # -- the final transcript -----------------------------------------------
    @property
    def early(self) -> str | None:
        """The words of the final pass made early; None when none was."""
        return self._early[1] if self._early is not None else None

    def start_final(self, frames: list[np.ndarray], count: int) -> str:
        """The final pass of the turn's first ``count`` frames, made now, in a
        pause: kept for ``final``, should the turn end on just these frames."""
        heard = self.recognize(frames[:count])
        self._early, self.early_score = (count, heard.text), heard.score
        return heard.text

    def drop_early(self) -> None:
        """The person spoke again: the early pass misses words."""
        self._early = None

    def final(self, frames: list[np.ndarray], count: int) -> str:
        """The words of the turn's first ``count`` frames (what was spoken,
        without the silence after it): the early pass when it covered just
        those, else a pass made now."""
        started = time.perf_counter()
        if self._early is not None and self._early[0] == count:
            text = self._early[1]
        else:
            text = self.words(frames[:count] if count != len(frames) else frames)
        self.final_compute.append(time.perf_counter() - started)
        self._early = None
        return text


def _heard(audio: np.ndarray, *args, **kwargs) -> Recognition:
    """Whisper's words, or none when it fails (the turn is dropped, listening goes on)."""
    try:
        return transcribe(audio, *args, **kwargs)
    except Exception as err:  # noqa: BLE001 - any failure of the model costs this turn only
        log.warning("speech recognition failed on %.1f s of audio, the turn is dropped: %r", len(audio) / 16000, err)
        return NOTHING
