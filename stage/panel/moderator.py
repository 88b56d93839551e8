"""The moderator's microphone: their words are captioned as they speak,
and a finished question goes to the panelist it names ("Ada, what do you
..."), to all ("everyone", "panel"), or else to the one selected."""

from __future__ import annotations

import numpy as np

from stage.core.config import ListenSettings
from stage.core.events import Transcript, TurnEnded
from stage.core.wire import CaptionMessage
from stage.listen.listener import Listener
from stage.panel.address import addressee
from stage.panel.live import Stage


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
                self.stage.ask(event.text, to, by="microphone", said_until=event.end)

    def addressee(self, text: str) -> str:
        """Who the words are for: a panelist they name, all, or else the panelist selected in the console."""
        names = {pid: session.thinker.card.name for pid, session in self.stage.sessions.items()}
        return addressee(text, names) or self.stage.selected

    async def close(self) -> None:
        self.closed = True
