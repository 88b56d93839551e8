"""What the stage publishes: every message numbered on the stage clock, kept
for the moderator's console (the live transcript) and sent to every viewer."""

from __future__ import annotations

import logging
from typing import Callable

from stage.core.clock import Clock
from stage.core.wire import Message

log = logging.getLogger("fireside.panel")

KEPT = 500  # messages kept for the console's live transcript


class Feed:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.viewers: list[Callable[[Message], None]] = []  # each stage viewer's data channel
        self.messages: list[dict] = []  # what the console reads, as sent
        self._published = 0

    def publish(self, message: Message, viewers: bool = True) -> Message:
        """``message`` numbered and timed, for the console and (unless
        ``viewers`` is False) every stage viewer."""
        self._published += 1
        message = message.model_copy(update={"seq": self._published, "at": round(self.clock.now(), 3)})
        self.messages.append(message.wire())
        del self.messages[:-KEPT]
        if viewers:
            for send in list(self.viewers):
                try:
                    send(message)
                except Exception:  # noqa: BLE001 - one viewer's broken channel must not stop the others
                    log.exception("a stage viewer's channel failed")
        return message

    def after(self, seq: int) -> list[dict]:
        """The messages after number ``seq``."""
        return [m for m in self.messages if m["seq"] > seq]
