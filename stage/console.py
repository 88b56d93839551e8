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

Every question and decision goes to the audit log first (see stage/panel.py).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import asdict
from pathlib import Path

from aiohttp import web

from stage.config import FiresideConfig
from stage.panel import AuditLog, PanelError, QuestionQueue, RateLimit, TooMany
from stage.show import Show

log = logging.getLogger("fireside.console")

WEB = Path(__file__).parent / "web"
MAX_ASK_BODY = 4 * 1024  # a question and a name, as JSON


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def panel_folder(config: FiresideConfig, show: Show) -> Path:
    """Where a show's audit log lives: ``panel.folder``, else one per show file."""
    if config.panel.folder:
        return Path(config.panel.folder).expanduser()
    name = show.path.stem if show.path else "panel"
    return Path.home() / ".local" / "share" / "fireside" / "panels" / name


class Console:
    """A show on stage: its question queue and audit log, and who may control it."""

    def __init__(self, show: Show, config: FiresideConfig):
        self.show = show
        self.token = config.panel.token or secrets.token_urlsafe(12)
        self.folder = panel_folder(config, show)
        self.log = AuditLog(self.folder / "audit.jsonl")
        self.queue = QuestionQueue(self.log, show.panelists)
        self.limit = RateLimit(config.panel.questions_per_minute, 60.0)
        self.log.write("opened", show=show.title, panelists=show.panelists)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ask", self.ask_page)
        app.router.add_post("/ask", self.ask)
        app.router.add_get("/console", self.console_page)
        app.router.add_get("/console/queue", self.queue_listing)
        app.router.add_post("/console/questions/{qid}", self.change)

    # -- the audience ---------------------------------------------------------------
    async def ask_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "ask.html")

    async def ask(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_ASK_BODY:
            return _error(413, f"a question is at most {MAX_ASK_BODY} bytes of JSON")
        body = await _json(request, MAX_ASK_BODY)
        if isinstance(body, web.Response):
            return body
        client = request.remote or "unknown"
        try:
            self.limit.check(client)
            question = self.queue.submit(body.get("text", ""), body.get("name", ""), client)
        except TooMany as err:
            return _error(429, str(err))
        except PanelError as err:
            return _error(400, str(err))
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
            return _error(401, "the console needs the moderator's token: /console?token=...")
        return web.FileResponse(WEB / "console.html")

    async def queue_listing(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return _error(401, "the moderator's token is missing or wrong")
        return web.json_response({"show": self.show.title, "panelists": self.show.panelists,
                                  "questions": self.queue.listing()})

    async def change(self, request: web.Request) -> web.Response:
        if not self.authorised(request):
            return _error(401, "the moderator's token is missing or wrong")
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
                return _error(400, "'action' is one of approve, reject, edit, assign, move")
        except PanelError as err:
            return _error(404 if str(err).startswith("no question") else 400, str(err))
        except (TypeError, ValueError) as err:
            return _error(400, f"bad value: {err}")
        return web.json_response(asdict(question))


async def _json(request: web.Request, limit: int) -> dict | web.Response:
    """The request's JSON object, or the error to answer with."""
    try:
        raw = await request.content.read(limit + 1)
    except Exception:  # noqa: BLE001 - a client that went away mid-body
        return _error(400, "the body could not be read")
    if len(raw) > limit:
        return _error(413, f"the body is larger than {limit} bytes")
    try:
        import json

        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _error(400, "the body is not UTF-8")
    except ValueError:
        return _error(400, "the body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    return body
