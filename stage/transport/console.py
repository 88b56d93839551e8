"""The moderated panel's web side (``fireside serve --show SHOW.yaml``):
the audience's page, the moderator's console and the stage view.

- ``GET /ask``, ``POST /ask``: the audience asks (stage/transport/audience.py);
- ``GET /console?token=...``, ``GET /console/queue``, ``POST
  /console/questions/{id}``, ``GET /console/feed?after=N``: the moderator's
  console and question queue (stage/transport/moderator.py);
- ``POST /console/ask``, ``/console/stop``, ``/console/hold``,
  ``/console/say``, ``/console/select``, ``/console/mic``: the moderator's
  live controls (stage/transport/controls.py);
- ``GET /stage``, ``GET /stage/panel``, ``POST /stage/offer``: the stage view
  for the projector (stage/transport/stage_view.py); with LiveKit settings,
  the panelists publish into the show's room and the stage page, and any
  number of viewers, subscribe there (stage/transport/rooms/panel.py).

The console page and every ``/console/...`` endpoint answer 401 without the
moderator's token (printed at start, or ``panel.token`` in the config), in
the query or in an ``Authorization: Bearer`` header (stage/transport/auth.py).
Every question and decision goes to the audit log first (see stage/panel/).
"""

from __future__ import annotations

from aiohttp import web

from stage.core.config import FiresideConfig
from stage.core.runtime import Runtime
from stage.panel.show import Show
from stage.transport.audience import AudienceRoutes
from stage.transport.auth import moderator_only
from stage.transport.controls import StageControls
from stage.transport.live_show import LiveShow
from stage.transport.moderator import ModeratorRoutes
from stage.transport.rooms.connect import LiveKitSettings
from stage.transport.stage_view import StageView


class Console:
    """A show's pages and endpoints, around one :class:`LiveShow`."""

    def __init__(self, show: Show, config: FiresideConfig, livekit: LiveKitSettings | None = None):
        self.live = LiveShow(show, config, livekit)
        self.show, self.token, self.log = show, self.live.token, self.live.log
        self.parts = (
            AudienceRoutes(self.live),
            ModeratorRoutes(self.live),
            StageControls(self.live),
            StageView(self.live),
        )

    @property
    def middlewares(self) -> list:
        """The console's guard, for the app: only the moderator reaches ``/console``."""
        return [moderator_only(self.token)]

    def open_stage(self, sessions: dict, runtime: Runtime) -> None:
        """Put the panelists' sessions on stage, drawn and voiced on ``runtime``'s threads."""
        self.live.open_stage(sessions, runtime)

    def add_routes(self, app: web.Application) -> None:
        for part in self.parts:
            part.add_routes(app)
        app.on_startup.append(self.startup)
        app.on_shutdown.append(self.shutdown)

    async def startup(self, app: web.Application) -> None:
        if self.live.stage is not None:  # translating what the panelists may say, while they wait
            self.live.stage.translations.start()
        if self.live.show.translation is not None:  # questions the audience may write in Chinese
            self.live.english()
        if self.live.room is not None:  # the panelists into the show's LiveKit room
            await self.live.room.open()

    async def shutdown(self, app: web.Application) -> None:
        await self.live.close()
