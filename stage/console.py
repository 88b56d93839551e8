"""The moderated panel's web side (``fireside serve --show SHOW.yaml``):
the audience's page and the moderator's console.

- ``GET /ask``: the audience's page; ``POST /ask`` with ``{"text", "name"}``
  queues a question. Length and rate are limited per client, and the page
  reaches nothing else.
- ``GET /console?token=...``: the moderator's console. It and every
  ``/console/...`` endpoint answer 401 without the token (printed at start,
  or ``panel.token`` in the config). The token goes in the query, or in an
  ``Authorization: Bearer`` header.
- ``GET /console/queue``: the questions, in queue order;
  ``POST /console/questions/{id}`` with ``{"action": "approve" | "reject" |
  "edit" | "assign" | "move", ...}`` changes one.
- ``POST /console/ask`` (``{"id"}`` of a queued question, or ``{"text"}``,
  and ``"to"``): ask now; ``POST /console/stop``; ``POST /console/hold``
  (``{"to"}``: by default whoever speaks); ``POST /console/say``
  (``{"to", "text"}``: verbatim); ``GET /console/feed?after=N``: what was
  said and decided since message N (the live transcript).
- ``GET /stage``: the stage view for the projector; ``GET /stage/panel``
  who is on it; ``POST /stage/offer``: a viewer's WebRTC offer (it receives
  a video track per panelist, their voices mixed, and captions on the data
  channel it opens).

Every question and decision goes to the audit log first (see stage/panel.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from stage.config import FiresideConfig
from stage.panel import AuditLog, PanelError, QuestionQueue, RateLimit, TooMany
from stage.server import WEB, error
from stage.show import Show

log = logging.getLogger("fireside.console")

MAX_ASK_BODY = 4 * 1024  # a question and a name, as JSON


def panel_folder(config: FiresideConfig, show: Show) -> Path:
    """Where a show's audit log lives: ``panel.folder``, else one per show file."""
    if config.panel.folder:
        return Path(config.panel.folder).expanduser()
    name = show.path.stem if show.path else "panel"
    return Path.home() / ".local" / "share" / "fireside" / "panels" / name


