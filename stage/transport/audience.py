"""The audience's side of a show: ``GET /ask``, the page, and ``POST /ask``
with ``{"text", "name"}``, which queues a question for the moderator.

The limit (``panel.questions_per_minute``) is per browser: at a venue the
whole audience shares one address behind the Wi-Fi, so the page gives each
browser a signed cookie and counts its questions. A client without one
(a script) is counted by its address; an address is also held to
``PER_ADDRESS`` times the limit, so one machine cannot flood the queue by
dropping its cookie. A question refused for what it is (empty, too long)
does not count. The audit log keeps a salted hash of the address, not the
address, unless ``panel.log_addresses`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from aiohttp import web

from stage.panel.queue import PanelError, QuestionQueue, RateLimit, TooMany
from stage.think.translation import is_chinese
from stage.transport.bodies import AskBody
from stage.transport.http import WEB, RequestError, client_address, read_body
from stage.transport.live_show import LiveShow

log = logging.getLogger("fireside.console")

MAX_ASK_BODY = 4 * 1024  # a question and a name, as JSON
COOKIE = "fireside_asker"  # a browser's id, signed by this server
PER_ADDRESS = 20  # an address may ask this many times a browser's limit (a venue's Wi-Fi is one address)


class AudienceRoutes:
    def __init__(self, live: LiveShow):
        self.live = live
        self.secret = secrets.token_bytes(32)  # signs the cookies and salts the logged addresses
        per_minute = live.config.panel.questions_per_minute
        self.addresses = RateLimit(per_minute * PER_ADDRESS, 60.0)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ask", self.ask_page)
        app.router.add_post("/ask", self.ask)

    async def ask_page(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(WEB / "ask.html")
        if self._asker(request) is None:
            browser = secrets.token_hex(8)
            response.set_cookie(COOKIE, f"{browser}.{self._sign(browser)}", httponly=True, samesite="Strict")
        return response

    async def ask(self, request: web.Request) -> web.Response:
        body = await read_body(request, AskBody, MAX_ASK_BODY)
        try:  # before the limit: a question refused for what it is does not count
            text, name = QuestionQueue.check(body.text, body.name)
        except PanelError as err:
            raise RequestError(400, str(err)) from None
        address = client_address(request, self.live.proxies)
        asker = self._asker(request) or f"address {address}"
        try:
            self.live.limit.check(asker)
            self.addresses.check(address)
        except TooMany as err:
            raise RequestError(429, str(err)) from None
        logged = address if self.live.config.panel.log_addresses else f"hash:{self._sign(address)}"
        original = ""
        if is_chinese(text):  # asked in Chinese: the panel is asked in English, the console shows both
            english = await self.live.into_english(text)
            if english:
                text, original = english, text
        question = self.live.queue.submit(text, name, logged, original=original)
        self.live.limit.took(asker)
        self.addresses.took(address)
        log.info("question %s from %s", question.id, logged)
        return web.json_response({"id": question.id, "status": question.status}, status=201)

    def _sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()[:16]

    def _asker(self, request: web.Request) -> str | None:
        """The browser that asks, from its cookie (None without a cookie this server signed)."""
        browser, _, signature = request.cookies.get(COOKIE, "").partition(".")
        if browser and hmac.compare_digest(signature, self._sign(browser)):
            return f"browser {browser}"
        return None
