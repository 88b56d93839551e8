"""The moderator's token, as middleware: the console page (``/console``)
and every ``/console/...`` endpoint answer 401 without it. The token goes
in the query (``?token=...``) or in an ``Authorization: Bearer`` header."""

from __future__ import annotations

import hmac

from aiohttp import web

from stage.transport.http import RequestError

PAGE = "/console"
FOR_THE_PAGE = "the console needs the moderator's token: /console?token=..."
FOR_AN_ENDPOINT = "the moderator's token is missing or wrong"


def given_token(request: web.Request) -> str:
    """The token a request carries: its bearer header, else its query."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return request.query.get("token", "")


def carries(request: web.Request, token: str) -> bool:
    """Whether a request carries ``token`` (compared in constant time)."""
    return hmac.compare_digest(given_token(request).encode(), token.encode())


def moderator_only(token: str):
    """Middleware that lets a request reach the console only with ``token``."""

    @web.middleware
    async def guard(request: web.Request, handler):
        paths = _paths(request)
        if any(p == PAGE or p.startswith(PAGE + "/") for p in paths):
            if not carries(request, token):
                raise RequestError(401, FOR_THE_PAGE if PAGE in paths else FOR_AN_ENDPOINT)
        return await handler(request)

    return guard


def _paths(request: web.Request) -> set[str]:
    """The path asked for, and the route it matched (both are checked)."""
    resource = request.match_info.route.resource
    return {request.path} | ({resource.canonical} if resource is not None else set())
