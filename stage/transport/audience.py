"""The audience's side of a show: ``GET /ask``, the page, and ``POST /ask``
with ``{"text", "name"}``, which queues a question for the moderator.
Length and rate are limited per client (an empty question is refused
first, and does not count), and the page reaches nothing else."""

from __future__ import annotations

import logging

from aiohttp import web

from stage.panel.queue import PanelError, TooMany
from stage.think.guardrails import EmptyQuestion, require_question
from stage.transport.bodies import AskBody
from stage.transport.http import WEB, RequestError, client_address, read_body
from stage.transport.live_show import LiveShow

log = logging.getLogger("fireside.console")

MAX_ASK_BODY = 4 * 1024  # a question and a name, as JSON


class AudienceRoutes:
    def __init__(self, live: LiveShow):
        self.live = live

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ask", self.ask_page)
        app.router.add_post("/ask", self.ask)

    async def ask_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "ask.html")

    async def ask(self, request: web.Request) -> web.Response:
        body = await read_body(request, AskBody, MAX_ASK_BODY)
        client = client_address(request, self.live.proxies)
        try:
            require_question(body.text)  # before the limit: a question that was not sent does not count
        except EmptyQuestion as err:
            raise RequestError(400, str(err)) from None
        try:
            self.live.limit.check(client)
            question = self.live.queue.submit(body.text, body.name, client)
        except TooMany as err:
            raise RequestError(429, str(err)) from None
        except PanelError as err:
            raise RequestError(400, str(err)) from None
        log.info("question %s from %s", question.id, client)
        return web.json_response({"id": question.id, "status": question.status}, status=201)