class _StageControls:
    """Asking, stopping, holding and saying: the console's live controls."""

    async def ask_now(self, request: web.Request) -> web.Response:
        body = await self._control(request)
        if isinstance(body, web.Response):
            return body
        to = body.get("to")
        try:
            question = self.queue.get(body["id"]) if body.get("id") else None
        except PanelError as err:
            return error(404, str(err))
        text = " ".join(str(question.text if question else body.get("text", "")).split())
        to = to or (question.to if question else None)
        if not text:
            return error(400, "ask what? give a queued question's 'id' or a 'text'")
        if to != "all" and to not in self.show.panelists:
            return error(400, f"'to' is one of {', '.join(self.show.panelists)} or all")
        qid = question.id if question else None
        if qid:
            self.queue.mark(qid, "asked", to=to)

        def done(outcome: str) -> None:
            if qid:
                self.queue.mark(qid, "answered" if outcome == "answered" else "approved", outcome=outcome)

        self.stage.ask(text, to, qid, done)
        return web.json_response({"asked": text, "to": to, "id": qid})

    async def stop(self, request: web.Request) -> web.Response:
        body = await self._control(request, empty_ok=True)
        if isinstance(body, web.Response):
            return body
        self.stage.stop()
        return web.json_response({"stopped": True})

    async def hold(self, request: web.Request) -> web.Response:
        body = await self._control(request, empty_ok=True)
        if isinstance(body, web.Response):
            return body
        to = body.get("to")
        if to is not None and to not in self.show.panelists:
            return error(400, f"'to' is one of {', '.join(self.show.panelists)}")
        self.stage.hold(to)
        return web.json_response({"held": to or self.stage.speaking})

    async def say(self, request: web.Request) -> web.Response:
        body = await self._control(request)
        if isinstance(body, web.Response):
            return body
        to, text = body.get("to"), " ".join(str(body.get("text", "")).split())
        if to not in self.show.panelists:
            return error(400, f"'to' is one of {', '.join(self.show.panelists)}")
        if not text or len(text) > 600:
            return error(400, "'text' is 1 to 600 characters")
        self.stage.say(to, text)
        return web.json_response({"said": text, "to": to})

    async def select(self, request: web.Request) -> web.Response:
        body = await self._control(request)
        if isinstance(body, web.Response):
            return body
        if body.get("to") != "all" and body.get("to") not in self.show.panelists:
            return error(400, f"'to' is one of {', '.join(self.show.panelists)} or all")
        self.stage.selected = body["to"]
        return web.json_response({"selected": self.stage.selected})

    async def microphone(self, request: web.Request) -> web.Response:
        """The moderator's microphone, from the console's browser (a WebRTC offer that sends audio)."""
        from stage.onstage import ModeratorEar
        from stage.webrtc import consume_microphone, listen_without_delay

        body = await self._control(request)
        if isinstance(body, web.Response):
            return body
        ear = ModeratorEar(self.stage, self.listen_settings)

        def setup(pc) -> None:
            @pc.on("track")
            def on_track(track) -> None:
                if track.kind == "audio":
                    asyncio.ensure_future(consume_microphone(track, ear))

        pc = await self._accept_offer(body, setup, on_close=ear.close)
        if isinstance(pc, web.Response):
            return pc
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                listen_without_delay(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        log.info("the moderator's microphone is on")
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    async def feed(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return error(401, "the moderator's token is missing or wrong")
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return error(400, "'after' is a message number")
        return web.json_response([m for m in self.stage.feed if m["seq"] > after])

    async def _control(self, request: web.Request, empty_ok: bool = False) -> dict | web.Response:
        if not self.authorised(request):
            return error(401, "the moderator's token is missing or wrong")
        if self.stage is None:
            return error(503, "the stage is not open yet")
        if empty_ok and not (request.content_length or 0):
            return {}
        return await _json(request, MAX_ASK_BODY)

    # -- the stage view ------------------------------------------------------------------------
    async def stage_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "stage.html")

    async def panel(self, request: web.Request) -> web.Response:
        cards = {pid: s.thinker.card for pid, s in self.stage.sessions.items()}
        translator = self.stage.translator
        return web.json_response({"title": self.show.title, "moderator": self.show.moderator.name,
                                  "translation": translator.language if translator else None,
                                  "panelists": [{"id": pid, "name": c.name, "title": c.title}
                                                for pid, c in cards.items()]})

    async def stage_offer(self, request: web.Request) -> web.Response:
        from stage.webrtc import AvatarAudioTrack, AvatarVideoTrack, caption_sender

        body = await _json(request, 128 * 1024)
        if isinstance(body, web.Response):
            return body
        stage = self.stage

        def setup(pc) -> None:
            @pc.on("datachannel")
            def on_datachannel(channel) -> None:
                send = caption_sender(channel)
                stage.viewers.append(send)
                channel.on("close", lambda: send in stage.viewers and stage.viewers.remove(send))

        pc = await self._accept_offer(body, setup)
        if isinstance(pc, web.Response):
            return pc
        videos = [t for t in pc.getTransceivers() if t.kind == "video"]
        if len(videos) < len(stage.sessions):
            await pc.close()
            return error(400, f"the offer must receive {len(stage.sessions)} videos, one per panelist, in panel order")
        for pid, session in stage.sessions.items():
            pc.addTrack(AvatarVideoTrack(clock=stage.now, draw=lambda i, pid=pid: stage.frame(pid, i),
                                         fps=session.renderer.fps))
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(AvatarAudioTrack(clock=stage.now, read=lambda start, count: stage.audio(start)))
        await pc.setLocalDescription(await pc.createAnswer())
        log.info("a stage viewer joined (%d connections)", len(self.viewers))
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    async def _accept_offer(self, body: dict, setup, on_close=None):
        """A peer connection for a WebRTC offer, or the error to answer with.
        ``setup(pc)`` adds its handlers first (the offer's tracks are announced
        while it is applied); a closed or failed connection is freed."""
        from aiortc import RTCPeerConnection, RTCSessionDescription

        if not isinstance(body.get("sdp"), str) or body.get("type") != "offer":
            return error(400, "the body is a WebRTC offer: {\"sdp\", \"type\": \"offer\"}")
        pc = RTCPeerConnection()
        key = id(pc)
        setup(pc)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.viewers.pop(key, None)
                if on_close is not None:
                    await on_close()
                await pc.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="offer"))
        except Exception as exc:  # noqa: BLE001 - aiortc's parse errors vary
            await pc.close()
            return error(400, f"malformed SDP offer: {type(exc).__name__}: {exc}")
        self.viewers[key] = pc
        return pc

    async def shutdown(self, app) -> None:
        for pc in list(self.viewers.values()):
            await pc.close()
        if self.stage is not None:
            await self.stage.close()


