"""The real LiveKit server: two SDK participants in a room, one speaking with
Piper's voice, the other hearing it through the SFU."""

import asyncio
import re

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from stage.listen.asr import transcribe
from stage.tools.bench.common import speech48
from tests import waiting
from tests.servers import LIVEKIT_KEY, LIVEKIT_SECRET

ROOM = "fireside-test"
RATE = 48000  # what the speaker publishes
HEARD_RATE = 16000  # what the listener asks the SDK for, Whisper's rate
QUEUE_MS = 30_000  # the longest speech said at once
SENTENCE = "Welcome to the fireside chat about open banking."


def token(identity: str) -> str:
    from livekit import api

    grants = api.VideoGrants(room_join=True, room=ROOM)
    return api.AccessToken(LIVEKIT_KEY, LIVEKIT_SECRET).with_identity(identity).with_grants(grants).to_jwt()


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def microphone():
    """An audio source with room for a whole question: the native side plays it out at
    the real rate on its own thread, so a busy event loop cannot leave gaps in it."""
    from livekit import rtc

    return rtc.AudioSource(RATE, 1, queue_size_ms=QUEUE_MS)


async def say(source, pcm: np.ndarray) -> None:
    """Queue ``pcm`` (int16 at RATE) at once, and return when it has played out."""
    from livekit import rtc

    assert len(pcm) < RATE * QUEUE_MS // 1000, "longer than the microphone's queue"
    await source.capture_frame(rtc.AudioFrame(pcm.tobytes(), RATE, 1, len(pcm)))
    await source.wait_for_playout()


async def speak_and_hear(url: str, speech: np.ndarray, lead: float, tail: float):
    from livekit import rtc

    speaker, listener = rtc.Room(), rtc.Room()
    subscribed: asyncio.Future = asyncio.get_running_loop().create_future()

    @listener.on("track_subscribed")
    def on_track(track, publication, participant):
        if track.kind == rtc.TrackKind.KIND_AUDIO and not subscribed.done():
            subscribed.set_result((track, participant.identity))

    await listener.connect(url, token("listener"))
    await speaker.connect(url, token("speaker"))
    try:
        source = microphone()
        track = rtc.LocalAudioTrack.create_audio_track("voice", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await speaker.local_participant.publish_track(track, options)
        remote, identity = await asyncio.wait_for(subscribed, waiting.seconds(60))

        # what is sent: silence, the sentence, silence, played out in real time
        silence = lambda seconds: np.zeros(int(seconds * RATE), np.int16)  # noqa: E731
        sent = np.concatenate([silence(lead), speech, silence(tail)])

        async def hear() -> tuple[np.ndarray, int]:
            # the listener's stream gives a frame every 10 ms once subscribed; a few
            # may be lost while the path starts, so it listens for the speech and
            # most of the silence after it
            wanted = int((len(sent) / RATE - tail / 2) * HEARD_RATE)
            stream = rtc.AudioStream(remote, sample_rate=HEARD_RATE, num_channels=1)
            parts, count, frames = [], 0, 0
            async for event in stream:
                samples = np.frombuffer(event.frame.data, np.int16)
                parts.append(samples)
                count, frames = count + len(samples), frames + 1
                if count >= wanted:
                    break
            await stream.aclose()
            return np.concatenate(parts).astype(np.float32) / 32768, frames

        heard, frames = (await asyncio.wait_for(asyncio.gather(hear(), say(source, sent)), waiting.seconds(120)))[0]
        return heard, frames, identity
    finally:
        await speaker.disconnect()
        await listener.disconnect()


@pytest.mark.filterwarnings("ignore:The HMAC key")  # the dev secret, "secret", is short
def test_a_piper_voice_crosses_a_real_livekit_room(livekit_server, joe):
    speech = speech48(joe, SENTENCE)
    heard, frames, identity = asyncio.run(speak_and_hear(livekit_server.url, speech, lead=0.5, tail=1.5))

    assert identity == "speaker"
    assert frames > 100  # over a second of 10 ms frames came through the SFU
    assert np.sqrt(np.mean(heard**2)) > 0.01  # sound, not the silence of a dead path
    text = transcribe(heard).text
    expected, got = words(SENTENCE), words(text)
    assert Levenshtein.distance(expected, got) / len(expected) <= 0.25, text
