"""Where the LiveKit server is, its keys, tokens, and joining a room.

``LIVEKIT_URL``, ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` say where and
with what keys, as LiveKit's own tools read them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import aiohttp
from livekit import api, rtc

from stage.core.errors import FiresideError

AGENT_NAME = "fireside"  # the agent a dispatch names to reach a `fireside livekit` worker
CONNECT_SECONDS = 10.0  # for each of the SDK's attempts
# A LiveKit server offers a new room only to workers whose load is below its
# agents.target_load (0.7 unless set), in proportion to the room left under it.
# A Fireside worker's load is its machine's CPU (AvatarWorker.load), and on a
# small machine the avatars' own rendering keeps that above 0.7: the servers
# Fireside starts (bench, tests) take up to 1.0, and the README says when to.
AGENTS_CONFIG = "agents: {target_load: 1.0}"
_why = rtc.DisconnectReason
# the room is over (it was closed, or the participant sent away): not joined again
FINAL = {_why.CLIENT_INITIATED, _why.DUPLICATE_IDENTITY, _why.PARTICIPANT_REMOVED, _why.ROOM_DELETED, _why.ROOM_CLOSED}


class LiveKitError(FiresideError, RuntimeError):
    """The LiveKit server cannot be reached or refuses the keys; the message names the URL."""


@dataclass(frozen=True)
class LiveKitSettings:
    url: str
    key: str
    secret: str

    @classmethod
    def from_env(cls) -> LiveKitSettings:
        missing = [n for n in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET") if not os.environ.get(n)]
        if missing:
            raise LiveKitError(f"set {', '.join(missing)}: where the LiveKit server is, and its key and secret")
        return cls(os.environ["LIVEKIT_URL"], os.environ["LIVEKIT_API_KEY"], os.environ["LIVEKIT_API_SECRET"])

    def token(self, room: str, identity: str, name: str = "", publish: bool = True) -> str:
        """A join token minted with the server's key (``publish=False``: it may only subscribe)."""
        grants = api.VideoGrants(
            room_join=True, room=room, can_publish=publish, can_subscribe=True, can_publish_data=publish
        )
        token = api.AccessToken(self.key, self.secret).with_identity(identity).with_name(name or identity)
        return token.with_grants(grants).to_jwt()


async def dispatch(settings: LiveKitSettings, room: str, metadata: dict | None = None, agent: str = AGENT_NAME) -> None:
    """Ask the server for an agent in ``room`` (made if need be): one of the workers
    registered as ``agent`` takes it; ``metadata`` is the job's (see worker._wanted)."""
    request = api.CreateAgentDispatchRequest(agent_name=agent, room=room, metadata=json.dumps(metadata or {}))
    await _server_api(
        settings, f"dispatch an avatar to room {room!r}", lambda lk: lk.agent_dispatch.create_dispatch(request)
    )


async def close_room(settings: LiveKitSettings, room: str) -> None:
    """End ``room``: everyone in it is sent away (an avatar's job ends with it)."""
    request = api.DeleteRoomRequest(room=room)
    await _server_api(settings, f"close room {room!r}", lambda lk: lk.room.delete_room(request))


async def participants(settings: LiveKitSettings, room: str) -> list[str]:
    """The identities in ``room`` now, as its server counts them."""
    request = api.ListParticipantsRequest(room=room)
    listed = await _server_api(settings, f"list room {room!r}", lambda lk: lk.room.list_participants(request))
    return [p.identity for p in listed.participants]


async def _server_api(settings: LiveKitSettings, doing: str, call):
    url = settings.url.replace("ws", "http", 1)  # the server's API: ws:// -> http://, wss:// -> https://
    try:
        async with api.LiveKitAPI(url, settings.key, settings.secret) as lk:
            return await call(lk)
    except (api.TwirpError, aiohttp.ClientError) as err:
        raise LiveKitError(f"cannot {doing} at {url}: {err}") from None


async def join(settings: LiveKitSettings, room_name: str, identity: str, name: str = "") -> rtc.Room:
    """A connected room, or a :class:`LiveKitError` that names the URL."""
    room = rtc.Room()
    # bounded by the SDK's own timeout per attempt, never by cancelling: a connect
    # cancelled midway leaves the SDK's native side waiting, and it ends the process
    options = rtc.RoomOptions(connect_timeout=CONNECT_SECONDS)
    try:
        await room.connect(settings.url, settings.token(room_name, identity, name), options)
    except rtc.ConnectError as err:
        raise LiveKitError(f"cannot join room {room_name!r} at {settings.url}: {err or 'no answer'}") from None
    return room
