"""One worker process, several rooms: livekit-agents dispatches a job per room
to `fireside livekit`'s worker, and each room's person is answered by the
persona its dispatch names, at the same time."""

import asyncio

import pytest

from stage.tools.bench.common import speech48
from stage.transport.rooms.connect import LiveKitSettings, dispatch, join
from stage.transport.rooms.worker import AvatarWorker
from tests import waiting
from tests.servers import LIVEKIT_KEY, LIVEKIT_SECRET
from tests.test_livekit_room import QUESTION, Person
from tests.waiting import until

pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key")


def test_one_worker_serves_two_rooms_at_once(livekit_server, config, joe):
    settings = LiveKitSettings(livekit_server.url, LIVEKIT_KEY, LIVEKIT_SECRET)
    rooms = {"fireside-room-one": "ravi", "fireside-room-two": "ada"}

    async def run():
        worker = AvatarWorker(settings, at_most(config, 2), "ravi")  # the two rooms, whatever the cores
        running = asyncio.ensure_future(worker.run())
        people = []
        try:
            assert await until(worker.registered.is_set, 90), "the worker never registered"
            for room, persona in rooms.items():
                await dispatch(settings, room, {"persona": persona})
            assert await until(lambda: set(worker.avatars) == set(rooms), 60), worker.avatars
            people = [Person(await join(settings, room, "person"), config.avatar.size) for room in rooms]
            question = speech48(joe, QUESTION)
            await asyncio.gather(*(person.speak(question) for person in people))  # both at once
            answered = await until(lambda: all(person.ended() for person in people), 180)
            return answered, [person.messages for person in people]
        finally:
            for person in people:
                await person.close()
            await worker.close()
            await asyncio.wait_for(running, waiting.seconds(30))

    answered, messages = asyncio.run(run())
    assert answered, messages
    for persona, heard in zip(rooms.values(), messages):
        speakers = {m.get("speaker") for m in heard if m["type"] == "caption" and m.get("speaker") != "person"}
        assert speakers == {persona}, speakers  # each room heard the persona its dispatch named
        captions = [(m.get("speaker"), m.get("text"), m.get("sources")) for m in heard if m["type"] == "caption"]
        assert any(sources for _, _, sources in captions), (persona, captions)  # with its sources


def test_the_workers_room_works_again_within_seconds_of_a_server_restart(livekit_server, config, joe, tmp_path):
    from tests.servers import livekit_server as start_livekit

    server = start_livekit(tmp_path / "before.log")
    settings = LiveKitSettings(server.url, LIVEKIT_KEY, LIVEKIT_SECRET)

    async def run():
        worker = AvatarWorker(settings, config, "ravi")
        running = asyncio.ensure_future(worker.run())
        restarted = None
        try:
            assert await until(worker.registered.is_set, 90), "the worker never registered"
            await dispatch(settings, "fireside-worker-restart", {})
            assert await until(lambda: "fireside-worker-restart" in worker.avatars, 60), "no job for the room"
            avatar = worker.avatars["fireside-worker-restart"]
            server.stop()
            restarted = start_livekit(tmp_path / "after.log", ports=server.ports)
            started = asyncio.get_running_loop().time()
            back = await until(lambda: avatar.connected(), 30)
            took = asyncio.get_running_loop().time() - started
            person = Person(await join(settings, "fireside-worker-restart", "person"), config.avatar.size)
            await person.speak(speech48(joe, QUESTION))
            answered = await until(person.ended, 90)
            await person.close()
            return back, took, answered
        finally:
            await worker.close()
            await asyncio.wait_for(running, waiting.seconds(30))
            if restarted is not None:
                restarted.stop()

    back, took, answered = asyncio.run(run())
    assert back and took < 10, took  # the worker's room works again within 10 s of the server
    assert answered, "no answer_end after the restart"


def at_most(config, calls: int):
    """``config`` with ``call.max_calls`` set (its default follows the machine's cores)."""
    return config.model_copy(update={"call": config.call.model_copy(update={"max_calls": calls})})
