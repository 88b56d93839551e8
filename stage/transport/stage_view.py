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
import secrets

from aiohttp import web
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay

from stage.panel.live import Stage
from stage.transport.bodies import Offer
from stage.transport.http import WEB, RequestError, read_body
from stage.transport.live_show import LiveShow
from stage.transport.offers import Peer, accept_offer
from stage.transport.webrtc import AvatarAudioTrack, AvatarVideoTrack, caption_sender

log = logging.getLogger("fireside.console")


class StageView:
    def __init__(self, live: LiveShow):
        self.live = live
        self.tracks = StageTracks()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/stage", self.stage_page)
        app.router.add_get("/stage/panel", self.panel)
        app.router.add_post("/stage/offer", self.offer)

    async def stage_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "stage.html")

    async def panel(self, request: web.Request) -> web.Response:
        stage = self.live.live_stage()
        cards = {pid: s.thinker.card for pid, s in stage.sessions.items()}
        return web.json_response(
            {
                "title": self.live.show.title,
                "moderator": self.live.show.moderator.name,
                "translation": stage.translations.language,
                # the second lines so far: shown, dropped as late (or failed), and
                # what may be said still to translate ahead
                "translated": {
                    "lines": len(stage.translations.latencies),
                    "dropped": stage.translations.dropped,
                    "unwarmed": stage.translations.unwarmed,
                },
                "panelists": [{"id": pid, "name": c.name, "title": c.title} for pid, c in cards.items()],
                # where to watch through LiveKit, with a subscribe-only token (else: /stage/offer)
                "livekit": self.live.room.viewer() if self.live.room is not None else None,
            }
        )

    async def offer(self, request: web.Request) -> web.Response:
        self.live.live_stage()
        offer = await read_body(request, Offer)
        peer = await accept_offer(
            offer,
            self.live.peers,
            name=f"stage-{secrets.token_hex(4)}",
            setup=self._captions,
            prepare=self._tracks,
            on_close=self._left,
        )
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
        stage = self.live.live_stage()
        if len(peer.transceivers("video")) < len(stage.sessions):
            raise RequestError(
                400, f"the offer must receive {len(stage.sessions)} videos, one per panelist, in panel order"
            )
        for track in self.tracks.subscribe(stage, audio=bool(peer.transceivers("audio"))):
            peer.pc.addTrack(track)

    async def _left(self) -> None:
        if not self.live.peers.count("stage-"):
            self.tracks.stop()


class StageTracks:
    """The stage's faces and mixed voices as aiortc tracks, each read once and
    relayed to every viewer (aiortc's ``MediaRelay``): a hundred viewers cost
    one drawing of each frame. They stop when the last viewer leaves."""

    def __init__(self):
        self.relay = MediaRelay()
        self.faces: list[AvatarVideoTrack] = []
        self.voices: AvatarAudioTrack | None = None

    def subscribe(self, stage: Stage, audio: bool) -> list[MediaStreamTrack]:
        """A viewer's tracks: one per panelist (in panel order), and the voices if ``audio``."""
        if not self.faces:
            self.faces = [AvatarVideoTrack(stage.output(pid)) for pid in stage.sessions]
            self.voices = AvatarAudioTrack(stage.voices())
        tracks = [self.relay.subscribe(face, buffered=False) for face in self.faces]
        return tracks + ([self.relay.subscribe(self.voices, buffered=False)] if audio else [])

    def stop(self) -> None:
        for track in self.faces + ([self.voices] if self.voices else []):
            track.stop()
        self.faces, self.voices = [], None
