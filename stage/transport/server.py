"""``fireside serve``: the browser video call (aiohttp + aiortc).

- ``GET /``: the call page; ``GET /personas``: who can be called (JSON);
  ``GET /personas/{id}/still.png``: a persona's face at rest;
  ``GET /status``: the calls under way;
- ``POST /offer`` with ``{"sdp", "type", "persona"}`` answers
  ``{"sdp", "type", "session"}``. Any WebRTC client that speaks this works;
- ``GET /openapi.json``: every endpoint, as an OpenAPI document.

With ``--livekit``, the call page calls through LiveKit rooms instead
(``POST /rooms/call``, stage/transport/rooms/calls.py), answered by
``fireside livekit`` workers; ``GET /status`` says which (``"via"``).

Each call is a :class:`~stage.session.call.CallSession` of its own; a closed or
failed connection frees it (stage/transport/offers.py). Bad requests get a 4xx
JSON error with the reason, and the server and other calls go on. With
``--show``, the moderated panel's pages are served too (stage/transport/console.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

from aiohttp import web

from stage.core.config import FiresideConfig
from stage.session.call import CallSession
from stage.session.cast import Cast
from stage.think.persona import load_personas
from stage.think.translation import Glossary, TranslationError, Translator, language
from stage.transport import openapi
from stage.transport.bodies import CallOffer
from stage.transport.http import (
    MAX_BODY,
    WEB,
    AccessLog,
    RequestError,
    json_errors,
    read_body,
    same_origin,
    security_headers,
)
from stage.transport.offers import Peer, Peers, accept_offer, hear_microphone, without_playout_wait
from stage.transport.webrtc import (
    AvatarAudioTrack,
    AvatarVideoTrack,
    caption_sender,
    notice_lost_peers,
    restrict_ice,
)
from voices.catalog import VoiceCatalog

log = logging.getLogger("fireside.server")


class CallServer:
    """The calls: each a session with a persona of the cast, over aiortc."""

    def __init__(self, config: FiresideConfig, console=None, cast: Cast | None = None, booth=None, livekit=None):
        self.config = config
        self.cast = cast or Cast(config)
        self.rooms = None  # with LiveKit settings, the call page's calls are rooms that workers answer
        if livekit is not None:
            from stage.transport.rooms.calls import RoomCalls

            self.rooms = RoomCalls(livekit, self.cast)
        self.calls = Peers()  # by session id
        self.console = console  # the moderated panel's pages, with a show
        self.booth = booth  # the photo booth's pages (stage/booth/kiosk.py), with --booth
        if console is not None:
            # panelists on stage: sessions that speak and are seen, with no microphone
            console.open_stage(
                {pid: self.cast.session(pid, stage=True) for pid in console.show.panelists}, self.cast.runtime
            )
        if config.call.ice_addresses:
            restrict_ice(config.call.ice_addresses)
        notice_lost_peers()

    def app(self) -> web.Application:
        guards = self.console.middlewares if self.console is not None else []
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[security_headers, json_errors, same_origin, *guards]
        )
        app.router.add_get("/", self.index)
        app.router.add_get("/personas", self.personas)
        app.router.add_get("/personas/{persona}/still.png", self.still)
        app.router.add_get("/languages", self.languages)
        app.router.add_get("/status", self.status)
        app.router.add_post("/offer", self.offer)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_static("/static", WEB)
        for part in (self.console, self.booth, self.rooms):
            if part is not None:
                part.add_routes(app)
        app.on_shutdown.append(self.shutdown)
        app.on_cleanup.append(self.cleanup)
        return app

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi.document(request.app))

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "index.html")

    async def personas(self, request: web.Request) -> web.Response:
        return web.json_response([{"id": c.id, "name": c.name, "title": c.title} for c in self.cast.cards.values()])

    async def still(self, request: web.Request) -> web.Response:
        """The persona's face at rest, as a PNG: what the call page shows before the call."""
        persona = request.match_info["persona"]
        if persona not in self.cast.cards:
            raise RequestError(404, f"unknown persona {persona!r}; known: {', '.join(self.cast.cards)}")
        png = await asyncio.to_thread(self.cast.still, persona)
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "max-age=3600"})

    async def languages(self, request: web.Request) -> web.Response:
        """The caption languages a caller may choose, besides English."""
        return web.json_response(
            [{"tag": tag, "name": language(tag).name} for tag in self.config.translation.languages]
        )

    async def status(self, request: web.Request) -> web.Response:
        via = "livekit" if self.rooms is not None else "webrtc"  # how the call page calls
        return web.json_response({"calls": len(self.calls), "sessions": sorted(self.calls), "via": via})

    async def offer(self, request: web.Request) -> web.Response:
        offer = await read_body(request, CallOffer)
        if offer.persona not in self.cast.cards:
            raise RequestError(404, f"unknown persona {offer.persona!r}; known: {', '.join(self.cast.cards)}")
        if len(self.calls) >= self.config.call.max_calls:
            raise RequestError(
                503, f"the server is at its limit of {self.config.call.max_calls} calls; try again later"
            )
        languages = self.config.translation.languages
        if offer.captions and offer.captions not in languages:
            raise RequestError(400, f"no captions in {offer.captions!r}: use one of {', '.join(languages)}")
        # off the event loop: a persona's first session builds its knowledge, a first translator loads its model
        session = await asyncio.to_thread(self.cast.session, offer.persona)
        if offer.captions:
            translator = await asyncio.to_thread(self._translator, offer.captions, session.thinker.card.name)
            session.translate_captions(translator, self.config.translation.seconds)
        peer = await accept_offer(
            offer,
            self.calls,
            name=session.id,
            setup=lambda peer: self._connect(peer, session),
            prepare=lambda peer: self._answer(peer, session),
            on_close=lambda: self._hang_up(session),
        )
        log.info("call %s with %s (%d calls)", session.id, offer.persona, len(self.calls))
        return web.json_response({**peer.answer(), "session": session.id})

    def _translator(self, to: str, name: str) -> Translator:
        """A call's translator of captions (the persona's name kept as it is written)."""
        try:
            return Translator(self.config.translation, to, Glossary({name: name}))
        except TranslationError as err:
            raise RequestError(503, f"no captions in {to}: {err}") from None

    def _connect(self, peer: Peer, session: CallSession) -> None:
        """The person's microphone to the session, the session's captions to their data channel."""
        hear_microphone(peer, session)

        @peer.pc.on("datachannel")
        def on_datachannel(channel) -> None:
            session.send = caption_sender(channel)

    def _answer(self, peer: Peer, session: CallSession) -> None:
        """The avatar's voice, and its face if the offer receives video."""
        if not peer.transceivers("audio"):
            raise RequestError(
                400, "the offer has no audio: the call needs the microphone (and receives audio and video)"
            )
        without_playout_wait(peer)
        output = session.output
        peer.pc.addTrack(AvatarAudioTrack(output))
        if peer.transceivers("video"):
            peer.pc.addTrack(AvatarVideoTrack(output))

    async def _hang_up(self, session: CallSession) -> None:
        await session.close()
        log.info("call %s ended (%d calls)", session.id, len(self.calls))

    async def shutdown(self, app: web.Application) -> None:
        await self.calls.close_all()

    async def cleanup(self, app: web.Application) -> None:
        self.cast.close()


