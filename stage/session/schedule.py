"""The messages of an answer timed to its words: a caption is sent when its
words are heard, a notice (the answer's end, a guardrail's decision) after
the words already placed. Pausing takes the unsent ones back to send later;
stopping drops them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Callable

from stage.core.wire import Message


@dataclass
class Due:
    """A message timed to the words it belongs to."""

    when: float
    message: Message
    unless_cut: bool  # not sent if the speech was cut before ``when`` (a caption of unheard words)
    handle: asyncio.TimerHandle | None = None


class Schedule:
    """Messages waiting for their time on the clock."""

    def __init__(self, now: Callable[[], float], send: Callable[[Message], None], spoken_until: Callable[[], float]):
        self.now = now  # the speaker's clock (a session joining the stage changes it)
        self.send = send  # the transport's, looked up when the message is due
        self.spoken_until = spoken_until  # where the speech ends now (earlier after a cut)
        self._due: list[Due] = []

    def at(self, when: float, message: Message, unless_cut: bool = False) -> None:
        """Send ``message`` at ``when`` on the clock."""
        loop = asyncio.get_running_loop()

        def send() -> None:
            if not unless_cut or when < self.spoken_until():
                self.send(message)

        due = Due(when, message, unless_cut)
        due.handle = loop.call_at(loop.time() + max(0.0, when - self.now()), send)
        self._due = [d for d in self._due if d.when > self.now()] + [due]

    def take_from(self, at: float) -> list[Due]:
        """Unsend what is due at ``at`` or later, and give it back (a pause)."""
        later = [d for d in self._due if d.when >= at]
        for due in later:
            due.handle.cancel()
        self._due = [d for d in self._due if d.when < at]
        return later

    def clear(self) -> None:
        """Unsend everything not yet sent (a stop)."""
        for due in self._due:
            due.handle.cancel()
        self._due = []
