"""The stage view, for the projector (no token: it shows what the room sees).

- ``GET /stage``: the page; ``GET /stage/panel``: who is on the stage, and
  (with LiveKit) the room's URL and a subscribe-only token to watch it;
- ``POST /stage/offer`` with ``{"sdp", "type": "offer"}``: a viewer's WebRTC
  offer, answered ``{"sdp", "type"}``. The viewer receives a video track per
  panelist (in panel order), their voices mixed, and captions on the data
  channel it opens.
"""

from __future__ import annotations

import logging

from aiohttp import web

from stage.transport.bodies import Offer
from stage.transport.http import WEB, RequestError, read_body
from stage.transport.live_show import LiveShow
from stage.transport.offers import Peer, accept_offer
from stage.transport.webrtc import AvatarAudioTrack, AvatarVideoTrack, caption_sender

log = logging.getLogger("fireside.console")


class StageView:
    def __init__(self, live: LiveShow):
        self.live = live

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/stage", self.stage_page)
        app.router.add_get("/stage/panel", self.panel)
        app.router.add_post("/stage/offer", self.offer)

    async def stage_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "stage.html")

    async def panel(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        cards = {pid: s.thinker.card for pid, s in stage.sessions.items()}
        translator = stage.translator
        return web.json_response(
            {
                "title": self.live.show.title,
                "moderator": self.live.show.moderator.name,
                "translation": translator.language if translator else None,
                "panelists": [{"id": pid, "name": c.name, "title": c.title} for pid, c in cards.items()],
                # where to watch through LiveKit, with a subscribe-only token (else: /stage/offer)
                "livekit": self.live.room.viewer() if self.live.room is not None else None,
            }
        )

    async def offer(self, request: web.Request) -> web.Response:
        self.live.live_stage()
        offer = await read_body(request, Offer)
        peer = await accept_offer(offer, self.live.peers, setup=self._captions, prepare=self._tracks)
        log.info("a stage viewer joined (%d connections)", len(self.live.peers))
        return web.json_response(peer.answer())

    def _captions(self, peer: Peer) -> None:
        """The captions go to the data channel the viewer opens, while it is open."""
        viewers = self.live.live_stage().viewers

        @peer.pc.on("datachannel")
        def on_datachannel(channel) -> None:
            send = caption_sender(channel)
            viewers.append(send)
            channel.on("close", lambda: send in viewers and viewers.remove(send))

    def _tracks(self, peer: Peer) -> None:
        """A video track per panelist, and the voices mixed if the viewer receives audio."""
        stage, runtime = self.live.live_stage(), self.live.runtime
        if len(peer.transceivers("video")) < len(stage.sessions):
            raise RequestError(
                400, f"the offer must receive {len(stage.sessions)} videos, one per panelist, in panel order"
            )
        for pid, session in stage.sessions.items():
            peer.pc.addTrack(
                AvatarVideoTrack(
                    clock=stage.now,
                    draw=lambda i, pid=pid: stage.frame(pid, i),
                    fps=session.renderer.fps,
                    runtime=runtime,
                )
            )
        if peer.transceivers("audio"):
            peer.pc.addTrack(AvatarAudioTrack(clock=stage.now, read=lambda start, count: stage.audio(start)))
