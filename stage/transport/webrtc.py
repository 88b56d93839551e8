"""aiortc transport for a call session: the avatar's video and voice as
media tracks, the person's microphone into the session, captions over a
data channel. No conversation logic lives here."""

from __future__ import annotations

import asyncio
import json
import logging
from fractions import Fraction
from typing import Callable

import cv2
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from stage.core.wire import Message
from stage.session.ports import AudioIn, AvatarOutput
from stage.timeline.mixer import RATE as OUT_RATE
from stage.transport.pacing import FramePacer

log = logging.getLogger("fireside.webrtc")

VIDEO_CLOCK = 90000
AUDIO_PACKET = 960  # 20 ms at 48 kHz


class AvatarVideoTrack(MediaStreamTrack):
    """Frame *n* of an avatar output, sent when it is due on the output's clock
    (stage/transport/pacing.py). Several viewers of one face share one track
    through a ``MediaRelay``: it is drawn once for all of them."""

    kind = "video"

    def __init__(self, output: AvatarOutput):
        super().__init__()
        self.output = output
        self.pacer = FramePacer(output.now, output.fps)

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.output.draw(await self.pacer.next())
        # in the encoders' own format, made once here: viewers that share this track through a
        # MediaRelay get the same frame, and two encoders converting one frame at once share its
        # swscale context, which deadlocked them (a server hung on SIGTERM, its encoders waiting)
        video = await asyncio.to_thread(_yuv420p, frame.rgb)
        video.pts = round(frame.pts * VIDEO_CLOCK)
        video.time_base = Fraction(1, VIDEO_CLOCK)
        return video


def _yuv420p(rgb) -> VideoFrame:
    return VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


class AvatarAudioTrack(MediaStreamTrack):
    """An avatar output's voice, 20 ms at a time, in step with its clock."""

    kind = "audio"

    def __init__(self, output: AvatarOutput):
        super().__init__()
        self.output = output
        self.next_sample: int | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = self.output.now
        if self.next_sample is None:
            self.next_sample = round(now() * OUT_RATE)
        wait = self.next_sample / OUT_RATE - now()
        if wait > 0:
            await asyncio.sleep(wait)
        start = self.next_sample
        self.next_sample += AUDIO_PACKET
        pcm = self.output.audio(start, AUDIO_PACKET)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = OUT_RATE
        frame.pts = start
        frame.time_base = Fraction(1, OUT_RATE)
        return frame


async def consume_microphone(track: MediaStreamTrack, listener: AudioIn) -> None:
    """Feed the person's audio to the listener until the track ends."""
    try:
        await _consume(track, listener)
    except Exception:  # a bug here must not pass silently, nor take the server down
        log.exception("%s stopped listening", getattr(listener, "id", "a listener"))


async def _consume(track: MediaStreamTrack, listener: AudioIn) -> None:
    while not listener.closed:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        samples = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            samples = samples.T  # (channels, n) -> (n, channels)
        samples = samples.reshape(-1, channels)
        await listener.hear(samples if channels > 1 else samples[:, 0], frame.sample_rate, channels)


def listen_without_delay(receiver) -> None:
    """Hand the person's audio to the listener as each packet arrives.

    aiortc holds four packets (80 ms) in its jitter buffer before it
    releases one, to play audio out smoothly; the listener plays nothing
    out, so that wait is only latency. aiortc has no setting for it: the
    receiver's buffer is replaced, before any packet, by one without the
    wait (a packet is still released once the next one shows it complete)."""
    from aiortc.jitterbuffer import JitterBuffer

    attribute = "_RTCRtpReceiver__jitter_buffer"
    if getattr(receiver, attribute, None) is None:
        log.warning("this aiortc has no jitter buffer where expected: audio keeps its 80 ms wait")
        return
    setattr(receiver, attribute, JitterBuffer(capacity=16, prefetch=0))


def notice_lost_peers(interval: float = 1.5, failures: int = 4) -> None:
    """Give a peer up once it has not answered ``failures`` consent checks
    in a row, ``interval`` seconds apart (about 6 s in all): a viewer whose
    network dropped frees its session within 10 s. aioice's own, RFC 7675's
    5 s and 6 failures, take 30 s; it has no setting for them."""
    import aioice.ice

    aioice.ice.CONSENT_INTERVAL, aioice.ice.CONSENT_FAILURES = interval, failures


def restrict_ice(addresses: list[str]) -> None:
    """Offer ICE candidates on these local addresses only (for example
    127.0.0.1 in tests and benchmarks, so no traffic leaves the machine)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(addresses)


def caption_sender(channel) -> Callable[[Message], None]:
    """Wire messages onto a data channel, as JSON, while it is open."""

    def send(message: Message) -> None:
        if channel.readyState == "open":
            channel.send(json.dumps(message.wire(), ensure_ascii=False))

    return send
