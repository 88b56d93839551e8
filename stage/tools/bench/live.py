"""The live paths, with real aiortc peers against a running server: a call's
voice-to-voice latency and concurrent calls; the panel's ask and stop."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np

from avatar.rigs.stylized import MOUTH_INSIDE, StylizedRig
from stage.core.config import FiresideConfig
from stage.core.paths import SHOWS
from stage.tools.bench.answers import THINK_QUESTIONS
from stage.tools.bench.common import first_sound, percentile, record, speech48, speech_end, start_server
from stage.tools.call_client import CallClient, StageViewer
from stage.transport.webrtc import restrict_ice
from voices.catalog import VoiceCatalog


def bench_call(config: FiresideConfig, quick: bool = False, url: str | None = None) -> list[dict]:
    """Voice-to-voice latency, audio/video offset and concurrent calls, with
    real aiortc callers against a running server (started here unless given)."""
    restrict_ice(["127.0.0.1"])
    server = None
    if url is None:
        server, url = start_server("call:\n  ice_addresses: [127.0.0.1]\n  max_calls: 32\n")
    try:
        return asyncio.run(_measure_calls(config, url, quick))
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)


async def _measure_calls(config: FiresideConfig, url: str, quick: bool) -> list[dict]:
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)

    # 0. set-up: from the offer to a connected call, a persona at a time
    setups = []
    for persona in ["ada", "ravi", "mei"] * (1 if quick else 2):
        started = time.perf_counter()
        caller = CallClient(url, persona)
        await caller.connect()
        setups.append((time.perf_counter() - started) * 1000)
        await caller.close()

    # 1. voice to voice, and the audio/video offset, over several turns
    questions = [q for pid, q in THINK_QUESTIONS if pid == "ada"] + ["What is open banking?"]
    turns = 2 if quick else 10
    client = CallClient(url, "ada", keep_frames=True)
    await client.connect()
    await asyncio.sleep(2.0)
    x0, y0, x1, y1 = StylizedRig.mouth_box_at(config.avatar.size)
    inside = np.array(MOUTH_INSIDE, np.float32)
    latencies, offsets = [], []
    for i in range(turns):
        turn_started = time.perf_counter()
        client.frames.clear()
        question = speech48(engine, questions[i % len(questions)])
        client.microphone.say(question)
        count = len(client.microphone.ended_at)
        while len(client.microphone.ended_at) == count:
            await asyncio.sleep(0.05)
        # from the end of the person's voice, not of the samples: Piper's
        # speech ends in 0.15-0.25 s of silence, which is no wait of the avatar's
        quiet_tail = len(question) / 48000 - speech_end(question.astype(np.float32) / 32768, 48000)
        end = client.microphone.ended_at[-1] - quiet_tail
        heard = await first_sound(client, end)
        if heard is None:
            continue
        latencies.append((heard - end) * 1000)
        await asyncio.sleep(1.5)
        opened = next(
            (
                t
                for t, _, rgb in client.frames
                if t > end
                and rgb is not None
                and (np.abs(rgb[y0:y1, x0:x1].astype(np.float32) - inside).sum(2) < 60).sum() > 40
            ),
            None,
        )
        if opened is not None:
            offsets.append((opened - heard) * 1000)
        await answer_ended(client, turn_started)  # the whole answer is heard: no question cuts it short
    await client.close()
    # where the server's time went, turn by turn (seconds after the person stopped)
    steps: dict[str, list[float]] = {}
    for _, message in client.messages:
        for step, seconds in message.get("after_speech_end", {}).items():
            steps.setdefault(step, []).append(seconds * 1000)
        for name, seconds in (message.get("metrics") or {}).items():  # the turn, by LiveKit's names (None: left out)
            steps.setdefault(f"metrics.{name}", []).append(seconds * 1000)

    # 2. how many concurrent calls hold 25 fps with no dropped frame
    held = 0
    for n in range(1, (3 if quick else 8) + 1):
        clients = [CallClient(url, "ada") for _ in range(n)]
        await asyncio.gather(*(c.connect() for c in clients))
        await asyncio.sleep(2.0)
        for c in clients:
            c.frames.clear()
        await asyncio.sleep(4.0)
        ok = True
        for c in clients:
            pts = [p for _, p, _ in c.frames]
            fps = (len(pts) - 1) / (pts[-1] - pts[0]) if len(pts) > 2 else 0.0
            gaps = np.diff(pts) if len(pts) > 1 else np.array([1.0])
            ok &= fps >= 24.0 and float(gaps.max()) <= 0.041
        await asyncio.gather(*(c.close() for c in clients))
        await asyncio.sleep(1.0)
        if not ok:
            break
        held = n
    return [
        *(
            record(f"call.server.{step}.p50", percentile(values, 0.5), "ms after the end of speech")
            for step, values in steps.items()
        ),
        record(
            "call.setup.p50", percentile(setups, 0.5), "ms from the offer to its answer (the server made the session)"
        ),
        record("call.setup.max", max(setups), "ms"),
        record("call.voice_to_voice.p50", percentile(latencies, 0.5), "ms"),
        record("call.voice_to_voice.p95", percentile(latencies, 0.95), "ms"),
        record("call.turns_measured", len(latencies), "turns"),
        record(
            "call.av_offset.p50",
            percentile(offsets, 0.5) if offsets else float("nan"),
            "ms (mouth opens minus voice heard, at the client)",
        ),
        record("call.concurrent_calls_at_25fps", held, "calls (512x512, no dropped frame)"),
    ]


async def answer_ended(client: CallClient, since: float, seconds: float = 60.0) -> None:
    """Until the answer's end reaches the caller (its words all heard), or ``seconds`` pass."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and not any(
        t > since and m.get("type") == "answer_end" for t, m in client.messages
    ):
        await asyncio.sleep(0.1)


