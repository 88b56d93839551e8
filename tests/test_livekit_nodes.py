"""Beyond one machine: two LiveKit nodes sharing Redis, a `fireside livekit`
worker registered at each, and people in rooms through both nodes. One worker
is killed mid-call: the other worker's call goes on, the dropped caller's call
page (in Chromium) says so, and its next call goes to the living worker."""

import asyncio
import shutil

import pytest

from stage.tools.bench.common import speech48
from stage.tools.bench.rooms import RoomCaller
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings, close_room, dispatch
from tests import waiting
from tests.conftest import unavailable
from tests.test_call import chromium_hearing, spoken
from tests.test_evening import SHOTS
from tests.test_livekit_room import QUESTION
from tests.waiting import until

pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")
AVATAR = "fireside-ada"


@pytest.fixture
def cluster(tmp_path):
    from stage.tools.bench.nodes import LIVEKIT, Cluster

    if not LIVEKIT.exists():
        unavailable(f"no LiveKit server at {LIVEKIT}: run make livekit-server")
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed: make setup installs it")
    made = Cluster(2, tmp_path)
    yield made
    made.stop()


def worker_config(tmp_path):
    path = tmp_path / "fireside.yaml"
    # one call a worker: the second room must go to the other worker, and a worker
    # with a call declines a third, so where each call went is known
    path.write_text("call:\n  max_calls: 1\n")
    return path


async def call(node_settings: LiveKitSettings, room: str) -> RoomCaller:
    await dispatch(node_settings, room, {"persona": "ada"})
    caller = await RoomCaller.join(node_settings, room, "caller")
    await caller.avatar_joined(AVATAR, 120)
    return caller


def test_calls_through_two_nodes_and_a_worker_killed_mid_call(cluster, tmp_path, joe, config):
    """The dropped caller is the call page in Chromium, calling through node 1
    (``fireside serve --livekit``); the other caller is an SDK participant at node 2."""
    from playwright.async_api import async_playwright

    workers = worker_config(tmp_path)
    first_node, second_node = cluster.nodes
    question = speech48(joe, QUESTION)
    wav = spoken(joe, QUESTION, tmp_path / "question.wav")  # the page's microphone, from each call's start

    async def run():
        callers, said = [], []  # said: the page's console, for a failure's message
        page_server, url = await serve_calls(config, first_node.settings)
        try:
            async with async_playwright() as p:
                browser = await chromium_hearing(p, wav)
                page = await browser.new_page(bypass_csp=True)  # see test_call's test of the page
                page.on("console", lambda message: said.append(message.text))
                first = await asyncio.to_thread(cluster.start_worker, first_node, workers)
                await page.goto(url)
                await page.wait_for_selector("#persona option", state="attached")
                await page.select_option("#persona", "ada")
                await page.click("#start")  # worker 1 is the only one: it takes the page's call
                await page.wait_for_selector("#captions li.avatar .sources", timeout=waiting.ms(120))
                assert await page.evaluate("document.querySelector('#avatar').videoWidth") > 0
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / "call-through-livekit.png"))
                (page_room,) = first.rooms()
                assert page_room.startswith("call-"), page_room

                second = await asyncio.to_thread(cluster.start_worker, second_node, workers)
                two = await call(second_node.settings, "nodes-two")  # worker 1 is full: worker 2 takes it
                callers.append(two)
                assert first.rooms() == [page_room] and second.rooms() == ["nodes-two"], (
                    first.rooms(),
                    second.rooms(),
                )
                hosts = {room: [n.name for n in cluster.nodes if n.serves(room)] for room in (page_room, "nodes-two")}
                assert await two.ask(question) is not None

                first.process.kill()  # mid-call: its avatar goes with it, and the page says so
                await page.wait_for_function(
                    "document.querySelector('#status').textContent.includes('left the call')", timeout=waiting.ms(60)
                )
                assert await page.is_enabled("#start") and not await page.is_enabled("#hangup")
                await page.screenshot(path=str(SHOTS / "call-through-livekit-worker-gone.png"))
                assert await two.ask(question) is not None  # the other call goes on

                callers.remove(two)
                await hang_up(second_node.settings, two)
                assert await until(lambda: any("left room 'nodes-two'" in line for line in second.lines), 60)
                answers = await page.locator("#captions li.avatar .sources").count()
                await page.click("#start")  # the page calls again, through node 1: the living worker takes it
                await page.wait_for_function(
                    f"document.querySelectorAll('#captions li.avatar .sources').length > {answers}",
                    timeout=waiting.ms(120),
                )
                again = [room for room in second.rooms() if room.startswith("call-")]
                assert len(again) == 1 and again[0] != page_room, second.rooms()
                await page.click("#hangup")  # the avatar leaves with its caller: the worker is free again
                assert await until(lambda: any(f"left room '{again[0]}'" in line for line in second.lines), 60)
                await browser.close()
                return hosts
        finally:
            await page_server.cleanup()
            for caller in callers:
                await caller.close()
            print("--- the page:\n" + "\n".join(said[-30:]))  # shown when the test fails
            for worker in cluster.workers:
                print(f"--- {worker.name}:\n" + "".join(worker.lines[-30:]))

    hosts = asyncio.run(run())
    assert all(len(nodes) == 1 for nodes in hosts.values()), hosts  # each room lives on one node


