"""The JSON bodies the endpoints take, as models (read by
:func:`stage.transport.http.read_body`). Whether a value fits the show (a
panelist's id, a question's) is the endpoint's to say."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from stage.transport.http import Body


class Offer(Body):
    """A WebRTC offer: a stage viewer's, or the moderator's microphone."""

    shape = '{"sdp", "type": "offer"}'
    reasons = {"sdp": "missing 'sdp': the browser's offer", "type": "'type' must be 'offer'"}
    sdp: str
    type: Literal["offer"]

    @field_validator("sdp")
    @classmethod
    def _not_blank(cls, sdp: str) -> str:
        if not sdp.strip():
            raise ValueError("the offer is blank")
        return sdp


class CallOffer(Offer):
    """A call's offer, with the persona it calls and the captions' second language, if any."""

    shape = '{"sdp", "type", "persona", "captions"}'
    persona: str | None = None
    captions: str | None = None  # a language of the config's translation.languages; none: English only


class AskBody(Body):
    """An audience member's question (``POST /ask``)."""

    shape = '{"text", "name"}'
    text: str = ""
    name: str | None = ""


class AskNow(Body):
    """Ask now: a queued question's ``id``, or a ``text``; ``to`` a panelist or all."""

    shape = '{"id"} or {"text", "to"}'
    id: str | None = None
    text: str | None = None
    to: str | None = None


class Stop(Body):
    """Stop whoever speaks: nothing to say."""

    shape = "{}"
    may_be_empty = True


class Hold(Body):
    """A holding line from ``to`` (by default whoever speaks)."""

    shape = '{"to"}'
    may_be_empty = True
    to: str | None = None


class Say(Body):
    """The moderator's words, verbatim, from the panelist ``to``."""

    shape = '{"to", "text"}'
    to: str | None = None
    text: str = ""


class Select(Body):
    """Who the moderator's unaddressed words go to."""

    shape = '{"to"}'
    to: str | None = None


class Begin(Body):
    """The moderator moves the run-of-show on: segment ``index`` begins now."""

    shape = '{"index"}'
    index: int


class Change(Body):
    """A change to a queued question: ``action`` and what it needs."""

    shape = '{"action": "approve" | "reject" | "edit" | "assign" | "move", ...}'
    action: str | None = None
    to: str | None = None
    text: str = ""
    position: int = 0


class RoomCall(Body):
    """A call through a LiveKit room (``POST /rooms/call``): the persona it calls."""

    shape = '{"persona"}'
    reasons = {"persona": "missing 'persona': who is called"}
    persona: str
