"""What goes into a room: a face and a voice in step, wire messages, and captions.

A :class:`Broadcast` publishes frame ``index`` with its 40 ms of voice
(``rtc.AVSynchronizer``), on a clock, however many subscribe: the SFU does
the fan-out. Captions go out as LiveKit transcriptions (text streams on
``lk.transcription``, as LiveKit's agents send them), and every wire message
as data on the ``fireside`` topic.
"""

from __future__ import annotations

import asyncio
import json
from typing import Callable

import numpy as np
from livekit import rtc

from stage.core.runtime import Runtime
from stage.core.wire import Message
from stage.timeline.mixer import RATE

TOPIC = "fireside"  # the data messages' topic: every wire message, as JSON
TRANSCRIPTION = "lk.transcription"  # where LiveKit's clients look for captions
VIDEO_BITRATE = 1_200_000  # bits/s for the top layer of a 512x512 face


class Broadcast:
    """A face and a voice published in step: ``draw(index)`` and ``read(start, count)``
    (48 kHz samples) on the clock ``now``."""

    def __init__(
        self,
        room: rtc.Room,
        draw: Callable[[int], object],
        read: Callable[[int, int], np.ndarray],
        now: Callable[[], float],
        fps: int,
        size: int,
        runtime: Runtime,
    ):
        self.room, self.draw, self.read, self.now = room, draw, read, now
        self.fps, self.size, self.runtime = fps, size, runtime
        self.voice_sid = ""  # the voice track, which captions of these words transcribe
        self.frames = 0  # frames published so far
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self.audio = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        self.video = rtc.VideoSource(self.size, self.size)
        self.sync = rtc.AVSynchronizer(audio_source=self.audio, video_source=self.video, video_fps=self.fps)
        voice = rtc.LocalAudioTrack.create_audio_track("voice", self.audio)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self.voice_sid = (await self.room.local_participant.publish_track(voice, options)).sid
        face = rtc.LocalVideoTrack.create_video_track("face", self.video)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            video_encoding=rtc.VideoEncoding(max_framerate=self.fps, max_bitrate=VIDEO_BITRATE),
            # a talking face keeps its frame rate (the lips) before its sharpness
            degradation_preference=rtc.DegradationPreference.MAINTAIN_FRAMERATE,
        )
        await self.room.local_participant.publish_track(face, options)
        self._task = asyncio.get_running_loop().create_task(self._publish())

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _publish(self) -> None:
        step = RATE // self.fps  # the voice that goes with one frame
        index = round(self.now() * self.fps)
        while True:
            await asyncio.sleep(max(0.0, index / self.fps - self.now()))
            frame = await self.runtime.run(self.runtime.render, self.draw, index)
            pcm = self.read(index * step, step)
            await self.sync.push(rtc.VideoFrame(self.size, self.size, rtc.VideoBufferType.RGB24, frame.rgb.tobytes()))
            await self.sync.push(rtc.AudioFrame(pcm.tobytes(), RATE, 1, step), (index + 1) / self.fps)
            self.frames += 1
            index += 1

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self.sync.aclose()


async def send_data(room: rtc.Room, message: Message) -> None:
    """A wire message as data on the ``fireside`` topic, to everyone in the room."""
    data = json.dumps(message.wire(), ensure_ascii=False).encode()
    await room.local_participant.publish_data(data, reliable=True, topic=TOPIC)


async def transcribe(
    room: rtc.Room, text: str, segment: str, track_sid: str, final: bool, sender: str | None = None
) -> None:
    """A caption as LiveKit's agents send one: a text stream on ``lk.transcription``
    for the track whose words it holds (``sender``: whose words, if not the room's own)."""
    attributes = {
        "lk.segment_id": segment,
        "lk.transcription_final": "true" if final else "false",
        "lk.transcribed_track_id": track_sid,
    }
    writer = await room.local_participant.stream_text(
        topic=TRANSCRIPTION, attributes=attributes, sender_identity=sender
    )
    await writer.write(text)
    await writer.aclose()
