"""A call's avatar in a LiveKit room (``fireside livekit --room NAME``).

The avatar joins the room as a participant of its own. It listens to the
participant it is linked to (the first to join, or the one named), hands
their audio to the session, and publishes the session's voice and face in
step (stage/transport/rooms/publish.py). Its captions are sent when their
words start to be heard, as transcriptions and as ``fireside`` data (with
their sources). No conversation logic lives here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Coroutine

import numpy as np
from livekit import rtc

from stage.core.config import FiresideConfig
from stage.core.wire import CaptionMessage, Message
from stage.session.call import CallSession
from stage.session.cast import Cast
from stage.timeline.mixer import RATE
from stage.transport.rooms.connect import FINAL, LiveKitError, LiveKitSettings, join
from stage.transport.rooms.publish import Broadcast, send_data, transcribe

log = logging.getLogger("fireside.livekit")
CALLER_WAIT = 60.0  # seconds a call's avatar waits for its caller to come, then leaves


class RoomAvatar:
    """One session's avatar in a room: hears its linked participant, is seen and heard by all.

    With ``rejoin`` (how to join the room again), a room lost with its server
    is joined again as soon as the server answers, and the face and voice
    are published anew. In a ``call`` (a room made for one person's call, see
    stage/transport/rooms/calls.py) the avatar leaves when that person does."""

    def __init__(
        self,
        room: rtc.Room,
        session: CallSession,
        listen_to: str | None = None,
        rejoin: Callable[[], Awaitable[rtc.Room]] | None = None,
        call: bool = False,
    ):
        self.room, self.session, self.listen_to, self.rejoin, self.call = room, session, listen_to, rejoin, call
        self.linked: str | None = None  # the participant listened to
        self.heard_sid = ""  # the linked participant's microphone track
        self._segments = 0  # the person's turns so far (a running caption keeps its turn's segment)
        self._tasks: set[asyncio.Task] = set()
        self._hearing: asyncio.Task | None = None
        self.broadcast: Broadcast | None = None
        self._leaving = False
        self.closed = asyncio.Event()
        self.on_closed: Callable[[], None] = lambda: None  # called once it has left the room for good

    def connected(self) -> bool:
        return self.room.isconnected() and self.broadcast is not None and self.broadcast.running()

    @property
    def voice_sid(self) -> str:
        """The avatar's voice track, which its captions transcribe."""
        return self.broadcast.voice_sid if self.broadcast else ""

    async def start(self) -> None:
        """Publish the face and voice, listen to the linked participant, send captions."""
        self.session.send = self.send
        await self._enter()
        if self.call:
            self._run(self._await_caller())

    async def _await_caller(self) -> None:
        """A call whose caller never comes (a page closed while calling) ends: its worker is freed."""
        await asyncio.sleep(CALLER_WAIT)
        if self.linked is None and self.listen_to not in {p.identity for p in self.room.remote_participants.values()}:
            log.info("%s never came: the call is over", self.listen_to)
            self._left()

    async def _enter(self) -> None:
        session = self.session
        self.broadcast = Broadcast(self.room, session.output)
        await self.broadcast.start()
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_disconnected", self._on_left)
        self.room.on("disconnected", self._on_lost)
        for participant in self.room.remote_participants.values():
            for publication in participant.track_publications.values():
                if publication.track is not None:
                    self._on_track(publication.track, publication, participant)

    def _on_lost(self, reason=None) -> None:
        if self._leaving or self.rejoin is None or reason in FINAL:
            self._left()
            return
        log.warning("the room was lost (%s): joining it again", reason)
        self._run(self._reenter())

    async def _reenter(self) -> None:
        """Join the room again once its server answers (the person is listened to anew)."""
        if self._hearing is not None:
            self._hearing.cancel()
        self.session.stop_speaking()
        self.linked = None
        await self.broadcast.aclose()
        delay = 0.25
        while not self._leaving:
            try:
                self.room = await self.rejoin()
                break
            except LiveKitError as err:
                log.info("not yet: %s", err)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        if self._leaving:
            return
        await self._enter()
        log.info("back in the room")

    # -- in: the linked participant's voice -------------------------------------------
    def _on_track(self, track: rtc.Track, publication, participant: rtc.RemoteParticipant) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO or self.linked not in (None, participant.identity):
            return
        if self.listen_to is not None and participant.identity != self.listen_to:
            return
        self.linked, self.heard_sid = participant.identity, publication.sid
        log.info("listening to %s", participant.identity)
        self._hearing = self._run(self._hear(track))

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        if self.call and participant.identity == self.listen_to:
            log.info("%s hung up: the call is over", participant.identity)
            self._left()  # whoever holds the avatar closes it (the worker's job ends)
        elif participant.identity == self.linked:
            log.info("%s left: the answer stops", participant.identity)
            self.session.stop_speaking()
            if self._hearing is not None:
                self._hearing.cancel()
            self.linked = None

    async def _hear(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        try:
            async for event in stream:
                samples = np.frombuffer(event.frame.data, np.int16)
                await self.session.hear(samples, RATE, 1)
        finally:
            await stream.aclose()

    # -- out: the captions and messages (the face and voice are the broadcast's) -------------
    def send(self, message: Message) -> None:
        """A wire message: as data on the ``fireside`` topic, and a caption also as a transcription."""
        if not self._leaving:  # a closing session's last words have no room to go to
            self._run(self._send(message))

    async def _send(self, message: Message) -> None:
        await send_data(self.room, message)
        if isinstance(message, CaptionMessage) and (message.final or message.speaker == "person"):
            if message.speaker == "person":  # the person's words, from their microphone
                segment, track, sender = f"{self.linked}-{self._segments}", self.heard_sid, self.linked
                self._segments += message.final
            else:
                segment, track, sender = f"{self.session.id}-{message.start:.3f}", self.voice_sid, None
            await transcribe(self.room, message.text, segment, track, message.final, sender)

    def _run(self, work: Coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the room's %s failed: %r", task.get_coro().__name__, task.exception())

    async def close(self) -> None:
        if self._leaving:  # closing twice (the job's shutdown, and the CLI's) closes once
            await self.closed.wait()
            return
        self._leaving = True
        try:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.session.close()
            if self.broadcast is not None:
                await self.broadcast.aclose()
            await self.room.disconnect()
        finally:
            self._left()  # final: the SDK's own "disconnected" may come later, or not at all

    def _left(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.on_closed()

    def busy(self) -> bool:
        """Whether any of its work (publishing, listening, sending, joining again) still runs."""
        return bool(self._tasks)


async def in_room(
    settings: LiveKitSettings, config: FiresideConfig, room_name: str, persona: str, listen_to: str | None = None
) -> None:
    """``fireside livekit``: the persona's avatar in ``room_name`` until the room closes."""
    cast = Cast(config)
    if persona not in cast.cards:
        raise LiveKitError(f"unknown persona {persona!r}; known: {', '.join(cast.cards)}")
    cast.warm(persona)
    rejoin = lambda: join(settings, room_name, f"fireside-{persona}", cast.cards[persona].name)  # noqa: E731
    avatar = RoomAvatar(await rejoin(), cast.session(persona), listen_to, rejoin)
    await avatar.start()
    print(f"{cast.cards[persona].name} is in room {room_name!r} at {settings.url} (Ctrl-C leaves)", flush=True)
    try:
        await avatar.closed.wait()
    finally:
        await avatar.close()
        cast.close()
