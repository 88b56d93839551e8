"""``fireside serve``: the browser video call (aiohttp + aiortc).

- ``GET /``: the call page; ``GET /personas``: who can be called (JSON);
- ``POST /offer`` with ``{"sdp", "type", "persona"}`` answers
  ``{"sdp", "type", "session"}``. Any WebRTC client that speaks this works.

Each call is a :class:`~stage.session.CallSession` of its own; a closed or
failed connection frees it. Bad requests get a 4xx JSON error with the
reason, and the server and other calls go on.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from pathlib import Path

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from avatar.rigs import load_rig
from stage.config import FiresideConfig
from stage.listen import settings_from
from stage.persona import PersonaCard, load_personas
from stage.session import CallSession
from stage.think import thinker_for
from stage.webrtc import (AvatarAudioTrack, AvatarVideoTrack, caption_sender, consume_microphone,
                          listen_without_delay, restrict_ice)
from voices.catalog import VoiceCatalog
from voices.speech import remembered, speakable_pieces

log = logging.getLogger("fireside.server")

WEB = Path(__file__).parent / "web"
MAX_BODY = 128 * 1024  # an SDP offer is a few kilobytes


def error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"the request body is larger than {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error(exc.status, exc.reason)
        raise


class CallServer:
    def __init__(self, config: FiresideConfig, console=None):
        self.config = config
        folder = Path(config.personas.folder) if config.personas.folder else None
        self.cards: dict[str, PersonaCard] = load_personas(folder)
        self.voices = VoiceCatalog(config.voices.catalog)
        self.calls: dict[str, tuple[RTCPeerConnection, CallSession]] = {}
        self.console = console  # the moderated panel's pages, with a show
        if console is not None:
            # panelists on stage: sessions that speak and are seen, with no microphone
            console.open_stage({pid: self.session_for(pid) for pid in console.show.panelists})
        if config.call.ice_addresses:
            restrict_ice(config.call.ice_addresses)

    def session_for(self, pid: str) -> CallSession:
        """A session with a persona: its thinker, voice and face."""
        card = self.cards[pid]
        return CallSession(card.id, thinker_for(card, self.config), self.voices.engine(card.voice),
                           self.rig(card.avatar), self.config.avatar.fps, settings_from(self.config))

    @lru_cache(maxsize=8)
    def rig(self, spec: str):
        return load_rig(spec, self.config.avatar.size)

    def warm(self) -> None:
        """Load voices, rigs and models, and evaluate each persona's prompt, before the first call."""
        for card in self.cards.values():
            voice = self.voices.engine(card.voice)
            # said often, and where a fast answer matters most: made now, once
            for line in card.holding_lines:
                remembered(voice, line)
            for approved in card.approved_answers:
                for piece in speakable_pieces(approved.answer):  # as the thinker says it
                    remembered(voice, piece)
            self.rig(card.avatar)
            thinker_for(card, self.config).warm()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[json_errors])
        app.router.add_get("/", self.index)
        app.router.add_get("/personas", self.personas)
        app.router.add_get("/status", self.status)
        app.router.add_post("/offer", self.offer)
        app.router.add_static("/static", WEB)
        if self.console is not None:
            self.console.add_routes(app)
        app.on_shutdown.append(self.shutdown)
        return app

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "index.html")

    async def personas(self, request: web.Request) -> web.Response:
        return web.json_response([{"id": c.id, "name": c.name, "title": c.title} for c in self.cards.values()])

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": len(self.calls), "sessions": sorted(self.calls)})

    async def offer(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "the body must be JSON: {\"sdp\", \"type\", \"persona\"}")
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object: {\"sdp\", \"type\", \"persona\"}")
        sdp, kind, persona = body.get("sdp"), body.get("type"), body.get("persona")
        if not isinstance(sdp, str) or not sdp.strip():
            return error(400, "missing 'sdp': the browser's offer")
        if kind != "offer":
            return error(400, "'type' must be 'offer'")
        if persona not in self.cards:
            return error(404, f"unknown persona {persona!r}; known: {', '.join(self.cards)}")
        if len(self.calls) >= self.config.call.max_calls:
            return error(503, f"the server is at its limit of {self.config.call.max_calls} calls; try again later")
        pc = RTCPeerConnection()
        session = self.session_for(persona)
        # handlers first: the offer's tracks are announced while it is applied
        @pc.on("datachannel")
        def on_datachannel(channel) -> None:
            session.send = caption_sender(channel)

        @pc.on("track")
        def on_track(track) -> None:
            if track.kind == "audio":
                asyncio.ensure_future(consume_microphone(track, session))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.hang_up(session.id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # noqa: BLE001 - aiortc's parse errors vary: ValueError, KeyError...
            await pc.close()
            return error(400, f"malformed SDP offer: {type(exc).__name__}: {exc}")
        kinds = {t.kind for t in pc.getTransceivers()}
        if "audio" not in kinds:
            await pc.close()
            return error(400, "the offer has no audio: the call needs the microphone (and receives audio and video)")
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                listen_without_delay(transceiver.receiver)

        pc.addTrack(AvatarAudioTrack(session))
        if "video" in kinds:
            pc.addTrack(AvatarVideoTrack(session))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        self.calls[session.id] = (pc, session)
        log.info("call %s with %s (%d calls)", session.id, persona, len(self.calls))
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type,
                                  "session": session.id})

    async def hang_up(self, session_id: str) -> None:
        call = self.calls.pop(session_id, None)
        if call:
            pc, session = call
            await session.close()
            await pc.close()
            log.info("call %s ended (%d calls)", session_id, len(self.calls))

    async def shutdown(self, app) -> None:
        await asyncio.gather(*(self.hang_up(i) for i in list(self.calls)))


def serve(config: FiresideConfig, host: str, port: int, show_path: Path | None = None) -> None:
    console = None
    if show_path is not None:
        from stage.console import Console
        from stage.show import load_show

        folder = Path(config.personas.folder) if config.personas.folder else None
        console = Console(load_show(show_path, load_personas(folder), VoiceCatalog(config.voices.catalog)), config)
    server = CallServer(config, console)
    print("loading voices, avatars and models…", flush=True)
    server.warm()
    print(f"Fireside is live: open http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    if console is not None:
        print(f"The stage (for the projector): http://{host}:{port}/stage", flush=True)
        print(f"The audience asks at http://{host}:{port}/ask", flush=True)
        print(f"The moderator's console: http://{host}:{port}/console?token={console.token}", flush=True)
        print(f"The audit log: {console.log.path}", flush=True)
    web.run_app(server.app(), host=host, port=port, print=None)
