"""What goes into a room: a face and a voice in step, wire messages, and captions.

A :class:`Broadcast` publishes an avatar output (stage/session/ports.py):
frame ``index`` with its 40 ms of voice (``rtc.AVSynchronizer``), on the
output's clock, however many subscribe: the SFU does the fan-out. Captions go out as LiveKit transcriptions (text streams on
``lk.transcription``, as LiveKit's agents send them), and every wire message
as data on the ``fireside`` topic.
"""

from __future__ import annotations

import asyncio
import json

from livekit import rtc

from stage.core.wire import Message
from stage.session.ports import AvatarOutput
from stage.timeline.mixer import RATE
from stage.transport.pacing import FramePacer

TOPIC = "fireside"  # the data messages' topic: every wire message, as JSON
TRANSCRIPTION = "lk.transcription"  # where LiveKit's clients look for captions
VIDEO_BITRATE = 1_200_000  # bits/s for the top layer of a 512x512 face


class Broadcast:
    """An avatar output's face and voice, published in step: each frame with
    the voice up to its end, paced as every face is (stage/transport/pacing.py)."""

    def __init__(self, room: rtc.Room, output: AvatarOutput):
        self.room, self.output = room, output
        self.voice_sid = ""  # the voice track, which captions of these words transcribe
        self.frames = 0  # frames published so far
        self.pacer: FramePacer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        fps, size = self.output.fps, self.output.size
        self.audio = rtc.AudioSource(RATE, 1, queue_size_ms=200)
        self.video = rtc.VideoSource(size, size)
        self.sync = rtc.AVSynchronizer(audio_source=self.audio, video_source=self.video, video_fps=fps)
        voice = rtc.LocalAudioTrack.create_audio_track("voice", self.audio)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        self.voice_sid = (await self.room.local_participant.publish_track(voice, options)).sid
        face = rtc.LocalVideoTrack.create_video_track("face", self.video)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            video_encoding=rtc.VideoEncoding(max_framerate=fps, max_bitrate=VIDEO_BITRATE),
            # a talking face keeps its frame rate (the lips) before its sharpness
            degradation_preference=rtc.DegradationPreference.MAINTAIN_FRAMERATE,
        )
        await self.room.local_participant.publish_track(face, options)
        self._task = asyncio.get_running_loop().create_task(self._publish())

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _publish(self) -> None:
        output, size = self.output, self.output.size
        step = RATE // output.fps  # the voice that goes with one frame
        self.pacer = FramePacer(output.now, output.fps, start=round(output.now() * output.fps))
        sent = self.pacer.index * step  # the voice is sent up to here
        while True:
            index = await self.pacer.next()
            frame = await output.draw(index)
            end = (index + 1) * step  # a skipped frame's voice goes with the next frame
            pcm = output.audio(sent, end - sent)
            await self.sync.push(rtc.VideoFrame(size, size, rtc.VideoBufferType.RGB24, frame.rgb.tobytes()))
            await self.sync.push(rtc.AudioFrame(pcm.tobytes(), RATE, 1, end - sent), end / RATE)
            sent = end
            self.frames += 1

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
