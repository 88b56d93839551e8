"""What every page and endpoint shares: the pages' folder, request bodies
read into models, and errors as JSON.

A handler that cannot serve a request raises :class:`RequestError`; the
:func:`json_errors` middleware answers it, and aiohttp's own 4xx errors, as
``{"error": reason}`` with the status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

WEB = Path(__file__).parent / "web"
MAX_BODY = 128 * 1024  # an SDP offer is a few kilobytes


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
