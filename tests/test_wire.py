"""The wire format: the messages pages read are defined once, documented,
and the pages read no field they do not have."""

import re
import typing
from pathlib import Path

import pytest
from pydantic import ValidationError

from stage.core.clock import Clock
from stage.core.wire import AskedMessage, CaptionMessage, StoppedMessage, WireMessage, read_message
from stage.panel.feed import Feed

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "stage" / "transport" / "web"
MODELS = typing.get_args(typing.get_args(WireMessage)[0])


def test_every_message_type_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Messages") : readme.index("## Rehearsal")]
    for model in MODELS:
        kind = model.model_fields["type"].default
        assert f"| `{kind}` |" in table, kind
        for name in set(model.model_fields) - {"type", "panelist", "name", "seq", "at"}:
            assert f"`{name}`" in table, (kind, name)


def test_the_pages_read_only_fields_the_messages_have():
    fields = {name for model in MODELS for name in model.model_fields}
    read = set()
    for page in [*PAGES.glob("*.js"), *PAGES.glob("*.html")]:
        read |= set(re.findall(r"\b(?:m|message)\.([a-z_]+)\b", page.read_text()))
    assert read and read <= fields, read - fields


def test_a_message_goes_out_as_json_and_comes_back_the_same():
    caption = CaptionMessage(
        speaker="ada",
        text="Open banking lets you share data.",
        sources=["open_banking.md"],
        kind="extractive",
        answer=1,
        start=1.25,
        end=3.5,
    )
    assert read_message(caption.wire()) == caption
    assert caption.wire()["type"] == "caption" and "panelist" not in caption.wire()  # no value, not sent
    assert isinstance(read_message('{"type": "stopped", "at": 2.5}'), StoppedMessage)
    with pytest.raises(ValidationError):
        read_message({"type": "caption"})  # a caption has words
    with pytest.raises(ValidationError):
        read_message({"type": "shout", "text": "hi"})


def test_the_stage_feed_numbers_and_times_each_message_on_its_clock():
    feed, seen = Feed(Clock()), []
    feed.viewers.append(seen.append)
    feed.viewers.append(lambda message: 1 / 0)  # a broken viewer does not stop the others
    first = feed.publish(AskedMessage(question="How do banks detect fraud?", to="all"))
    feed.publish(StoppedMessage(), viewers=False)
    assert [m.seq for m in seen] == [1] and first.at is not None and first.at >= 0
    assert [m["seq"] for m in feed.after(0)] == [1, 2] and [m["type"] for m in feed.after(1)] == ["stopped"]
