"""The session clock: seconds since a session (or a stage) began.

Every item that moves (audio, phonemes, frames, captions) carries a time on
one clock, so they line up by construction. A call and the stage run on
real time, the stage's panelists all on the stage's clock; a rehearsal
places its speech on its show clock, which moves only as the plan is made.
"""

from __future__ import annotations

import time


class Clock:
    """Real time: seconds since the clock was made."""

    def __init__(self):
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0
