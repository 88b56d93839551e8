"""The moderated panel in a LiveKit room (`fireside serve --show --livekit`),
against the real server: both panelists publish into the show's room, a
viewer with the token Fireside mints subscribes (and may not publish), and
"ask now" from the console is answered on the viewer, and on the stage page
in Chromium through the SFU."""

import asyncio
import time

import numpy as np
import pytest

from tests import waiting
from tests.servers import LIVEKIT_KEY, LIVEKIT_SECRET
from tests.test_console import TOKEN, PanelServer
from tests.test_livekit_room import Person
from tests.waiting import until

pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")
QUESTION = "How do banks detect fraud?"


@pytest.fixture(scope="module")
def panel(tmp_path_factory, livekit_server):
    env = {"LIVEKIT_URL": livekit_server.url, "LIVEKIT_API_KEY": LIVEKIT_KEY, "LIVEKIT_API_SECRET": LIVEKIT_SECRET}
    server = PanelServer(tmp_path_factory.mktemp("panel"), options=["--livekit"], env=env).start()
    yield server
    server.stop()


def ask_now(panel, question: str, to: str) -> str:
    status, asked = panel.request("POST", "/ask", {"text": question}, None, "127.0.0.41")
    assert status == 201, asked
    panel.request("POST", f"/console/questions/{asked['id']}", {"action": "approve", "to": to}, TOKEN)
    status, answer = panel.request("POST", "/console/ask", {"id": asked["id"]}, TOKEN)
    assert status == 200, answer
    return asked["id"]


class Viewer:
    """A light subscriber: counts each panelist's frames, keeps its voice's loudness and the messages."""

    def __init__(self, room):
        from livekit import rtc

        self.room, self.rtc = room, rtc
        self.frames: dict[str, int] = {}  # identity -> frames received
        self.loud: dict[str, list[float]] = {}  # identity -> when its voice was heard
        self.messages: list[dict] = []
        self.transcribed: list[tuple[str, str]] = []  # (who, text)
        self.tasks: list[asyncio.Task] = []
        room.on(
            "track_subscribed", lambda track, pub, who: self.tasks.append(asyncio.ensure_future(self._take(track, who)))
        )
        room.on("data_received", self._data)
        room.register_text_stream_handler("lk.transcription", self._transcription)

    def _data(self, packet) -> None:
        import json

        if packet.topic == "fireside":
            self.messages.append(json.loads(packet.data))

    def _transcription(self, reader, identity: str) -> None:
        async def read():
            self.transcribed.append((identity, await reader.read_all()))

        self.tasks.append(asyncio.ensure_future(read()))

    async def _take(self, track, who) -> None:
        rtc = self.rtc
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            async for _ in rtc.VideoStream(track):
                self.frames[who.identity] = self.frames.get(who.identity, 0) + 1
        else:
            async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
                pcm = np.frombuffer(event.frame.data, np.int16) / 32768.0
                if np.sqrt(np.mean(pcm**2)) > 0.02:
                    self.loud.setdefault(who.identity, []).append(time.monotonic())

    close = Person.close  # leaving is the same: its tasks, then the room


def test_ask_now_is_answered_on_a_viewer_in_the_room(panel):
    from livekit import rtc

    status, stage = panel.request("GET", "/stage/panel")
    assert status == 200 and stage["livekit"], stage
    where = stage["livekit"]

    async def run():
        room = rtc.Room()
        await room.connect(where["url"], where["token"])
        viewer = Viewer(room)
        try:
            panelists = {"panelist-ada", "panelist-ravi"}
            assert await until(lambda: set(viewer.frames) == panelists and min(viewer.frames.values()) > 25, 60), (
                viewer.frames
            )
            may_publish = room.local_participant.permissions.can_publish
            asked = time.monotonic()
            await asyncio.to_thread(ask_now, panel, QUESTION, "ravi")
            answered = await until(lambda: any(m["type"] == "caption" and m.get("final") for m in viewer.messages), 60)
            heard = await until(lambda: any(t > asked for t in viewer.loud.get("panelist-ravi", [])), 30)
            await until(lambda: viewer.transcribed, 10)
            return viewer, may_publish, answered, heard
        finally:
            await viewer.close()

    viewer, may_publish, answered, heard = asyncio.run(run())
    assert not may_publish  # the viewer's token may only subscribe
    assert answered, viewer.messages
    assert heard, viewer.loud  # Ravi's own voice track carried the answer
    captions = [m for m in viewer.messages if m["type"] == "caption" and m.get("panelist") == "ravi"]
    assert captions and all(m["sources"] for m in captions if m["kind"] in ("model", "extractive")), captions
    assert any(m["type"] == "asked" and m["question"] == QUESTION for m in viewer.messages)
    assert viewer.transcribed and all(who == "panelist-ravi" for who, _ in viewer.transcribed), viewer.transcribed
    assert "ada" not in {m.get("panelist") for m in captions}


def test_the_stage_page_watches_through_livekit_in_chromium(panel):
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
        # wait_for_function evaluates with eval, which the pages' policy forbids
        # (the policy has a test of its own: test_pages_run_no_inline_script...)
        stage = browser.new_page(bypass_csp=True)
        said: list[str] = []  # the page's console, for a failure's message
        stage.on("console", lambda message: said.append(message.text))
        stage.on("pageerror", lambda error: said.append(str(error)))
        stage.goto(f"http://127.0.0.1:{panel.port}/stage")
        try:
            stage.wait_for_function(
                # both faces play (the SFU sends the simulcast layer that suits the seat's size)
                "window.stageConnected && window.stageRoom && [...document.querySelectorAll('video')]"
                ".filter(v => v.videoWidth >= 128 && v.currentTime > 1).length === 2",
                timeout=waiting.ms(60),
            )
        except Exception as error:  # noqa: BLE001 - the page's own words say why
            raise AssertionError(f"the stage page did not show both panelists: {said}") from error
        assert stage.evaluate("window.stageRoom.localParticipant.permissions.canPublish") is False
        ask_now(panel, "What is open banking?", "ada")
        stage.wait_for_function(
            "[...document.querySelectorAll('#captions p')].some(p => p.textContent.startsWith('Ada Lim:'))",
            timeout=waiting.ms(60),
        )
        stage.wait_for_function(
            "document.querySelector('.seat[data-id=ada]').classList.contains('speaking')", timeout=waiting.ms(10)
        )
        # her voice plays in the page, from her own track in the room
        stage.wait_for_function(
            "[...document.querySelectorAll('audio')].some(a => a.srcObject && !a.paused)", timeout=waiting.ms(10)
        )
        panel.request("POST", "/console/stop", {}, TOKEN)
        browser.close()
