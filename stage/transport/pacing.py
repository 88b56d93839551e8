"""Frames on time: one pacing policy for every transport that sends a face.

Frame ``n`` is due at ``n / fps`` on the output's clock. A frame that is
early is waited for; once the sender is more than two frames behind (a
busy machine, a slow encoder), it skips to the frame due now instead of
sending the past in a burst: the mouth stays with the voice, which never
skips (a LiveKit broadcast sends the skipped frames' voice with the next
frame; an aiortc voice track is paced on its own).
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable

BEHIND = 2  # frames behind before the late ones are skipped


class FramePacer:
    """The index of the next frame to send, when it is due (``await next()``)."""

    def __init__(self, now: Callable[[], float], fps: int, start: int = 0):
        self.now, self.fps = now, fps
        self.index = start  # the next frame to send
        self.skipped = 0  # frames never sent, because they were due too long ago

    async def next(self) -> int:
        """Wait until the next frame is due (or skip to the one due now); its index."""
        wait = self.index / self.fps - self.now()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -BEHIND / self.fps:
            due = math.floor(self.now() * self.fps)
            self.skipped += due - self.index
            self.index = due
        index = self.index
        self.index += 1
        return index
