"""What every page and endpoint shares: the pages' folder, request bodies
read into models, errors as JSON, the security headers and who the client is.

A handler that cannot serve a request raises :class:`RequestError`; the
:func:`json_errors` middleware answers it, and aiohttp's own 4xx errors, as
``{"error": reason}`` with the status.

Every response carries a Content-Security-Policy that runs scripts from
``/static`` only, never inline ones (:func:`security_headers`); a POST from
another site's page is refused (:func:`same_origin`). A client is
its connection's address; ``X-Forwarded-For`` is read only when that
address is a configured trusted proxy (:func:`client_address`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import ClassVar, TypeVar

from aiohttp import web
from aiohttp.web_log import AccessLogger
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

WEB = Path(__file__).parent / "web"
MAX_BODY = 128 * 1024  # an SDP offer is a few kilobytes


# scripts and styles from this server's files only (no inline script, no
# eval); media and connections also to LiveKit's server, wherever it is
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss: http: https:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the console's URL carries its token
}


class RequestError(Exception):
    """A request that cannot be served: answered with ``status`` and ``{"error": reason}``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except RequestError as err:
        return error(err.status, err.reason)
    except web.HTTPRequestEntityTooLarge:
        return error(413, f"the request body is larger than {MAX_BODY} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error(exc.status, exc.reason)
        raise


@web.middleware
async def security_headers(request: web.Request, handler):
    """Every answer, errors too, with :data:`HEADERS`."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


@web.middleware
async def same_origin(request: web.Request, handler):
    """A POST that a browser sends from another site's page is refused (403):
    its ``Origin`` (or ``Sec-Fetch-Site``) must be this server. Clients that
    are not browsers send neither, and are judged by the rest (the
    moderator's token, the body). Behind a proxy, the proxy keeps ``Host``."""
    if request.method == "POST":
        origin = request.headers.get("Origin")
        foreign = origin is not None and _host_of(origin) != request.host
        if foreign or request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise RequestError(403, "a request from another site's page is refused")
    return await handler(request)


def _host_of(origin: str) -> str | None:
    """The host (and port) an ``Origin`` names; None for "null" or a malformed one."""
    try:
        return URL(origin).host_port_subcomponent
    except ValueError:
        return None


class AccessLog(AccessLogger):
    """aiohttp's access log, with any token in a logged URL (the request's,
    the Referer) hidden (``/console?token=...`` opens the console), and the
    pages' polls left out unless they fail."""

    SECRET = re.compile(r"([?&]token=)[^&\s\"]*")
    POLLED = ("/console/feed", "/console/queue", "/console/show", "/stage/panel")  # every second or two

    def log(self, request, response, time):
        """Every request, but the pages' polls only when they fail: a line a second per console is noise."""
        if request.path in self.POLLED and response.status < 400:
            return
        super().log(request, response, time)

    def _format_line(self, request, response, time):
        line = super()._format_line(request, response, time)
        return [(key, self.SECRET.sub(r"\1[hidden]", v) if isinstance(v, str) else v) for key, v in line]


def client_address(request: web.Request, trusted: list) -> str:
    """Who sent ``request``: the connection's address or, when that is one of
    the ``trusted`` proxies (addresses or networks), the last address in
    ``X-Forwarded-For`` that is not one of them."""
    peer = request.remote or "unknown"
    if not trusted or not _within(peer, trusted):
        return peer  # a client's own X-Forwarded-For is not believed
    hops = [h.strip() for line in request.headers.getall("X-Forwarded-For", []) for h in line.split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _within(hop, trusted):
            return hop if _address(hop) is not None else peer
    return peer


def trusted_networks(proxies: list[str]) -> list:
    return [ipaddress.ip_network(p, strict=False) for p in proxies]


def _address(text: str):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _within(text: str, networks: list) -> bool:
    address = _address(text)
    return address is not None and any(address in n for n in networks)


class Body(BaseModel):
    """A request's JSON body. ``shape`` shows its fields in an error;
    ``reasons`` says, field by field, what a bad value is told; a body that
    ``may_be_empty`` can be left out altogether."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    shape: ClassVar[str] = "{...}"
    reasons: ClassVar[dict[str, str]] = {}
    may_be_empty: ClassVar[bool] = False

    @classmethod
    def reason(cls, err: ValidationError) -> str:
        """What the client is told of the first bad field."""
        first = err.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        return cls.reasons.get(field) or f"'{field}': {first['msg']}"


B = TypeVar("B", bound=Body)


async def read_body(request: web.Request, model: type[B], limit: int = MAX_BODY) -> B:
    """The request's JSON object as a ``model``; anything else raises a :class:`RequestError`."""
    if (request.content_length or 0) > limit:
        raise RequestError(413, f"the body is larger than {limit} bytes")
    if model.may_be_empty and not request.content_length:
        return model()
    raw = await _read(request, limit)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "the body is not UTF-8") from None
    except ValueError:
        raise RequestError(400, f"the body must be JSON: {model.shape}") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"the body must be a JSON object: {model.shape}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise RequestError(400, model.reason(err)) from None


async def _read(request: web.Request, limit: int) -> bytes:
    """The body, up to ``limit`` bytes, however it arrives (with or without a length)."""
    raw = bytearray()
    try:
        while len(raw) <= limit:
            chunk = await request.content.read(limit + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    except Exception:  # noqa: BLE001 - a client that went away mid-body
        raise RequestError(400, "the body could not be read") from None
    if len(raw) > limit:
        raise RequestError(413, f"the body is larger than {limit} bytes")
    return bytes(raw)