class Console(_StageControls):
    """A show on stage: its question queue and audit log, and who may control it."""

    def __init__(self, show: Show, config: FiresideConfig):
        self.show, self.config = show, config
        self.token = config.panel.token or secrets.token_urlsafe(12)
        self.folder = panel_folder(config, show)
        self.log = AuditLog(self.folder / "audit.jsonl")
        self.queue = QuestionQueue(self.log, show.panelists)
        self.limit = RateLimit(config.panel.questions_per_minute, 60.0)
        from stage.listen import settings_from

        self.listen_settings = settings_from(config)
        self.log.write("opened", show=show.title, panelists=show.panelists)

        self.stage = None  # the live stage, once the server has made its panelists
        self.viewers: dict[int, object] = {}  # peer connections: stage viewers, the moderator's microphone

    def open_stage(self, sessions: dict) -> None:
        from stage.onstage import Stage, Translator

        translation = self.config.panel.translation
        self.stage = Stage(self.show, sessions, self.log, Translator(translation) if translation else None)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ask", self.ask_page)
        app.router.add_post("/ask", self.ask)
        app.router.add_get("/console", self.console_page)
        app.router.add_get("/console/queue", self.queue_listing)
        app.router.add_post("/console/questions/{qid}", self.change)
        app.router.add_post("/console/ask", self.ask_now)
        app.router.add_post("/console/stop", self.stop)
        app.router.add_post("/console/hold", self.hold)
        app.router.add_post("/console/say", self.say)
        app.router.add_get("/console/feed", self.feed)
        app.router.add_post("/console/select", self.select)
        app.router.add_post("/console/mic", self.microphone)
        app.router.add_get("/stage", self.stage_page)
        app.router.add_get("/stage/panel", self.panel)
        app.router.add_post("/stage/offer", self.stage_offer)
        app.on_shutdown.append(self.shutdown)

    # -- the audience ---------------------------------------------------------------
    async def ask_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "ask.html")

    async def ask(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_ASK_BODY:
            return error(413, f"a question is at most {MAX_ASK_BODY} bytes of JSON")
        body = await _json(request, MAX_ASK_BODY)
        if isinstance(body, web.Response):
            return body
        client = request.remote or "unknown"
        try:
            self.limit.check(client)
            question = self.queue.submit(body.get("text", ""), body.get("name", ""), client)
        except TooMany as err:
            return error(429, str(err))
        except PanelError as err:
            return error(400, str(err))
        log.info("question %s from %s", question.id, client)
        return web.json_response({"id": question.id, "status": question.status}, status=201)

    # -- the moderator ------------------------------------------------------------------
    def authorised(self, request: web.Request) -> bool:
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def console_page(self, request: web.Request) -> web.StreamResponse:
        if not self.authorised(request):
            return error(401, "the console needs the moderator's token: /console?token=...")
        return web.FileResponse(WEB / "console.html")

    async def queue_listing(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return error(401, "the moderator's token is missing or wrong")
        return web.json_response({"show": self.show.title, "panelists": self.show.panelists,
                                  "questions": self.queue.listing()})

    async def change(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return error(401, "the moderator's token is missing or wrong")
        body = await _json(request, MAX_ASK_BODY)
        if isinstance(body, web.Response):
            return body
        qid, action = request.match_info["qid"], body.get("action")
        try:
            if action == "approve":
                question = self.queue.approve(qid, body.get("to"))
            elif action == "reject":
                question = self.queue.reject(qid)
            elif action == "edit":
                question = self.queue.edit(qid, body.get("text", ""))
            elif action == "assign":
                question = self.queue.assign(qid, body.get("to"))
            elif action == "move":
                question = self.queue.move(qid, int(body.get("position", 0)))
            else:
                return error(400, "'action' is one of approve, reject, edit, assign, move")
        except PanelError as err:
            return error(404 if str(err).startswith("no question") else 400, str(err))
        except (TypeError, ValueError) as err:
            return error(400, f"bad value: {err}")
        return web.json_response(asdict(question))


async def _json(request: web.Request, limit: int) -> dict | web.Response:
    """The request's JSON object, or the error to answer with."""
    try:
        raw = await request.content.read(limit + 1)
    except Exception:  # noqa: BLE001 - a client that went away mid-body
        return error(400, "the body could not be read")
    if len(raw) > limit:
        return error(413, f"the body is larger than {limit} bytes")
    try:
        import json

        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return error(400, "the body is not UTF-8")
    except ValueError:
        return error(400, "the body must be JSON")
    if not isinstance(body, dict):
        return error(400, "the body must be a JSON object")
    return body
