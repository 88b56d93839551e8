"""The renderer: a rig plus a face animator gives frames on the session clock."""

from __future__ import annotations

import math
from typing import Iterator

from avatar.face import FaceAnimator
from avatar.rigs import Rig
from avatar.visemes import MouthCurve
from stage.core.events import Frame, PhonemeSpan

KEPT = 10.0  # seconds of speech kept behind the latest frame drawn
FORGET_EVERY = 5.0  # seconds of frames between two clear-outs


class Renderer:
    """Frames at a fixed rate; frame *n* shows the face at ``n / fps`` seconds.

    Speech is added as it is made; the face idles (blinks, breathes,
    sways) where there is none.
    """

    def __init__(self, rig: Rig, fps: int = 25, seed: int = 0):
        self.rig = rig
        self.fps = fps
        self.face = FaceAnimator(fps=fps, seed=seed)
        self.next_index = 0
        self._forgotten = 0.0  # speech ended before this, less KEPT, is dropped

    @property
    def size(self) -> int:
        return self.rig.size

    def add_speech(self, phonemes: list[PhonemeSpan]) -> None:
        self.face.add_speech(phonemes)

    def frame(self, index: int) -> Frame:
        t = index / self.fps
        frame = Frame(self.rig.draw(self.face.state_at(t)), t)
        if t >= self._forgotten + FORGET_EVERY:
            # frames are drawn forward (several viewers may lag a little behind each other)
            self._forgotten = t
            self.face.forget(t - KEPT)
        return frame

    def frames_until(self, t: float) -> Iterator[Frame]:
        """The next frames, up to those whose mouth is settled by what is
        known at ``t`` (a frame looks a little ahead, to anticipate)."""
        last = math.floor((t - MouthCurve.AHEAD) * self.fps + 1e-9)
        while self.next_index <= last:
            yield self.frame(self.next_index)
            self.next_index += 1

    def frames_to_count(self, count: int) -> Iterator[Frame]:
        while self.next_index < count:
            yield self.frame(self.next_index)
            self.next_index += 1
