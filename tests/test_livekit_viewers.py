"""The light viewers (stage/tools/viewers, LiveKit's Go SDK): they join a real
room, receive a published face's RTP without decoding it, and count packets,
frames and loss; a wrong secret is one clear line per viewer, not a crash."""

import asyncio
import json

import numpy as np
import pytest

from stage.tools.bench.rooms import VIEWERS
from stage.transport.rooms.connect import LiveKitSettings, join
from tests.conftest import unavailable
from tests.servers import LIVEKIT_KEY, LIVEKIT_SECRET

pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")
FPS = 25


def viewers_present():
    if not VIEWERS.exists():
        unavailable(f"no light viewers at {VIEWERS}: run make livekit-server")


async def publish_face(settings: LiveKitSettings, room_name: str, running: asyncio.Event):
    """A participant publishing a 25 fps video track until ``running`` is cleared."""
    from livekit import rtc

    room = await join(settings, room_name, "face")
    source = rtc.VideoSource(320, 240)
    track = rtc.LocalVideoTrack.create_video_track("face", source)
    await room.local_participant.publish_track(track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA))
    frame = np.zeros((240, 320, 4), np.uint8)
    n = 0
    while running.is_set():
        frame[:, :, :3] = (n * 7) % 255  # a picture that changes: every frame is encoded
        frame[(n * 3) % 240 :, : (n * 5) % 320, 1] = 200
        source.capture_frame(rtc.VideoFrame(320, 240, rtc.VideoBufferType.RGBA, frame.tobytes()))
        n += 1
        await asyncio.sleep(1 / FPS)
    await room.disconnect()


async def run_viewers(settings: LiveKitSettings, *args: str) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        str(VIEWERS),
        *["--url", settings.url, "--key", settings.key, "--secret", settings.secret, *args],
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out
    return [json.loads(line) for line in out.decode().splitlines()]


def test_light_viewers_receive_every_frame_without_decoding(livekit_server):
    viewers_present()
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, LIVEKIT_SECRET)

    async def run():
        running = asyncio.Event()
        running.set()
        face = asyncio.ensure_future(publish_face(settings, "light-viewers", running))
        try:
            return await run_viewers(
                settings, "--room", "light-viewers", "--viewers", "4", "--settle", "3s", "--window", "4s"
            )
        finally:
            running.clear()
            await face

    lines = asyncio.run(run())
    assert [line["event"] for line in lines] == ["joined", "window", "result"]
    assert lines[0]["joined"] == 4 and lines[0]["failed"] == []
    result = lines[-1]
    assert len(result["viewers"]) == 4
    for viewer in result["viewers"]:
        assert viewer["video_tracks"] == 1, viewer
        assert viewer["packets"] > 0 and viewer["bytes"] > 0, viewer
        assert viewer["fps"] > FPS / 2, viewer  # frames counted by their RTP marker bits
        assert viewer["lost"] <= viewer["expected"] * 0.05, viewer


def test_a_wrong_secret_is_one_line_for_each_viewer(livekit_server):
    viewers_present()
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, "not-the-secret")
    lines = asyncio.run(run_viewers(settings, "--viewers", "2", "--tries", "1", "--settle", "0s", "--window", "0s"))
    joined = lines[0]
    assert joined["joined"] == 0
    assert len(joined["failed"]) == 2
    for failure in joined["failed"]:
        assert "\n" not in failure["reason"] and "secret" in failure["reason"], failure
