"""The moderator's console and question queue (every route here needs the
moderator's token: see stage/transport/auth.py).

- ``GET /console?token=...``: the console page;
- ``GET /console/queue``: the questions, in queue order;
- ``POST /console/questions/{id}`` with ``{"action": "approve" | "reject" |
  "edit" | "assign" | "move", ...}`` changes one;
- ``GET /console/feed?after=N``: what was said and decided since message N
  (the live transcript).
"""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from stage.panel.queue import PanelError, Question
from stage.transport.audience import MAX_ASK_BODY
from stage.transport.bodies import Change
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

    async def console_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "console.html")

    async def queue_listing(self, request: web.Request) -> web.Response:
        show = self.live.show
        return web.json_response(
            {
                "show": show.title,
                "panelists": show.panelists,
                "questions": self.live.queue.listing(),
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

    async def feed(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            raise RequestError(400, "'after' is a message number") from None
        return web.json_response(stage.feed.after(after))
