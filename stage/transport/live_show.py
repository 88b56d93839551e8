"""A show being run: what the console's pages and endpoints share (the
show, its question queue and audit log, the stage once it is open, the
moderator's token, and the open connections)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

from stage.core import paths
from stage.core.config import FiresideConfig
from stage.core.runtime import Runtime
from stage.panel.audit import AuditLog
from stage.panel.live import Stage
from stage.panel.queue import QuestionQueue, RateLimit
from stage.panel.running import RunOfShow
from stage.panel.show import Show
from stage.panel.triage import Triage
from stage.think.translation import TranslationError, Translator
from stage.transport.http import RequestError, trusted_networks
from stage.transport.offers import Peers
from stage.transport.rooms.connect import LiveKitSettings
from stage.transport.rooms.panel import StageRoom

log = logging.getLogger("fireside.panel")


def panel_folder(config: FiresideConfig, show: Show) -> Path:
    """Where a show's audit log lives: ``panel.folder``, else one per show file."""
    if config.panel.folder:
        return Path(config.panel.folder).expanduser()
    name = show.path.stem if show.path else "panel"
    return paths.data_dir("panels") / name


class LiveShow:
    """A show, its queue and audit log, who may control it, and its stage."""

    def __init__(self, show: Show, config: FiresideConfig, livekit: LiveKitSettings | None = None):
        self.show, self.config, self.livekit = show, config, livekit
        self.token = config.panel.token or secrets.token_urlsafe(12)
        self.folder = panel_folder(config, show)
        self.log = AuditLog(self.folder / "audit.jsonl")
        self.queue = QuestionQueue(self.log, show.panelists)
        self.limit = RateLimit(config.panel.questions_per_minute, 60.0)
        self.proxies = trusted_networks(config.call.trusted_proxies)  # X-Forwarded-For is read from these
        self.listen_settings = config.listen
        self.log.write("opened", show=show.title, panelists=show.panelists)
        self.stage: Stage | None = None  # the live stage, once the server has made its panelists
        self.triage: Triage | None = None  # what will happen to each question, once the stage is open
        self.running: RunOfShow | None = None  # the segments' times, once the stage is open
        self.peers = Peers()  # stage viewers and the moderator's microphone
        self.room: StageRoom | None = None  # the show's LiveKit room, with ``livekit``
        self._into_english: asyncio.Task | None = None  # the translator of questions asked in Chinese

    def open_stage(self, sessions: dict, runtime: Runtime) -> None:
        self.stage = Stage(
            self.show,
            sessions,
            self.log,
            self.translator([s.thinker.card.name for s in sessions.values()]),
            runtime=runtime,
            seconds=self.config.translation.seconds,
        )
        if self.config.translation.cache and self.config.translation.warm:
            self.stage.translations.warm([text for s in sessions.values() for text in s.thinker.sayable()])
        self.triage = Triage({pid: session.thinker for pid, session in sessions.items()})
        self.running = RunOfShow(self.show, self.stage.clock, self.log)
        if self.livekit is not None:
            name = f"fireside-{self.show.path.stem if self.show.path else 'panel'}"
            self.room = StageRoom(self.livekit, self.stage, name)

    def translator(self, names: list[str]) -> Translator | None:
        """The show's translator of captions, with the panelists' names in its glossary; none
        without a ``translation`` section (or when its model cannot load: English only, said why)."""
        if self.show.translation is None:
            return None
        try:
            return Translator(self.config.translation, self.show.translation.to, self.show.glossary(names))
        except TranslationError as err:
            log.error("captions in English only: %s", err)
            return None

    def english(self) -> asyncio.Task:
        """The translator of questions written in Chinese (the glossary read
        backwards), loading: made once, from the show's opening (in the event loop)."""
        if self._into_english is None:
            glossary = self.show.glossary(list(self.names().values())).reversed()
            settings = self.config.translation
            if settings.backend == "embedded":
                settings = settings.model_copy(update={"model": settings.questions_model})
            self._into_english = asyncio.get_running_loop().create_task(
                asyncio.to_thread(Translator, settings, "en", glossary)
            )
        return self._into_english

    async def into_english(self, text: str) -> str | None:
        """An audience question written in Chinese, in English for the panel;
        None where the model fails (it is queued as written)."""
        try:
            return (await (await self.english()).translate(text)).text
        except TranslationError as err:
            log.warning("a question in Chinese is queued as written: %s", err)
            return None

    def names(self) -> dict[str, str]:
        """Each panelist's display name, by id (the id itself until the stage is open)."""
        sessions = self.stage.sessions if self.stage is not None else {}
        return {pid: sessions[pid].thinker.card.name if pid in sessions else pid for pid in self.show.panelists}

    def live_stage(self) -> Stage:
        """The stage, or a 503 while it is not open."""
        if self.stage is None:
            raise RequestError(503, "the stage is not open yet")
        return self.stage

    def panelist(self, to: str | None, *, everyone: bool = False) -> str:
        """``to`` if it names a panelist (or is ``all``, where ``everyone`` may be asked); else a 400."""
        if to in self.show.panelists or (everyone and to == "all"):
            return to
        raise RequestError(400, f"'to' is one of {', '.join(self.show.panelists)}" + (" or all" if everyone else ""))

    async def close(self) -> None:
        if self.room is not None:
            await self.room.close()
        await self.peers.close_all()
        if self.stage is not None:
            await self.stage.close()
