"""The server's API as an OpenAPI 3.1 document (``GET /openapi.json``): every
route the app has, what it is for, the JSON body it takes (the schema of
its model in stage/transport/bodies.py), whether it needs the moderator's
token, and the errors it answers. ``fireside bench fuzz`` drives the
server from this document."""

from __future__ import annotations

from aiohttp import web

from stage.transport import bodies
from stage.transport.http import Body

# (method, path): what it does, and the body it takes
ENDPOINTS: dict[tuple[str, str], tuple[str, type[Body] | None]] = {
    ("GET", "/"): ("the call page", None),
    ("GET", "/personas"): ("who can be called", None),
    ("GET", "/personas/{persona}/still.png"): ("a persona's face at rest (PNG)", None),
    ("GET", "/languages"): ("the caption languages a caller may choose, besides English", None),
    ("GET", "/status"): ("the calls under way", None),
    ("POST", "/offer"): ("a call: the browser's WebRTC offer, answered", bodies.CallOffer),
    ("POST", "/rooms/call"): ("a call through a LiveKit room (serve --livekit): where, and a token", bodies.RoomCall),
    ("GET", "/openapi.json"): ("this document", None),
    ("GET", "/ask"): ("the audience's page", None),
    ("POST", "/ask"): ("an audience member's question, queued for the moderator", bodies.AskBody),
    ("GET", "/console"): ("the moderator's console", None),
    ("GET", "/console/queue"): ("the question queue", None),
    ("POST", "/console/questions/{qid}"): ("a change to a queued question", bodies.Change),
    ("GET", "/console/feed"): ("what was said and decided since message ?after=N", None),
    ("GET", "/console/show"): ("the run-of-show: each segment's slot, and the time it took so far", None),
    ("POST", "/console/segment"): ("a segment of the run-of-show begins now", bodies.Begin),
    ("POST", "/console/ask"): ("ask a question now", bodies.AskNow),
    ("POST", "/console/stop"): ("stop whoever speaks", bodies.Stop),
    ("POST", "/console/hold"): ("a holding line", bodies.Hold),
    ("POST", "/console/say"): ("the moderator's words, said verbatim by a panelist", bodies.Say),
    ("POST", "/console/select"): ("who unaddressed spoken questions go to", bodies.Select),
    ("POST", "/console/mic"): ("the moderator's microphone: a WebRTC offer", bodies.Offer),
    ("GET", "/stage"): ("the stage view", None),
    ("GET", "/stage/panel"): ("the panel on stage, and where to watch it", None),
    ("POST", "/stage/offer"): ("a stage viewer's WebRTC offer", bodies.Offer),
}
ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def document(app: web.Application) -> dict:
    """The OpenAPI document of the routes ``app`` has (static files aside)."""
    paths: dict[str, dict] = {}
    for method, path in routes(app):
        summary, body = ENDPOINTS.get((method, path), ("", None))
        operation: dict = {"summary": summary, "responses": _responses(method)}
        if path.startswith("/console"):
            operation["security"] = [{"moderator": []}]
        for name in ("qid", "persona"):
            if f"{{{name}}}" in path:
                operation["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]
        if path == "/console/feed":
            operation["parameters"] = [{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}}]
        if body is not None:
            schema = body.model_json_schema()
            operation["requestBody"] = {
                "required": not body.may_be_empty,
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fireside", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"moderator": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR},
        },
    }


def routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) ``app`` answers, static files and HEAD aside."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if route.method in ("HEAD", "*") or "directory" in info:
            continue
        found.append((route.method, route.resource.canonical))
    return found


def _responses(method: str) -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    answers = {"200": {"description": "done"}}
    if method == "POST":
        answers |= {
            "400": {"description": "a bad body", **error},
            "403": {"description": "from another site's page", **error},
            "413": {"description": "a body too large", **error},
        }
    return answers | {"404": {"description": "no such thing", **error}}
