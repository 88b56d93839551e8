"""The moderator's console and question queue (every route here needs the
moderator's token: see stage/transport/auth.py).

- ``GET /console?token=...``: the console page;
- ``GET /console/queue``: the questions, in queue order, each open one with
  its ``verdict`` (what the guardrail and the panelists' knowledge will do
  with it, and whom to ask: stage/panel/triage.py);
- ``POST /console/questions/{id}`` with ``{"action": "approve" | "reject" |
  "edit" | "assign" | "move", ...}`` changes one;
- ``GET /console/feed?after=N``: what was said and decided since message N
  (the live transcript);
- ``GET /console/show``, ``POST /console/segment`` with ``{"index"}``: the
  run-of-show, each segment's slot against the time it took; a segment
  begins now.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from aiohttp import web

from stage.panel.queue import PanelError, Question
from stage.transport.audience import MAX_ASK_BODY
from stage.transport.bodies import Begin, Change
from stage.transport.http import WEB, RequestError, read_body
from stage.transport.live_show import LiveShow


class ModeratorRoutes:
    def __init__(self, live: LiveShow):
        self.live = live

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/console", self.console_page)
        app.router.add_get("/console/queue", self.queue_listing)
        app.router.add_post("/console/questions/{qid}", self.change)
        app.router.add_get("/console/feed", self.feed)
        app.router.add_get("/console/show", self.run_of_show)
        app.router.add_post("/console/segment", self.begin)

    async def console_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "console.html")

    async def queue_listing(self, request: web.Request) -> web.Response:
        show = self.live.show
        questions = self.live.queue.listing()
        triage = self.live.triage
        if triage is not None:  # each open question with what will happen when it is asked
            for question in questions:
                if question["status"] in ("pending", "approved"):
                    verdict = triage.known(question["text"], question["to"])
                    if verdict is None:  # judged once (retrieval: off the event loop)
                        verdict = await asyncio.to_thread(triage.judge, question["text"], question["to"])
                    question["verdict"] = verdict.wire()
        return web.json_response(
            {
                "show": show.title,
                "panelists": show.panelists,
                "names": self.live.names(),
                "questions": questions,
                "audit": self.live.log.failing,  # why the audit log cannot be written, or null
            }
        )

    async def change(self, request: web.Request) -> web.Response:
        body = await read_body(request, Change, MAX_ASK_BODY)
        try:
            question = self._apply(request.match_info["qid"], body)
        except PanelError as err:
            raise RequestError(404 if str(err).startswith("no question") else 400, str(err)) from None
        except (TypeError, ValueError) as err:
            raise RequestError(400, f"bad value: {err}") from None
        return web.json_response(asdict(question))

    def _apply(self, qid: str, body: Change) -> Question:
        queue = self.live.queue
        if body.action == "approve":
            return queue.approve(qid, body.to)
        if body.action == "reject":
            return queue.reject(qid)
        if body.action == "edit":
            return queue.edit(qid, body.text)
        if body.action == "assign":
            return queue.assign(qid, body.to)
        if body.action == "move":
            return queue.move(qid, body.position)
        raise RequestError(400, "'action' is one of approve, reject, edit, assign, move")

    async def run_of_show(self, request: web.Request) -> web.Response:
        self.live.live_stage()
        return web.json_response(self.live.running.state())

    async def begin(self, request: web.Request) -> web.Response:
        self.live.live_stage()
        body = await read_body(request, Begin, MAX_ASK_BODY)
        try:
            self.live.running.begin(body.index)
        except PanelError as err:
            raise RequestError(400, str(err)) from None
        return web.json_response(self.live.running.state())

    async def feed(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise RequestError(400, "'after' is a message number") from None
        return web.json_response(stage.feed.after(after))
