"""The one mixer: voices on a clock, as the 48 kHz mono audio that leaves.

A call mixes one voice, the stage mixes every panelist's, and a rehearsal
mixes the moderator's and the panelists' into its MP4: each piece of speech
is added at its place on the clock, read back mixed in order, and cut when a
speaker is stopped. The planner of a rehearsal adds from one thread while
its encoder reads from another, so every call holds the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from stage.core.audio import Resampler
from stage.core.events import AudioChunk

RATE = 48000  # what WebRTC carries (Opus), and what the MP4s hold
KEPT = RATE  # what has been read is kept this long (samples)


@dataclass
class _Part:
    voice: str
    start: int  # its first sample on the clock
    pcm: np.ndarray  # float32 at RATE

    @property
    def end(self) -> int:
        return self.start + len(self.pcm)


class Mixer:
    """Speech placed on a clock, mixed as it is read."""

    def __init__(self):
        self._parts: list[_Part] = []
        self._lock = threading.Lock()
        self.read_to = 0  # samples before this one have been read: too late to change

    def add(self, chunk: AudioChunk, voice: str = "") -> None:
        """``chunk`` (any rate) at its ``pts`` on the clock, as ``voice``'s."""
        resample = Resampler(chunk.sample_rate, target=RATE)
        pcm = np.concatenate([resample(chunk.pcm), resample.flush()])
        with self._lock:
            self._parts.append(_Part(voice, round(chunk.pts * RATE), pcm))

    def end(self, voice: str | None = None) -> int:
        """The sample after the last one placed (for ``voice``, or anyone's)."""
        with self._lock:
            return max((p.end for p in self._parts if voice is None or p.voice == voice), default=0)

    def read(self, start: int, count: int, voice: str | None = None) -> np.ndarray:
        """Samples ``start`` to ``start + count`` of ``voice`` (or all voices
        mixed), as int16. Reads go forward: what ended a second before them is
        forgotten (a second, so that readers of single voices may lag a little)."""
        out = np.zeros(count, np.float32)
        stop = start + count
        with self._lock:
            self.read_to = max(self.read_to, stop)
            for part in self._parts:
                a, b = max(start, part.start), min(stop, part.end)
                if b > a and voice in (None, part.voice):
                    out[a - start : b - start] += part.pcm[a - part.start : b - part.start]
            self._parts = [p for p in self._parts if p.end > stop - KEPT]
        return (np.clip(out, -1, 1) * 32767).astype(np.int16)

    def cut(self, at: int, voice: str | None = None) -> None:
        """Nothing of ``voice`` (or anyone) is heard from sample ``at`` on."""
        with self._lock:
            self._parts = [
                _Part(p.voice, p.start, p.pcm[: max(0, at - p.start)]) if voice in (None, p.voice) else p
                for p in self._parts
                if p.start < at or voice not in (None, p.voice)
            ]
