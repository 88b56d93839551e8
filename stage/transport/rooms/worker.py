"""``fireside livekit`` without ``--room``: one process, the avatar in any number of rooms.

livekit-agents' ``AgentServer`` registers this process with the LiveKit
server as a worker. Each room it is dispatched to becomes a job: by name
(``lk dispatch create --agent-name fireside --room NAME``, or the API's
``create_dispatch``), with optional metadata ``{"persona": ID, "listen":
IDENTITY}``. Jobs run on threads of this process, each on an event loop of
its own, and each puts a persona's avatar in its room: a
:class:`~stage.transport.rooms.avatar.RoomAvatar` around a session, the same core
as a call. The models, voices and faces are loaded once and shared by all.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading

from stage.core.config import FiresideConfig
from stage.session.cast import Cast
from stage.transport.rooms.avatar import RoomAvatar
from stage.transport.rooms.connect import AGENT_NAME, LiveKitError, LiveKitSettings, join

# the agents' own VAD and end-of-turn models are not used here: not loaded into each job
os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")

from livekit.agents import AgentServer, AutoSubscribe, JobContext, JobExecutorType, JobRequest  # noqa: E402
from livekit.agents.worker import _DefaultLoadCalc  # noqa: E402 - livekit-agents' CPU measure

log = logging.getLogger("fireside.livekit")

LOAD_AT_MOST = 0.95  # the load reported (see AvatarWorker.load)


class AvatarWorker:
    """A livekit-agents worker whose jobs are avatars in rooms (``persona`` unless a dispatch names another)."""

    def __init__(
        self,
        settings: LiveKitSettings,
        config: FiresideConfig,
        persona: str,
        listen_to: str | None = None,
        agent_name: str = AGENT_NAME,
    ):
        self.settings, self.persona, self.listen_to = settings, persona, listen_to
        self.cast = Cast(config)
        self._known(persona)
        self.avatars: dict[str, RoomAvatar] = {}  # room name -> its avatar, while its job runs
        self.max_calls = config.call.max_calls
        self.jobs: set[str] = set()  # the jobs accepted and not yet over (a room joins a moment after)
        self.registered = asyncio.Event()
        self._connecting = threading.Lock()
        self.server = AgentServer(
            job_executor_type=JobExecutorType.THREAD,  # jobs share this process's models
            num_idle_processes=0,
            # the load the LiveKit server weighs when it picks a worker for a new
            # room (see load()); the worker never marks itself full on it: it
            # declines a room itself beyond ``call.max_calls`` (see _request), and
            # the server then asks another worker
            load_fnc=self.load,
            load_threshold=math.inf,
            host="127.0.0.1",
            port=0,  # the worker's health endpoint, on any free port
            ws_url=settings.url,
            api_key=settings.key,
            api_secret=settings.secret,
        )
        self.server.rtc_session(self._job, agent_name=agent_name, on_request=self._request)
        self.server.on("worker_registered", lambda *_: self.registered.set())

    def load(self) -> float:
        """This worker's load: the machine's CPU (livekit-agents' own measure, its average
        over 2.5 s) or its rooms against ``call.max_calls``, whichever is higher, at most
        ``LOAD_AT_MOST``. The LiveKit server picks a worker for a new room at random,
        weighted by one minus its load: a busy machine is asked less often. Never 1, at
        which the server would not ask at all: the load it holds is up to 2.5 s old, and
        a worker that has just freed a room would be passed over; a worker at its limit
        declines the room itself (``_request``), and the server asks the next."""
        busy = max(_DefaultLoadCalc.get_load(self.server), len(self.jobs) / self.max_calls)
        return min(LOAD_AT_MOST, busy)

    def _known(self, persona: str) -> str:
        if persona not in self.cast.cards:
            raise LiveKitError(f"unknown persona {persona!r}; known: {', '.join(self.cast.cards)}")
        return persona

    def _wanted(self, metadata: str) -> tuple[str, str | None, bool]:
        """The persona, the participant to listen to, and whether the room is their call
        (the avatar leaves with them), from a dispatch's metadata (JSON, optional)."""
        try:
            wanted = json.loads(metadata) if metadata else {}
        except json.JSONDecodeError:
            wanted = {}
        if not isinstance(wanted, dict):
            wanted = {}
        listen = wanted.get("listen") or self.listen_to
        return wanted.get("persona") or self.persona, listen, bool(wanted.get("call")) and listen is not None

    async def run(self) -> None:
        """Serve rooms until closed; a server that cannot be reached is a :class:`LiveKitError`."""
        self.cast.warm()  # every persona a dispatch may name: a job's room hears no loading
        try:
            await self.server.run()
        except RuntimeError as err:
            raise LiveKitError(f"the worker cannot register at {self.settings.url}: {err}") from None

    async def close(self) -> None:
        await self.server.aclose()
        self.cast.close()

    # -- on the worker's loop: is the room ours? ------------------------------------------------------
    async def _request(self, request: JobRequest) -> None:
        persona, _, _ = self._wanted(request.job.metadata)
        if persona not in self.cast.cards:
            log.warning("room %s asked for unknown persona %r: declined", request.room.name, persona)
            await request.reject()
            return
        if len(self.jobs) >= self.max_calls:
            log.warning("room %s declined: this worker is at its limit of %d calls", request.room.name, self.max_calls)
            await request.reject()  # the server offers the room to another worker
            return
        self.jobs.add(request.job.id)
        await request.accept(identity=f"fireside-{persona}", name=self.cast.cards[persona].name)

    # -- on the job's own thread and loop: the avatar in its room ---------------------------------------
    async def _job(self, ctx: JobContext) -> None:
        ctx.add_shutdown_callback(lambda: self._over(ctx.job.id))  # counted from its acceptance to its end
        persona, listen_to, call = self._wanted(ctx.job.metadata)
        await self._one_at_a_time(lambda: ctx.connect(auto_subscribe=AutoSubscribe.SUBSCRIBE_ALL))
        room, identity, name = ctx.room.name, ctx.room.local_participant.identity, self.cast.cards[persona].name
        rejoin = lambda: self._one_at_a_time(lambda: join(self.settings, room, identity, name))  # noqa: E731
        session = await asyncio.to_thread(self.cast.session, persona)  # off the room's loop
        avatar = RoomAvatar(ctx.room, session, listen_to, rejoin, call)
        await avatar.start()
        self.avatars[room] = avatar
        log.info("%s is in room %r", persona, room)

        async def leave() -> None:  # the worker stops, or the room ends: either ends the other
            self.avatars.pop(room, None)
            await avatar.close()
            log.info("%s left room %r", persona, room)

        ctx.add_shutdown_callback(leave)
        avatar.on_closed = lambda: ctx.shutdown("the avatar left the room")

    async def _over(self, job: str) -> None:
        self.jobs.discard(job)

    async def _one_at_a_time(self, connect):
        """``connect()``, never while another job's room connects: rooms that connect at
        once from two job threads can lose the SDK's connect callback (livekit 1.1.21's
        FFI then ends the process), so this worker's rooms connect in turn."""
        await asyncio.to_thread(self._connecting.acquire)
        try:
            return await connect()
        finally:
            self._connecting.release()


async def serve_rooms(
    settings: LiveKitSettings, config: FiresideConfig, persona: str, listen_to: str | None = None
) -> None:
    """``fireside livekit --persona ID``: the worker, until interrupted."""
    worker = AvatarWorker(settings, config, persona, listen_to)
    print(f"loading the cast, then registering at {settings.url} ...", flush=True)

    async def announce() -> None:
        await worker.registered.wait()
        name = worker.cast.cards[persona].name
        print(
            f"{name} waits for rooms at {settings.url} as agent {AGENT_NAME!r}, "
            f"up to {worker.max_calls} at once (Ctrl-C stops)",
            flush=True,
        )

    announcing = asyncio.ensure_future(announce())
    try:
        await worker.run()
    finally:
        announcing.cancel()
        await worker.close()
