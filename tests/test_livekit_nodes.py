"""Beyond one machine: two LiveKit nodes sharing Redis, a `fireside livekit`
worker registered at each, and people in rooms through both nodes. One worker
is killed mid-call: the other worker's call goes on, the dropped caller sees
the avatar leave, and its next call goes to the living worker."""

import asyncio
import shutil

import pytest

from stage.tools.bench.common import speech48
from stage.tools.bench.rooms import RoomCaller
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings
from tests.conftest import unavailable
from tests.test_livekit_room import QUESTION
from tests.test_livekit_worker import dispatch
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


def test_calls_through_two_nodes_and_a_worker_killed_mid_call(cluster, tmp_path, joe):
    config = worker_config(tmp_path)
    first_node, second_node = cluster.nodes
    question = speech48(joe, QUESTION)

    async def run():
        callers = []
        try:
            first = cluster.start_worker(first_node, config)
            one = await call(first_node.settings, "nodes-one")  # worker 1 is the only one: it takes room one
            callers.append(one)
            second = cluster.start_worker(second_node, config)
            two = await call(second_node.settings, "nodes-two")  # worker 1 is full: worker 2 takes it
            callers.append(two)
            assert first.rooms() == ["nodes-one"] and second.rooms() == ["nodes-two"], (first.rooms(), second.rooms())
            hosts = {room: [n.name for n in cluster.nodes if n.serves(room)] for room in ("nodes-one", "nodes-two")}

            # both answer, each through its own node
            answers = await asyncio.gather(one.ask(question), two.ask(question))
            assert all(a is not None for a in answers), answers

            first.process.kill()  # mid-call: its avatar goes with it
            left = await until(lambda: not any(p.identity == AVATAR for p in one.room.remote_participants.values()), 60)
            assert left, "the dropped caller still sees the avatar"
            assert await two.ask(question) is not None  # the other call goes on

            for caller, node in ((one, first_node), (two, second_node)):  # both hang up
                callers.remove(caller)
                await hang_up(node.settings, caller)
            assert await until(lambda: any("left room 'nodes-two'" in line for line in second.lines), 60)
            again = await call(first_node.settings, "nodes-three")  # the dropped caller calls again, via node 1
            callers.append(again)
            assert "nodes-three" in second.rooms()  # the living worker took it
            assert await again.ask(question) is not None
            return hosts
        finally:
            for caller in callers:
                await caller.close()
            for worker in cluster.workers:  # shown when the test fails
                print(f"--- {worker.name}:\n" + "".join(worker.lines[-30:]))

    hosts = asyncio.run(run())
    assert all(len(nodes) == 1 for nodes in hosts.values()), hosts  # each room lives on one node


async def hang_up(settings: LiveKitSettings, caller: RoomCaller) -> None:
    """The caller leaves, and the room is closed (as the call page's hang-up does)."""
    from livekit import api

    room = caller.room.name
    await caller.close()
    async with api.LiveKitAPI(settings.url.replace("ws", "http", 1), settings.key, settings.secret) as lk:
        await lk.room.delete_room(api.DeleteRoomRequest(room=room))


def test_a_node_without_redis_says_so_in_one_line(tmp_path):
    from stage.tools.bench.nodes import LIVEKIT, free_port, start_node

    if not LIVEKIT.exists():
        unavailable(f"no LiveKit server at {LIVEKIT}: run make livekit-server")
    with pytest.raises(LiveKitError) as raised:
        start_node("lonely", f"127.0.0.1:{free_port()}", tmp_path, seconds=30)
    message = str(raised.value)
    assert "\n" not in message and "lonely" in message, message
    assert "redis" in message.lower(), message
