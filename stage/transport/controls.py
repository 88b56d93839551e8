"""The moderator's live controls of the stage (each needs the moderator's
token: see stage/transport/auth.py).

- ``POST /console/ask`` (``{"id"}`` of a queued question, or ``{"text"}``,
  and ``"to"``): ask now;
- ``POST /console/stop``: whoever speaks stops;
- ``POST /console/hold`` (``{"to"}``: by default whoever speaks): a holding line;
- ``POST /console/say`` (``{"to", "text"}``): the moderator's words, verbatim;
- ``POST /console/select`` (``{"to"}``): who the moderator's unaddressed words go to;
- ``POST /console/mic``: the moderator's microphone, a WebRTC offer that
  sends audio (answered ``{"sdp", "type"}``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from stage.panel.moderator import ModeratorEar
from stage.panel.queue import PanelError
from stage.think.guardrails import EmptyQuestion, require_question
from stage.transport.audience import MAX_ASK_BODY
from stage.transport.bodies import AskNow, Hold, Offer, Say, Select, Stop
from stage.transport.http import RequestError, read_body
from stage.transport.live_show import LiveShow
from stage.transport.offers import accept_offer, hear_microphone, without_playout_wait

log = logging.getLogger("fireside.console")


class StageControls:
    def __init__(self, live: LiveShow):
        self.live = live

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/console/ask", self.ask_now)
        app.router.add_post("/console/stop", self.stop)
        app.router.add_post("/console/hold", self.hold)
        app.router.add_post("/console/say", self.say)
        app.router.add_post("/console/select", self.select)
        app.router.add_post("/console/mic", self.microphone)

    async def ask_now(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        body = await read_body(request, AskNow, MAX_ASK_BODY)
        try:
            question = self.live.queue.get(body.id) if body.id else None
        except PanelError as err:
            raise RequestError(404, str(err)) from None
        if question is None and body.text is None:
            raise RequestError(400, "ask what? give a queued question's 'id' or a 'text'")
        try:
            text = " ".join(require_question(question.text if question else body.text).split())
        except EmptyQuestion as err:
            raise RequestError(400, str(err)) from None
        to = self.live.panelist(body.to or (question.to if question else None), everyone=True)
        qid = question.id if question else None
        if qid:
            self.live.queue.mark(qid, "asked", to=to)

        def done(outcome: str) -> None:
            if qid:
                self.live.queue.mark(qid, "answered" if outcome == "answered" else "approved", outcome=outcome)

        if question is not None:  # the audience's: shown as theirs
            stage.ask(text, to, qid, done, by="audience", asker=question.name, original=question.original)
        else:
            stage.ask(text, to, by="moderator")
        return web.json_response({"asked": text, "to": to, "id": qid})

    async def stop(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        await read_body(request, Stop, MAX_ASK_BODY)
        stage.stop()
        return web.json_response({"stopped": True})

    async def hold(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        body = await read_body(request, Hold, MAX_ASK_BODY)
        to = self.live.panelist(body.to) if body.to is not None else None
        stage.hold(to)
        return web.json_response({"held": to or stage.speaking})

    async def say(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        body = await read_body(request, Say, MAX_ASK_BODY)
        to = self.live.panelist(body.to)
        try:
            text = " ".join(require_question(body.text).split())
        except EmptyQuestion:
            raise RequestError(400, "there is nothing to say: type the words for the panelist to say") from None
        if len(text) > 600:
            raise RequestError(400, "'text' is 1 to 600 characters")
        stage.say(to, text)
        return web.json_response({"said": text, "to": to})

    async def select(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        body = await read_body(request, Select, MAX_ASK_BODY)
        stage.selected = self.live.panelist(body.to, everyone=True)
        return web.json_response({"selected": stage.selected})

    async def microphone(self, request: web.Request) -> web.Response:
        """The moderator's microphone, from the console's browser."""
        stage = self.live.live_stage()
        offer = await read_body(request, Offer)
        ear = ModeratorEar(stage, self.live.listen_settings)
        peer = await accept_offer(
            offer,
            self.live.peers,
            setup=lambda peer: hear_microphone(peer, ear),
            prepare=without_playout_wait,
            on_close=ear.close,
        )
        log.info("the moderator's microphone is on")
        return web.json_response(peer.answer())
