"""The moderator's microphone: their words are captioned as they speak,
and a finished question goes to the panelist it names ("Ada, what do you
..."), to all ("everyone", "panel"), or else to the one selected."""

from __future__ import annotations

import re

import numpy as np
from rapidfuzz import fuzz

from stage.core.config import ListenSettings
from stage.core.events import Transcript, TurnEnded
from stage.core.wire import CaptionMessage
from stage.listen.listener import Listener
from stage.panel.live import Stage
from stage.panel.show import ALL

EVERYONE = ("everyone", "everybody", "panel", "panelists", "all of you", "both of you")
NAME_MATCH = 75  # how alike (0-100) a heard word and a panelist's name must be


class ModeratorEar:
    def __init__(self, stage: Stage, settings: ListenSettings):
        # the recogniser expects the panelists' names, which the moderator says to address them
        names = ", ".join(session.thinker.card.name for session in stage.sessions.values())
        self.stage, self.settings = stage, settings.model_copy(update={"vocabulary": f"{names}."})
        self.id = "moderator"
        self.listener: Listener | None = None
        self.closed = False
        self.name = stage.show.moderator.name

    async def hear(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        if self.closed:
            return
        if self.listener is None:
            self.listener = Listener(
                self.settings,
                sample_rate,
                channels,
                start=self.stage.now(),
                live=True,
                partials=self.stage.runtime.partials,
            )
        runtime = self.stage.runtime
        for event in await runtime.run(runtime.listen, self.listener.feed, samples):
            if isinstance(event, Transcript):
                caption = self.stage.publish(
                    CaptionMessage(
                        panelist="moderator", name=self.name, text=event.text, final=event.final, kind="moderator"
                    )
                )
                if event.final:
                    self.stage.translate(caption)
            elif isinstance(event, TurnEnded):
                to = self.addressee(event.text)
                self.stage.audit.write("moderator", text=event.text, to=to)
                self.stage.ask(event.text, to)

    def addressee(self, text: str) -> str:
        """Who the words are for: a panelist named near their start or end
        (matched loosely: the recogniser may hear "Radi" for "Ravi"), all,
        or else the panelist selected in the console."""
        words = re.findall(r"[\w']+", text.lower())
        near = [w for w in words[:3] + words[-2:] if len(w) >= 3]
        best, score = None, 0.0
        for pid, session in self.stage.sessions.items():
            for name in {pid, session.thinker.card.name.split()[0].lower()}:
                for word in near:
                    ratio = fuzz.ratio(word, name)
                    if ratio > score:
                        best, score = pid, ratio
        if score >= NAME_MATCH:
            return best
        if any(re.search(rf"\b{word}\b", text.lower()) for word in EVERYONE):
            return ALL
        return self.stage.selected

    async def close(self) -> None:
        self.closed = True
