"""``fireside bench booth``: from a kiosk's capture to a keepsake ready to
download (an 8-second clip of Grace Hopper's portrait), alone and while a
panel answers on stage; and what the booth costs the stage meanwhile (its
frames a second and the gaps in its voice, seen by a real aiortc viewer).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np

from avatar.rigs.photo import hopper_portrait
from stage.core.config import FiresideConfig
from stage.core.paths import SHOWS
from stage.tools.bench.common import percentile, record, start_server
from stage.tools.call_client import StageViewer
from stage.transport.webrtc import restrict_ice

TOKEN = "bench-token-0000"
LINE = "Greetings from {title}, where the speakers were avatars, the questions were ours, and the answers were true."
PANEL_QUESTIONS = [("ada", "What is open banking?"), ("ravi", "How do banks detect fraud?")]


def bench_booth(config: FiresideConfig, quick: bool = False) -> list[dict]:
    restrict_ice(["127.0.0.1"])
    rounds = 3 if quick else 6
    settings = f"panel:\n  token: {TOKEN}\n  folder: FOLDER/panel\ncall:\n  ice_addresses: [127.0.0.1]\n"
    settings += f"booth:\n  folder: FOLDER/booth\n  lines: [{LINE!r}]\n"
    records = []
    for name, args in (("alone", ()), ("with_panel", ("--show", str(SHOWS / "demo.yaml")))):
        server, url = start_server(settings, "--booth", *args, port=8768)
        try:
            records += asyncio.run(_measure(url, name, rounds, panel=bool(args)))
        finally:
            server.terminate()
            server.wait(20)
    return records


async def _measure(url: str, name: str, rounds: int, panel: bool) -> list[dict]:
    photo = hopper_portrait().read_bytes()
    viewer = None
    asking: asyncio.Task | None = None
    if panel:
        viewer = StageViewer(url, 2)
        await viewer.connect()
        await asyncio.sleep(2.0)
        asking = asyncio.ensure_future(_ask_on(url))
    async with aiohttp.ClientSession() as http:
        await _make(http, url, photo)  # the booth's voice and the portrait's landmarks, loaded
        seconds, clip = [], 0.0
        started = time.perf_counter()
        for _ in range(rounds):
            begun = time.perf_counter()
            answer = await _make(http, url, photo)
            seconds.append(time.perf_counter() - begun)
            print(f"booth {name}: a keepsake in {seconds[-1]:.1f} s", flush=True)
            async with http.get(f"{url}{answer['page']}/about") as response:
                clip = (await response.json())["seconds"]
        ended = time.perf_counter()
    records = [
        record(f"booth.{name}.p50", percentile(seconds, 0.5) * 1000, "ms (capture sent to keepsake ready)"),
        record(f"booth.{name}.p95", percentile(seconds, 0.95) * 1000, "ms"),
        record(f"booth.{name}.clip", clip, "s of video a keepsake"),
    ]
    if viewer is not None:
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)
        frames = [t for seat in viewer.frames.values() for t, _ in seat if started <= t <= ended]
        arrivals = np.array([t for t, _, _ in viewer.audio if started <= t <= ended])
        gaps = np.diff(arrivals) if len(arrivals) > 1 else np.array([0.0])
        await viewer.close()
        span = ended - started
        records += [
            # the viewer keeps one frame in five: five a second per seat is every frame sent
            record("booth.with_panel.stage_fps", len(frames) * 5 / span / max(1, len(viewer.frames)), "fps per face"),
            record("booth.with_panel.stage_voice_gap.max", float(gaps.max()) * 1000, "ms (longest wait for voice)"),
        ]
    return records


async def _make(http: aiohttp.ClientSession, url: str, photo: bytes) -> dict:
    form = aiohttp.FormData({"consent": "yes", "line": "0"})
    form.add_field("photo", photo, filename="photo.jpg", content_type="image/jpeg")
    async with http.post(f"{url}/booth/keepsakes", data=form) as response:
        answer = await response.json()
        if response.status != 201:
            raise RuntimeError(f"the booth refused: {response.status} {answer}")
        return answer


async def _ask_on(url: str) -> None:
    """The panel answering, one question after another, for as long as the booth works."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for i in range(10_000):
            pid, question = PANEL_QUESTIONS[i % len(PANEL_QUESTIONS)]
            async with http.post(f"{url}/console/ask", json={"text": question, "to": pid}) as response:
                await response.read()
            await asyncio.sleep(12.0)