async def serve_calls(config, settings: LiveKitSettings):
    """``fireside serve --livekit``'s app on a free port, on this loop: its runner and URL."""
    from aiohttp import web

    from stage.tools.bench.nodes import free_port
    from stage.transport.server import CallServer

    runner = web.AppRunner(CallServer(config, livekit=settings).app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def hang_up(settings: LiveKitSettings, caller: RoomCaller) -> None:
    """The caller leaves, and the room is closed."""
    room = caller.room.name
    await caller.close()
    await close_room(settings, room)


def test_a_node_that_dies_ends_only_the_rooms_it_hosts(cluster, joe):
    """Two rooms, one hosted on each node, two people in each; node 2 dies. The room on
    node 1 goes on (its people still hear each other); the room on node 2 ends for its
    people; calling or joining through the dead node fails in one line that names it."""
    first_node, second_node = cluster.nodes
    question = speech48(joe, QUESTION)

    async def run():
        people: dict[str, list[RoomCaller]] = {}  # by the node hosting their room
        try:
            for i in range(12):  # LiveKit places a new room on a node of its choosing
                if len(people) == 2:
                    break
                room = f"death-{i}"
                speaker = await RoomCaller.join(first_node.settings, room, "speaker")
                assert await until(lambda: any(n.serves(room) for n in cluster.nodes), 10), room
                host = next(n for n in cluster.nodes if n.serves(room))
                if host.name in people:
                    await speaker.close()
                    continue
                listener = await RoomCaller.join(host.settings, room, "listener")
                people[host.name] = [speaker, listener]
            assert len(people) == 2, f"12 rooms, all on {list(people)}"
            (speaker, listener), (_, gone_listener) = people[first_node.name], people[second_node.name]

            second_node.stop()  # killed: its rooms and its connections end
            assert await until(lambda: not gone_listener.room.isconnected(), 60), "still in a room on a dead node"
            heard = len(listener.loud)
            await speaker.ask(question, seconds=0)  # node 1's room goes on: the listener hears the question
            assert await until(lambda: len(listener.loud) > heard + 20, 30), "the room on the living node went quiet"
            assert speaker.room.isconnected() and listener.room.isconnected()

            for attempt in (
                dispatch(second_node.settings, "death-again", {"persona": "ada"}),
                RoomCaller.join(second_node.settings, "death-again", "caller"),
            ):
                with pytest.raises(LiveKitError) as raised:
                    await attempt
                message = str(raised.value)
                assert "\n" not in message and second_node.url.split("://")[1] in message, message
        finally:
            for group in people.values():
                for person in group:
                    await person.close()

    asyncio.run(run())


def test_a_node_without_redis_says_so_in_one_line(tmp_path):
    from stage.tools.bench.nodes import LIVEKIT, free_port, start_node

    if not LIVEKIT.exists():
        unavailable(f"no LiveKit server at {LIVEKIT}: run make livekit-server")
    with pytest.raises(LiveKitError) as raised:
        start_node("lonely", f"127.0.0.1:{free_port()}", tmp_path, seconds=30)
    message = str(raised.value)
    assert "\n" not in message and "lonely" in message, message
    assert "redis" in message.lower(), message


def test_room_calls_refuse_bad_bodies_and_say_when_livekit_is_gone(config):
    """``POST /rooms/call``: a bad body is a 400, an unknown persona a 404, and a LiveKit
    server that cannot be reached a 503 in one line naming it (no server runs here)."""
    from aiohttp.test_utils import TestClient, TestServer

    from stage.tools.bench.nodes import KEY, SECRET, free_port
    from stage.transport.server import CallServer

    gone = f"127.0.0.1:{free_port()}"

    async def run():
        server = CallServer(config, livekit=LiveKitSettings(f"ws://{gone}", KEY, SECRET))
        async with TestClient(TestServer(server.app())) as client:
            assert (await (await client.get("/status")).json())["via"] == "livekit"
            answers = {}
            for body in ({}, {"persona": "nobody"}, {"persona": "ada"}):
                response = await client.post("/rooms/call", json=body)
                answers[response.status] = (await response.json())["error"]
            return answers

    answers = asyncio.run(run())
    assert set(answers) == {400, 404, 503}, answers
    assert "persona" in answers[400] and "nobody" in answers[404], answers
    assert gone in answers[503] and "\n" not in answers[503], answers
