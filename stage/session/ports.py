"""What a transport may touch of a conversation: its ports, and nothing else.

An :class:`AvatarOutput` is a face and a voice on a clock, read at the
transport's own pace: frame ``index`` shows the face at ``index / fps``
seconds, and ``audio(start, count)`` is the voice from sample ``start``
(48 kHz mono, int16). A call session, a panelist on the stage and the
stage's mixed voices each give one; an aiortc track, a LiveKit broadcast
and the rehearsal's encoder read them. An :class:`AudioIn` hears a person:
the transport hands it the microphone's audio as it arrives. (LiveKit
Agents' ``VideoGenerator`` and ``AudioOutput`` are seams of this size.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from stage.core.events import Frame
from stage.core.runtime import Runtime


@dataclass(frozen=True)
class AvatarOutput:
    """A face and a voice on the clock ``now`` (a voice alone has no ``frame``)."""

    now: Callable[[], float]
    audio: Callable[[int, int], np.ndarray]  # (start, count) -> count samples, 48 kHz mono int16
    runtime: Runtime  # its frames are drawn on this runtime's render threads
    frame: Callable[[int], Frame] | None = None  # frame index -> the face at index / fps
    fps: int = 25
    size: int = 0  # a frame is size x size pixels

    async def draw(self, index: int) -> Frame:
        """Frame ``index``, drawn on a render thread."""
        return await self.runtime.run(self.runtime.render, self.frame, index)


class AudioIn(Protocol):
    """Where a person's audio goes, in order, as it arrives."""

    closed: bool

    async def hear(self, samples: np.ndarray, sample_rate: int, channels: int) -> None: ...
