"""The booth's pages and endpoints, on the call server (``fireside serve --booth``):

- ``GET /booth``: the kiosk page; ``GET /booth/setup?name=``: the title, the
  lines offered (filled in), the voices and how long keepsakes are kept;
- ``POST /booth/keepsakes`` (multipart: ``photo``, ``line``, ``voice``,
  ``name``, ``consent=yes``): a keepsake made, 201 with its ``token`` and its
  page; a photo that cannot be one, 422 with the reason, nothing stored;
  503 when too many are waiting; ``kiosk``, a name the kiosk gives itself,
  lets it ask ``GET /booth/queue?kiosk=`` how many keepsakes are ahead of its
  own while it waits;
- ``GET /booth/k/TOKEN``: the attendee's page (their phone, from the QR code),
  with ``/about``, ``/keepsake.mp4``, ``/keepsake.png`` and ``/qr.svg``;
  ``POST /booth/k/TOKEN/delete``: deleted at their request;
- ``GET /booth/gallery`` (the organiser's token): every keepsake kept;
  ``POST /booth/gallery/TOKEN/delete``.

Keepsakes are made one at a time on a thread of their own at a low
priority (a panel's voice and frames come first), and expire after
``booth.keep_hours``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import segno
from aiohttp import BodyPartReader, web

from stage.booth.keepsake import KeepsakeError, make_keepsake, offered
from stage.booth.photo import MAX_BYTES, PhotoError
from stage.booth.store import CARD, VIDEO, Keepsakes
from stage.core.config import FiresideConfig
from stage.session.cast import Cast
from stage.transport.auth import carries
from stage.transport.http import WEB, RequestError

log = logging.getLogger("fireside.booth")
NICE = 10  # below the live voice, frames and listening
MOST_WAITING = 4  # keepsakes queued before a kiosk is asked to wait
EXPIRE_EVERY = 60.0  # seconds between sweeps of expired keepsakes


class Booth:
    def __init__(self, config: FiresideConfig, token: str, store: Keepsakes | None = None):
        self.config, self.settings, self.token = config, config.booth, token
        self.store = store or Keepsakes(
            self.settings.folder and os.path.expanduser(self.settings.folder), self.settings.keep_hours
        )
        self.queue: list[str] = []  # the kiosks whose keepsakes are asked for and not yet made, in order
        self._cast: Cast | None = None  # the booth's own voices, loaded on its thread
        self._maker = ThreadPoolExecutor(1, "booth", initializer=_low_priority)
        self._sweeper: asyncio.Task | None = None

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/booth", self.page)
        r.add_get("/booth/setup", self.setup)
        r.add_post("/booth/keepsakes", self.make)
        r.add_get("/booth/queue", self.place)
        r.add_get("/booth/k/{token}", self.taken_page)
        r.add_get("/booth/k/{token}/about", self.about)
        r.add_get("/booth/k/{token}/qr.svg", self.qr)
        r.add_get(f"/booth/k/{{token}}/{{file:{VIDEO}|{CARD}}}", self.file)
        r.add_post("/booth/k/{token}/delete", self.delete)
        r.add_get("/booth/gallery", self.gallery)
        r.add_post("/booth/gallery/{token}/delete", self.organiser_delete)
        app.on_startup.append(self.startup)
        app.on_shutdown.append(self.shutdown)

    async def startup(self, app: web.Application) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def shutdown(self, app: web.Application) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._maker.shutdown(wait=False, cancel_futures=True)

    async def _sweep(self) -> None:
        while True:
            gone = await asyncio.to_thread(self.store.expire)
            if gone:
                log.info("%d keepsake(s) deleted: kept %g hours", gone, self.settings.keep_hours)
            await asyncio.sleep(EXPIRE_EVERY)

    # the kiosk

    async def page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "booth.html")

    async def setup(self, request: web.Request) -> web.Response:
        name = request.query.get("name", "")
        return web.json_response(
            {
                "title": self.settings.title,
                "lines": offered(self.settings, name),
                "voices": self.settings.voices,
                "keep_hours": self.settings.keep_hours,
                "waiting": len(self.queue),
            }
        )

    async def place(self, request: web.Request) -> web.Response:
        """How many keepsakes are ahead of a kiosk's own (0 once it is being made, or made)."""
        kiosk = request.query.get("kiosk", "")
        ahead = self.queue.index(kiosk) if kiosk in self.queue else 0
        return web.json_response({"ahead": ahead, "waiting": len(self.queue)})

    async def make(self, request: web.Request) -> web.Response:
        fields, photo = await _form(request)
        if fields.get("consent") != "yes":
            raise RequestError(400, "tick the box to agree to your photo being animated first")
        lines = offered(self.settings, fields.get("name", ""))
        try:
            line = lines[int(fields.get("line", "0"))]
        except (ValueError, IndexError):
            raise RequestError(400, f"choose one of the {len(lines)} lines") from None
        if len(self.queue) >= MOST_WAITING:
            raise RequestError(503, f"the booth is busy making {len(self.queue)} keepsakes: try again in a minute")
        token, video = self.store.new()
        kiosk = (fields.get("kiosk") or token)[:64]
        self.queue.append(kiosk)  # the maker's one thread takes them in this order
        try:
            made = await asyncio.get_running_loop().run_in_executor(
                self._maker,
                lambda: make_keepsake(
                    photo, line, video, self._booth_cast(), self.settings, fields.get("name", ""), fields.get("voice")
                ),
            )
        except (PhotoError, KeepsakeError) as err:
            self.store.delete(token)
            raise RequestError(422, str(err)) from None
        except BaseException:
            self.store.delete(token)
            raise
        finally:
            self.queue.remove(kiosk)
        kept = self.store.keep(token, made.line, fields.get("name", ""), fields.get("voice") or "", made.seconds)
        log.info("a keepsake was made in %.1f s (%.1f s of video)", made.elapsed, made.seconds)
        return web.json_response(
            {"token": token, "page": f"/booth/k/{token}", "line": kept.line, "seconds": made.elapsed}, status=201
        )

    def _booth_cast(self) -> Cast:
        if self._cast is None:  # made on the booth's thread: its voices' threads are niced too
            self._cast = Cast(self.config)
        return self._cast

    # the attendee's page

    def _kept(self, request: web.Request):
        kept = self.store.get(request.match_info["token"])
        if kept is None:
            raise RequestError(404, "this keepsake is not here: it was deleted, or it expired")
        return kept

    async def taken_page(self, request: web.Request) -> web.FileResponse:
        self._kept(request)
        return web.FileResponse(WEB / "keepsake.html")

    async def about(self, request: web.Request) -> web.Response:
        kept = self._kept(request)
        expires = kept.expires(self.settings.keep_hours)
        return web.json_response({**asdict(kept), "title": self.settings.title, "expires": expires})

    async def file(self, request: web.Request) -> web.FileResponse:
        self._kept(request)
        path = self.store.file(request.match_info["token"], request.match_info["file"])
        name = f"{self.settings.title} keepsake{path.suffix}".replace("/", "-")
        return web.FileResponse(path, headers={"Content-Disposition": f'inline; filename="{name}"'})

    async def qr(self, request: web.Request) -> web.Response:
        kept = self._kept(request)
        address = f"{self._address(request)}/booth/k/{kept.token}"
        svg = io.BytesIO()
        segno.make(address, error="m").save(svg, kind="svg", scale=8, border=2, light="white")
        return web.Response(body=svg.getvalue(), content_type="image/svg+xml", headers={"X-Address": address})

    def _address(self, request: web.Request) -> str:
        """Where a phone on the venue's network finds this server."""
        if self.settings.address:
            return self.settings.address.rstrip("/")
        host = request.url.host or "127.0.0.1"
        if host in ("127.0.0.1", "localhost", "::1"):  # the kiosk's own view: the phone needs the network's
            host = _network_address() or host
        return f"{request.scheme}://{host}:{request.url.port}" if request.url.port else f"{request.scheme}://{host}"

    async def delete(self, request: web.Request) -> web.Response:
        kept = self._kept(request)
        self.store.delete(kept.token)
        log.info("a keepsake was deleted at its attendee's request")
        return web.json_response({"deleted": True})

    # the organiser's gallery

    def _organiser(self, request: web.Request) -> None:
        if not carries(request, self.token):
            raise RequestError(401, "the gallery needs the organiser's token: /booth/gallery?token=...")

    async def gallery(self, request: web.Request) -> web.Response:
        self._organiser(request)
        if "application/json" not in request.headers.get("Accept", ""):
            return web.FileResponse(WEB / "gallery.html")
        return web.json_response({"keepsakes": [asdict(k) for k in self.store.all()]})

    async def organiser_delete(self, request: web.Request) -> web.Response:
        self._organiser(request)
        return web.json_response({"deleted": self.store.delete(request.match_info["token"])})


async def _form(request: web.Request) -> tuple[dict[str, str], bytes]:
    """The kiosk's form: its text fields, and the photo (at most ``MAX_BYTES``)."""
    if not request.content_type.startswith("multipart/"):
        raise RequestError(415, "send the photo as multipart/form-data")
    fields: dict[str, str] = {}
    photo = b""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "photo":
            chunks, size = [], 0
            while chunk := await part.read_chunk(65536):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise RequestError(413, f"the photo is larger than {MAX_BYTES // 2**20} MB")
                chunks.append(chunk)
            photo = b"".join(chunks)
        elif part.name in ("name", "line", "voice", "consent", "kiosk"):
            fields[part.name] = (await part.text())[:200]
    if not photo:
        raise RequestError(400, "there is no photo: allow the camera, then take one")
    return fields, photo


def _low_priority() -> None:
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def _network_address() -> str | None:
    """This machine's address on its network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
    except OSError:
        return None
