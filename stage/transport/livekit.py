"""LiveKit transport: a conversation in a LiveKit room (the open-source SFU).

The avatar joins the room as a participant of its own. It listens to the
participant it is linked to (the first to join, or the one named), hands
their audio to the session, and publishes the session's voice and face in
step (``rtc.AVSynchronizer``: each 40 ms frame with its 40 ms of voice, on
the session clock). Captions go out as LiveKit transcriptions (text streams on
``lk.transcription``, as LiveKit's agents send them), timed to the speech (the
session sends each when its words start to be heard), and every wire message
also as data on the ``fireside`` topic (with its sources). No conversation
logic lives here.

``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` say where
and with what keys, as LiveKit's own tools read them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Awaitable, Callable, Coroutine

import numpy as np
from livekit import api, rtc

from stage.core.config import FiresideConfig
from stage.core.errors import FiresideError
from stage.core.wire import CaptionMessage, Message
from stage.session.call import CallSession
from stage.timeline.mixer import RATE
from stage.transport.server import CallServer

log = logging.getLogger("fireside.livekit")

TOPIC = "fireside"  # the data messages' topic: every wire message, as JSON
TRANSCRIPTION = "lk.transcription"  # where LiveKit's clients look for captions
CONNECT_SECONDS = 10.0
_why = rtc.DisconnectReason
# the room is over (it was closed, or the avatar sent away): not joined again
FINAL = {_why.CLIENT_INITIATED, _why.DUPLICATE_IDENTITY, _why.PARTICIPANT_REMOVED, _why.ROOM_DELETED, _why.ROOM_CLOSED}


class LiveKitError(FiresideError, RuntimeError):
    """The LiveKit server cannot be reached or refuses the keys; the message names the URL."""


@dataclass(frozen=True)
class LiveKitSettings:
    url: str
    key: str
    secret: str

    @classmethod
    def from_env(cls) -> LiveKitSettings:
        missing = [n for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(n)]
        if missing:
            raise LiveKitError(f"set {', '.join(missing)}: where the LiveKit server is, and its key and secret")
        return cls(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])

    def token(self, room: str, identity: str, name: str = "", publish: bool = True) -> str:
        """A join token minted with the server's key (``publish=False``: subscribe only)."""
        grants = api.VideoGrants(
            room_join=True, room=room, can_publish=publish, can_subscribe=True, can_publish_data=publish
        )
        token = api.AccessToken(self.key, self.secret).with_identity(identity).with_name(name or identity)
        return token.with_grants(grants).to_jwt()


async def join(settings: LiveKitSettings, room_name: str, identity: str, name: str = "") -> rtc.Room:
    """A connected room, or a :class:`LiveKitError` that names the URL."""
    room = rtc.Room()
    try:
        await asyncio.wait_for(room.connect(settings.url, settings.token(room_name, identity, name)), CONNECT_SECONDS)
    except (asyncio.TimeoutError, rtc.ConnectError) as err:
        raise LiveKitError(f"cannot join room {room_name!r} at {settings.url}: {err or 'no answer'}") from None
    return room