def bench_panel(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """The moderated panel, with a real stage viewer (aiortc): from "ask now"
    to the panelist's first audio on stage, and from "stop now" to silence."""
    restrict_ice(["127.0.0.1"])
    show = SHOWS / "demo.yaml"
    server, url = start_server(
        "panel:\n  token: bench-token-0000\n  folder: FOLDER/panel\ncall:\n  ice_addresses: [127.0.0.1]\n",
        "--show",
        str(show),
        port=8766,
    )
    try:
        return asyncio.run(_measure_panel(url, "bench-token-0000", 3 if quick else 10))
    finally:
        server.terminate()
        server.wait(20)


async def _measure_panel(url: str, token: str, rounds: int) -> list[dict]:
    viewer = StageViewer(url, 2)
    await viewer.connect()
    await asyncio.sleep(2.0)
    questions = [("ada", q) for p, q in THINK_QUESTIONS if p == "ada"] + [
        ("ravi", q) for p, q in THINK_QUESTIONS if p == "ravi"
    ]
    firsts, stops = [], []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(rounds):
            pid, question = questions[i % len(questions)]
            asked = time.perf_counter()
            async with http.post(f"{url}/console/ask", json={"text": question, "to": pid}) as response:
                await response.read()
            heard = await first_sound(viewer, asked)
            if heard is None:
                continue
            firsts.append((heard - asked) * 1000)
            await asyncio.sleep(1.0)
            stopped = time.perf_counter()
            async with http.post(f"{url}/console/stop") as response:
                await response.read()
            await asyncio.sleep(1.5)
            last = viewer.last_sound()
            stops.append(max(0.0, (last or stopped) - stopped) * 1000)
            await asyncio.sleep(0.5)
    await viewer.close()
    return [
        record("panel.ask_to_first_audio.p50", percentile(firsts, 0.5), "ms (ask now to the first sound on stage)"),
        record("panel.ask_to_first_audio.p95", percentile(firsts, 0.95), "ms"),
        record("panel.stop_to_silence.p50", percentile(stops, 0.5), "ms (stop now to the last sound on stage)"),
        record("panel.stop_to_silence.p95", percentile(stops, 0.95), "ms"),
        record("panel.rounds", len(firsts), "questions asked and stopped"),
    ]
