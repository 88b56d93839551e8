"""aiortc transport for a call session: the avatar's video and voice as
media tracks, the person's microphone into the session, captions over a
data channel. No conversation logic lives here."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from fractions import Fraction
from typing import Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from stage.core.runtime import Runtime
from stage.core.wire import Message
from stage.session.call import CallSession
from stage.timeline.mixer import RATE as OUT_RATE

log = logging.getLogger("fireside.webrtc")

VIDEO_CLOCK = 90000
AUDIO_PACKET = 960  # 20 ms at 48 kHz


class AvatarVideoTrack(MediaStreamTrack):
    """Frame *n* shows the face at ``n / fps`` on the session clock, sent then.

    A call's track draws its session's face; a stage viewer's track draws
    through the stage (``clock`` and ``draw`` say how). Frames are drawn on
    the runtime's ``render`` threads."""

    kind = "video"

    def __init__(
        self,
        session: CallSession | None = None,
        *,
        clock: Callable[[], float] | None = None,
        draw: Callable[[int], object] | None = None,
        fps: int | None = None,
        runtime: Runtime | None = None,
    ):
        super().__init__()
        self.runtime = runtime or session.runtime  # a stage's view is given the stage's
        self.now = clock or session.now
        self.draw = draw or session.renderer.frame
        self.fps = fps or session.renderer.fps
        self.next_index = 0
        self.dropped = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        due = self.next_index / self.fps
        wait = due - self.now()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -2 / self.fps:  # far behind: skip to now rather than show the past
            late = math.floor(self.now() * self.fps)
            self.dropped += late - self.next_index
            self.next_index = late
        index = self.next_index
        self.next_index += 1
        frame = await self.runtime.run(self.runtime.render, self.draw, index)
        video = VideoFrame.from_ndarray(frame.rgb, format="rgb24")
        video.pts = round(frame.pts * VIDEO_CLOCK)
        video.time_base = Fraction(1, VIDEO_CLOCK)
        return video


class AvatarAudioTrack(MediaStreamTrack):
    """The avatar's voice, 20 ms at a time, in step with the session clock
    (or the stage's voices: ``clock`` and ``read(start, count)``)."""

    kind = "audio"

    def __init__(
        self,
        session: CallSession | None = None,
        *,
        clock: Callable[[], float] | None = None,
        read: Callable[[int, int], object] | None = None,
    ):
        super().__init__()
        self.now = clock or session.now
        self.read = read or session.playback.read
        self.next_sample: int | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.next_sample is None:
            self.next_sample = round(self.now() * OUT_RATE)
        wait = self.next_sample / OUT_RATE - self.now()
        if wait > 0:
            await asyncio.sleep(wait)
        start = self.next_sample
        self.next_sample += AUDIO_PACKET
        pcm = self.read(start, AUDIO_PACKET)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = OUT_RATE
        frame.pts = start
        frame.time_base = Fraction(1, OUT_RATE)
        return frame


async def consume_microphone(track: MediaStreamTrack, session: CallSession) -> None:
    """Feed the person's audio to the session until the track ends."""
    try:
        await _consume(track, session)
    except Exception:  # a bug here must not pass silently, nor take the server down
        log.exception("session %s stopped listening", session.id)


async def _consume(track: MediaStreamTrack, session: CallSession) -> None:
    while not session.closed:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        samples = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            samples = samples.T  # (channels, n) -> (n, channels)
        samples = samples.reshape(-1, channels)
        await session.hear(samples if channels > 1 else samples[:, 0], frame.sample_rate, channels)


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