class RoomAvatar:
    """One session's avatar in a room: hears its linked participant, is seen and heard by all.

    With ``rejoin`` (how to join the room again), a room lost with its server
    is joined again as soon as the server answers, and the face and voice
    are published anew."""

    def __init__(
        self,
        room: rtc.Room,
        session: CallSession,
        listen_to: str | None = None,
        rejoin: Callable[[], Awaitable[rtc.Room]] | None = None,
    ):
        self.room, self.session, self.listen_to, self.rejoin = room, session, listen_to, rejoin
        self.linked: str | None = None  # the participant listened to
        self.voice_sid = ""  # the avatar's voice track, which its captions transcribe
        self.heard_sid = ""  # the linked participant's microphone track
        self._segments = 0  # the person's turns so far (a running caption keeps its turn's segment)
        self._tasks: set[asyncio.Task] = set()
        self._hearing: asyncio.Task | None = None
        self._publishing: asyncio.Task | None = None
        self._leaving = False
        self.closed = asyncio.Event()
        self.on_closed: Callable[[], None] = lambda: None  # called once it has left the room for good

    def connected(self) -> bool:
        return self.room.isconnected() and self._publishing is not None and not self._publishing.done()

    async def start(self) -> None:
        """Publish the face and voice, listen to the linked participant, send captions."""
        self.session.send = self.send
        await self._enter()

    async def _enter(self) -> None:
        size, fps = self.session.renderer.rig.size, self.session.renderer.fps
        self.audio = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        self.video = rtc.VideoSource(size, size)
        self.sync = rtc.AVSynchronizer(audio_source=self.audio, video_source=self.video, video_fps=fps)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        voice = rtc.LocalAudioTrack.create_audio_track("voice", self.audio)
        self.voice_sid = (await self.room.local_participant.publish_track(voice, options)).sid
        face = rtc.LocalVideoTrack.create_video_track("face", self.video)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA)
        await self.room.local_participant.publish_track(face, options)
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_disconnected", self._on_left)
        self.room.on("disconnected", self._on_lost)
        for participant in self.room.remote_participants.values():
            for publication in participant.track_publications.values():
                if publication.track is not None:
                    self._on_track(publication.track, publication, participant)
        self._publishing = self._run(self._publish())

    def _on_lost(self, reason=None) -> None:
        if self._leaving or self.rejoin is None or reason in FINAL:
            self._left()
            return
        log.warning("the room was lost (%s): joining it again", reason)
        self._run(self._reenter())

    async def _reenter(self) -> None:
        """Join the room again once its server answers (the person is listened to anew)."""
        for task in (self._publishing, self._hearing):
            if task is not None:
                task.cancel()
        self.session.stop_speaking()
        self.linked = None
        await self.sync.aclose()
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
        if participant.identity == self.linked:
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

    # -- out: voice and face in step, on the session clock ----------------------------------------
    async def _publish(self) -> None:
        fps = self.session.renderer.fps
        size = self.session.renderer.rig.size
        step = RATE // fps  # the voice that goes with one frame
        runtime = self.session.runtime
        index = round(self.session.now() * fps)
        while True:
            await asyncio.sleep(max(0.0, index / fps - self.session.now()))
            frame = await runtime.run(runtime.render, self.session.renderer.frame, index)
            pcm = self.session.playback.read(index * step, step)
            await self.sync.push(rtc.VideoFrame(size, size, rtc.VideoBufferType.RGB24, frame.rgb.tobytes()))
            await self.sync.push(rtc.AudioFrame(pcm.tobytes(), RATE, 1, step), (index + 1) / fps)
            index += 1

    def send(self, message: Message) -> None:
        """A wire message: as data on the ``fireside`` topic, and a caption also as a transcription."""
        if not self._leaving:  # a closing session's last words have no room to go to
            self._run(self._send(message))

    async def _send(self, message: Message) -> None:
        data = json.dumps(message.wire(), ensure_ascii=False).encode()
        await self.room.local_participant.publish_data(data, reliable=True, topic=TOPIC)
        if isinstance(message, CaptionMessage) and (message.final or message.speaker == "person"):
            await self._transcribe(message)

    async def _transcribe(self, caption: CaptionMessage) -> None:
        """A caption as LiveKit's agents send one: a text stream on ``lk.transcription``,
        from the one whose words they are (the person's, or the avatar's voice track)."""
        person = caption.speaker == "person"
        attributes = {
            "lk.segment_id": f"{self.linked}-{self._segments}" if person else f"{self.session.id}-{caption.start:.3f}",
            "lk.transcription_final": "true" if caption.final else "false",
            "lk.transcribed_track_id": self.heard_sid if person else self.voice_sid,
        }
        if person and caption.final:
            self._segments += 1
        writer = await self.room.local_participant.stream_text(
            topic=TRANSCRIPTION, attributes=attributes, sender_identity=self.linked if person else None
        )
        await writer.write(caption.text)
        await writer.aclose()

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
            await self.sync.aclose()
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
    calls = CallServer(config)
    if persona not in calls.cards:
        raise LiveKitError(f"unknown persona {persona!r}; known: {', '.join(calls.cards)}")
    calls.warm(persona)
    rejoin = lambda: join(settings, room_name, f"fireside-{persona}", calls.cards[persona].name)  # noqa: E731
    avatar = RoomAvatar(await rejoin(), calls.session_for(persona), listen_to, rejoin)
    await avatar.start()
    print(f"{calls.cards[persona].name} is in room {room_name!r} at {settings.url} (Ctrl-C leaves)", flush=True)
    try:
        await avatar.closed.wait()
    finally:
        await avatar.close()
        calls.runtime.close()
