"""The call page's calls through LiveKit rooms (``fireside serve --livekit``).

``POST /rooms/call`` with ``{"persona"}`` makes a room for the call, asks for
the persona's avatar in it (a dispatch: one of the ``fireside livekit``
workers takes it, LiveKit picks which) and answers ``{"url", "token", "room",
"avatar", "name"}``. The page joins with the token, publishes its microphone
and shows the avatar's face, voice and captions (stage/transport/web/call.js).

The avatar listens to this caller only and leaves when they hang up, which
ends its job and frees its worker. If its worker stops mid-call, the page sees
the avatar leave and says so; calling again makes a new room, which LiveKit
gives to a worker that is still there.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from stage.session.cast import Cast
from stage.transport.bodies import RoomCall
from stage.transport.http import RequestError, read_body
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings, dispatch


class RoomCalls:
    """Calls as LiveKit rooms, each answered by whichever worker LiveKit picks."""

    def __init__(self, settings: LiveKitSettings, cast: Cast):
        self.settings, self.cast = settings, cast

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/rooms/call", self.call)

    async def call(self, request: web.Request) -> web.Response:
        body = await read_body(request, RoomCall)
        card = self.cast.cards.get(body.persona)
        if card is None:
            raise RequestError(404, f"unknown persona {body.persona!r}; known: {', '.join(self.cast.cards)}")
        room, caller = f"call-{secrets.token_hex(6)}", f"caller-{secrets.token_hex(4)}"
        try:
            await dispatch(self.settings, room, {"persona": card.id, "listen": caller, "call": True})
        except LiveKitError as err:
            raise RequestError(503, str(err)) from None
        return web.json_response(
            {
                "url": self.settings.url,
                "token": self.settings.token(room, caller, "Caller"),
                "room": room,
                "avatar": f"fireside-{card.id}",  # the identity the worker's avatar joins as
                "name": card.name,
            }
        )
