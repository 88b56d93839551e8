"""The moderated panel in a LiveKit room (``fireside serve --show SHOW.yaml --livekit``).

Each panelist joins the show's room as a participant (``panelist-ID``) and
publishes its face and its own voice there once, on the stage's clock; the
stage page, the audience's phones and OBS subscribe through the SFU, so the
server encodes each panelist once however many watch. Every message the
stage publishes (captions, questions asked, stops, translations) goes to the
room as ``fireside`` data, and each panelist's captions also as LiveKit
transcriptions of its voice. Viewers get subscribe-only tokens minted here.
The moderator's console, its controls and its microphone are unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from livekit import rtc

from stage.core.wire import CaptionMessage, Message
from stage.panel.live import Stage
from stage.transport.rooms.connect import LiveKitSettings, join
from stage.transport.rooms.publish import Broadcast, send_data, transcribe

log = logging.getLogger("fireside.livekit")


def identity(pid: str) -> str:
    """A panelist's identity in the room."""
    return f"panelist-{pid}"


class StageRoom:
    """The stage's panelists, published into one room."""

    def __init__(self, settings: LiveKitSettings, stage: Stage, name: str):
        self.settings, self.stage, self.name = settings, stage, name
        self.rooms: dict[str, rtc.Room] = {}  # each panelist's connection
        self.broadcasts: dict[str, Broadcast] = {}
        self._tasks: set[asyncio.Task] = set()

    async def open(self) -> None:
        """Every panelist in the room, seen and heard; the stage's messages to the room."""
        for pid, session in self.stage.sessions.items():
            room = await join(self.settings, self.name, identity(pid), session.thinker.card.name)
            broadcast = Broadcast(room, self.stage.output(pid))
            await broadcast.start()
            self.rooms[pid], self.broadcasts[pid] = room, broadcast
        self.stage.viewers.append(self.send)
        log.info("the panel is in room %r at %s", self.name, self.settings.url)

    def viewer(self) -> dict:
        """Where a viewer subscribes, with a token that may only subscribe."""
        who = f"viewer-{secrets.token_hex(4)}"
        return {
            "url": self.settings.url,
            "room": self.name,
            "token": self.settings.token(self.name, who, publish=False),
        }

    def send(self, message: Message) -> None:
        """A stage message, to the room (a panelist's caption also as its voice's transcription)."""
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def _send(self, message: Message) -> None:
        pid = message.panelist if isinstance(message, CaptionMessage) else None
        await send_data(next(iter(self.rooms.values())), message)
        if pid in self.rooms and message.final:
            segment = f"{pid}-{message.start:.3f}"
            await transcribe(self.rooms[pid], message.text, segment, self.broadcasts[pid].voice_sid, True)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a message to the room failed: %r", task.exception())

    async def close(self) -> None:
        if self.send in self.stage.viewers:
            self.stage.viewers.remove(self.send)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for pid, broadcast in self.broadcasts.items():
            await broadcast.aclose()
            await self.rooms[pid].disconnect()
