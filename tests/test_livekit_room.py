"""The avatar in a real LiveKit room: a person (an SDK participant) asks a
question with Piper's voice through the SFU; the avatar answers with its
voice, its moving mouth and its captions, as transcriptions and as data."""

import asyncio
import json
import time

import numpy as np
import pytest

from avatar.rigs.stylized import MOUTH_INSIDE, StylizedRig
from stage.listen.asr import transcribe
from stage.session.cast import Cast
from stage.tools.bench.common import speech48
from stage.transport.rooms.avatar import RoomAvatar
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings, join
from tests.servers import LIVEKIT_KEY, LIVEKIT_SECRET
from tests.test_livekit import RATE, microphone, say
from tests.waiting import until

QUESTION = "How do banks detect fraud?"
pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")  # the dev secret, "secret", is short


class Person:
    """A participant who speaks into the room and keeps what the avatar sends."""

    def __init__(self, room, size: int):
        from livekit import rtc

        self.room, self.rtc = room, rtc
        self.heard: list[tuple[float, np.ndarray]] = []  # (arrival, 16 kHz samples)
        self.mouth: list[tuple[float, int]] = []  # (arrival, mouth-inside pixels)
        self.widths: set[int] = set()  # the widths the face arrived at
        self.transcripts: list[tuple[str, str, bool]] = []  # (the track transcribed, text, final)
        self.microphone = ""  # the sid of this person's microphone track
        self.messages: list[dict] = []
        self.tasks: list[asyncio.Task] = []
        self.size, self.box = size, StylizedRig.mouth_box_at(size)
        room.on("track_subscribed", self._on_track)
        room.register_text_stream_handler("lk.transcription", self._on_transcription)
        room.on("data_received", lambda packet: self.messages.append(json.loads(packet.data)))
        self.source = microphone()

    def _on_track(self, track, publication, participant) -> None:
        self.tasks.append(asyncio.ensure_future(self._receive(track)))

    def _on_transcription(self, reader, identity: str) -> None:
        async def read():
            text = await reader.read_all()
            attributes = reader.info.attributes
            final = attributes.get("lk.transcription_final") == "true"
            self.transcripts.append((attributes.get("lk.transcribed_track_id"), text, final))

        self.tasks.append(asyncio.ensure_future(read()))

    async def _receive(self, track) -> None:
        rtc = self.rtc
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
                self.heard.append((time.perf_counter(), np.frombuffer(event.frame.data, np.int16).copy()))
        else:
            x0, y0, x1, y1 = self.box
            inside = np.array(MOUTH_INSIDE, np.float32)
            async for event in rtc.VideoStream(track):
                frame = event.frame.convert(rtc.VideoBufferType.RGB24)
                rgb = np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3)
                self.widths.add(frame.width)
                if frame.width != self.size:  # a busy sender scales its frames down; the box is at full size
                    rows = np.arange(self.size) * frame.height // self.size
                    rgb = rgb[rows][:, np.arange(self.size) * frame.width // self.size]
                opening = int((np.abs(rgb[y0:y1, x0:x1].astype(np.float32) - inside).sum(2) < 60).sum())
                self.mouth.append((time.perf_counter(), opening))

    async def speak(self, pcm: np.ndarray) -> None:
        rtc = self.rtc
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        subscribed = asyncio.Event()
        self.room.on("local_track_subscribed", lambda track: subscribed.set())
        self.microphone = (await self.room.local_participant.publish_track(track, options)).sid
        # the avatar hears the question from its first word: on a busy machine its
        # subscription may come after the half second of silence before it
        assert await until(subscribed.is_set, 30), "the avatar never subscribed to the microphone"
        sent = np.concatenate([np.zeros(RATE // 2, np.int16), pcm, np.zeros(RATE * 2, np.int16)])
        await say(self.source, sent)

    def watched(self, seconds: float) -> bool:
        """Whether the face has been arriving for ``seconds``."""
        return bool(self.mouth) and self.mouth[-1][0] - self.mouth[0][0] >= seconds

    def ended(self) -> bool:
        return any(m.get("type") == "answer_end" for m in self.messages)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.room.disconnect()


def test_the_avatar_answers_a_question_in_a_room(livekit_server, config, joe):
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    cast = Cast(config)

    async def run():
        avatar = RoomAvatar(await join(settings, "fireside-answer", "fireside-ravi"), cast.session("ravi"))
        await avatar.start()
        person = Person(await join(settings, "fireside-answer", "person"), config.avatar.size)
        try:
            await person.speak(speech48(joe, QUESTION))
            assert await until(person.ended, 90), person.messages
            await asyncio.sleep(0.5)
            return person, avatar.linked, avatar.voice_sid
        finally:
            await person.close()
            await avatar.close()

    person, linked, voice = asyncio.run(run())
    assert linked == "person"  # the first to join is the one listened to
    # the captions: the person's words as they heard them, the avatar's answer with its sources
    mine = " ".join(text for who, text, final in person.transcripts if who == person.microphone and final).lower()
    assert sum(word in mine for word in ("bank", "detect", "fraud")) >= 2, person.transcripts
    said = [text for who, text, final in person.transcripts if who == voice]
    assert said, person.transcripts
    captions = [m for m in person.messages if m["type"] == "caption" and m.get("speaker") == "ravi"]
    assert [m["text"] for m in captions] == said and all(m["sources"] for m in captions), captions
    # the voice: Whisper hears the answer the captions show
    audio = np.concatenate([pcm for _, pcm in person.heard]).astype(np.float32) / 32768
    words = " ".join(said).lower().split()[:12]
    heard = transcribe(audio).text.lower()
    assert sum(word.strip(".,") in heard for word in words) >= len(words) // 2, (heard, words)
    # the face: the mouth opens within half a second of the voice and, while it speaks,
    # opens far wider than it ever is at rest before (idle motion shows a few dark
    # pixels; the first second of a new stream, coarse while its bitrate ramps up,
    # is not the face at rest); the two streams arrive apart by the SFU's jitter,
    # so frames are not matched to the sound one by one
    loud = [t for t, pcm in person.heard if np.sqrt(np.mean((pcm / 32768.0) ** 2)) > 0.02]
    first, last = loud[0], loud[-1]
    settled = person.mouth[0][0] + 1.0
    before = [m for t, m in person.mouth if settled < t < first - 0.5]
    during = [m for t, m in person.mouth if first <= t <= last]
    rest = np.percentile(before, 90)
    opened = next(t for t, m in person.mouth if t > first - 2.0 and m > 2 * rest + 40)
    seen = f"rest {rest}, {len(before)} frames before, widths {sorted(person.widths)}"
    assert abs(opened - first) < 0.5, (opened - first, seen)
    assert np.percentile(during, 75) > 3 * rest + 40, (rest, during)


def test_speaking_over_the_avatar_stops_it_and_leaving_frees_it(livekit_server, config, joe):
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    cast = Cast(config)

    async def run():
        session = cast.session("ada")
        avatar = RoomAvatar(await join(settings, "fireside-barge", "fireside-ada"), session)
        await avatar.start()
        person = Person(await join(settings, "fireside-barge", "person"), config.avatar.size)
        await person.speak(speech48(joe, "What is open banking?"))  # Ada's approved answer runs about 12 s
        assert await until(lambda: session.speaking, 60)
        await asyncio.sleep(1.0)
        await person.speak(speech48(joe, "Sorry, one more thing."))  # over the answer: a barge-in
        assert await until(lambda: any(m["type"] == "stopped" for m in person.messages), 30), person.messages
        await person.speak(speech48(joe, "What is open banking?"))
        assert await until(lambda: session.speaking, 60)
        hearing = avatar._hearing
        await person.close()  # leaves mid-answer
        stopped = await until(lambda: not session.speaking and avatar.linked is None, 10)
        freed = await until(hearing.done, 10)
        await avatar.close()
        return stopped, freed

    stopped, freed = asyncio.run(run())
    assert stopped  # the answer stopped when its listener left
    assert freed  # and the listening to them ended with it


async def avatar_that_rejoins(settings: LiveKitSettings, cast: Cast, room: str) -> RoomAvatar:
    """Ravi in ``room``, started, joining it again whenever it is lost."""
    rejoin = lambda: join(settings, room, "fireside-ravi")  # noqa: E731
    avatar = RoomAvatar(await rejoin(), cast.session("ravi"), rejoin=rejoin)
    await avatar.start()
    return avatar


def test_the_avatar_is_back_within_seconds_of_a_server_restart(livekit_server, config, joe, tmp_path):
    from tests.servers import livekit_server as start_livekit

    server = start_livekit(tmp_path / "before.log")
    settings = LiveKitSettings(server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    cast = Cast(config)

    async def run():
        avatar = await avatar_that_rejoins(settings, cast, "fireside-restart")
        await asyncio.sleep(1.0)
        server.stop()
        restarted = start_livekit(tmp_path / "after.log", ports=server.ports)
        started = time.monotonic()
        try:
            back = await until(lambda: avatar.connected(), 30)
            took = time.monotonic() - started
            person = Person(await join(settings, "fireside-restart", "person"), config.avatar.size)
            await person.speak(speech48(joe, QUESTION))
            answered = await until(person.ended, 90)
            await person.close()
            await avatar.close()
            return back, took, answered
        finally:
            restarted.stop()

    back, took, answered = asyncio.run(run())
    assert back and took < 10, took  # the room works again within 10 s of the server
    assert answered, "no answer_end after the restart"  # and the avatar answers in it


def test_after_a_long_outage_the_avatar_joins_again(livekit_server, config, tmp_path):
    from tests.servers import livekit_server as start_livekit

    server = start_livekit(tmp_path / "before.log")
    settings = LiveKitSettings(server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    cast = Cast(config)

    async def run():
        avatar = await avatar_that_rejoins(settings, cast, "fireside-outage")
        first = avatar.room
        server.stop()
        # the SDK tries to resume for about 40 s, then gives the room up
        assert await until(lambda: not first.isconnected(), 120), "the SDK never gave the lost room up"
        restarted = start_livekit(tmp_path / "after.log", ports=server.ports)
        started = time.monotonic()
        try:
            back = await until(lambda: avatar.room is not first and avatar.connected(), 30)
            took = time.monotonic() - started
            await avatar.close()
            return back, took, avatar.closed.is_set() and not avatar.room.isconnected() and not avatar.busy()
        finally:
            restarted.stop()

    back, took, left = asyncio.run(run())
    assert back and took < 10, took  # a new room within 10 s of the server's return
    assert left, "the avatar did not leave"  # and leaving it is final: nothing runs on, no rejoining


def test_a_wrong_key_names_the_server(livekit_server):
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, "not-the-secret-of-this-server")
    with pytest.raises(LiveKitError, match=livekit_server.url):
        asyncio.run(join(settings, "fireside-denied", "someone"))


def test_an_unreachable_server_is_a_clear_error():
    settings = LiveKitSettings("ws://127.0.0.1:9", LIVEKIT_KEY, LIVEKIT_SECRET)
    with pytest.raises(LiveKitError, match="ws://127.0.0.1:9"):
        asyncio.run(join(settings, "fireside-nowhere", "someone"))