def serve(
    config: FiresideConfig, host: str, port: int, show_path: Path | None = None, livekit=None, booth=None
) -> None:
    """The call, and with ``show_path`` the panel; with ``livekit`` settings both go
    through LiveKit rooms; with ``booth`` (made from the organiser's token) the photo booth."""
    console = None
    if show_path is not None:
        from stage.panel.show import load_show
        from stage.transport.console import Console

        folder = Path(config.personas.folder) if config.personas.folder else None
        catalog = VoiceCatalog(config.voices.catalog)
        show = load_show(show_path, load_personas(folder, catalog.entries), catalog)
        console = Console(show, config, livekit)
    # the organiser's token: the console's, else the config's, else a new one
    token = console.token if console is not None else config.panel.token or secrets.token_urlsafe(16)
    booth = booth(token) if booth is not None else None
    server = CallServer(config, console, booth=booth, livekit=livekit)
    print("loading voices, avatars and models…", flush=True)
    server.cast.warm()
    print(f"Fireside is live: open http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    if livekit is not None:
        print(
            f"Calls go through LiveKit at {livekit.url}: `fireside livekit --persona ID` workers answer them",
            flush=True,
        )
    if console is not None:
        print(f"The stage (for the projector): http://{host}:{port}/stage", flush=True)
        if console.live.room is not None:
            print(f"The panel publishes into LiveKit room {console.live.room.name!r} at {livekit.url}", flush=True)
        print(f"The audience asks at http://{host}:{port}/ask", flush=True)
        # a token from the config is not printed (nor logged): its owner has it
        token = "<panel.token in your config>" if config.panel.token else console.token
        print(f"The moderator's console: http://{host}:{port}/console?token={token}", flush=True)
        print(f"The audit log: {console.log.path}", flush=True)
    if booth is not None:
        print(f"The photo booth's kiosk: http://{host}:{port}/booth", flush=True)
        shown = "<panel.token in your config>" if config.panel.token else token
        print(f"Its gallery, for the organiser: http://{host}:{port}/booth/gallery?token={shown}", flush=True)
        if host in ("127.0.0.1", "localhost", "::1") and not config.booth.address:
            print("Phones open the keepsakes' QR codes only if served with --host 0.0.0.0", flush=True)
    web.run_app(server.app(), host=host, port=port, print=None, access_log_class=AccessLog)
