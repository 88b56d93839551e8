"""LiveKit rooms against the real server: a room's set-up (from its dispatch
to the avatar seen and heard there), voice to voice through the SFU
beside a direct aiortc call in the same run, and the panel server's CPU per
second of show as viewers grow (LiveKit: 1, 10, 50 light subscribers;
the direct aiortc stage: 1, 5, 10 viewers).

The LiveKit server is the one ``LIVEKIT_URL`` names, else the project's own
``build/livekit-server`` in dev mode (``make livekit-server``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import numpy as np
import psutil

from stage.core.config import FiresideConfig
from stage.core.paths import PROJECT, SHOWS
from stage.tools.bench.answers import THINK_QUESTIONS
from stage.tools.bench.common import answering, first_sound, percentile, record, speech48, start_server
from stage.tools.bench.live import answer_ended
from stage.tools.call_client import CallClient, StageViewer
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings, join
from stage.transport.webrtc import restrict_ice
from voices.catalog import VoiceCatalog

RATE, FRAME = 48000, 480  # 10 ms frames, as a microphone sends them
WINDOW = 8.0  # seconds of show over which the server's CPU is counted


def bench_livekit(config: FiresideConfig, quick: bool = False) -> list[dict]:
    restrict_ice(["127.0.0.1"])
    server = None
    if not os.environ.get("LIVEKIT_URL"):
        server = _dev_server()
    settings = LiveKitSettings.from_env()
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)

    questions = [speech48(engine, q) for pid, q in THINK_QUESTIONS if pid == "ada"] + [
        speech48(engine, "What is open banking?")
    ]
    turns = 3 if quick else 10
    try:
        setups = asyncio.run(_setups(settings, config, 2 if quick else 6))
        in_room = _in_room(settings, questions, turns)
        direct = _direct(questions, turns)
        sfu = psutil.Process(server.pid) if server is not None else None
        fan_room = _fan_out(["--livekit"], (1, 3) if quick else (1, 10, 50), settings, sfu)
        fan_direct = _fan_out([], (1, 3) if quick else (1, 5, 10), None, None)
    finally:
        if server is not None:
            server.kill()  # the dev server may linger on a polite signal
            server.wait(20)
    records = [
        record("livekit.setup.p50", percentile(setups, 0.5), "ms from a room's dispatch to its avatar seen and heard"),
        record("livekit.setup.max", max(setups), "ms"),
    ]
    for path, latencies in (("livekit", in_room), ("aiortc", direct)):
        records += [
            record(f"livekit.voice_to_voice.{path}.p50", percentile(latencies, 0.5), "ms"),
            record(f"livekit.voice_to_voice.{path}.p95", percentile(latencies, 0.95), "ms"),
            record(f"livekit.voice_to_voice.{path}.turns", len(latencies), "turns"),
        ]
    for path, curve in (("livekit", fan_room), ("aiortc", fan_direct)):
        for viewers, (cpu, frames) in curve.items():
            name = f"livekit.fan_out.{path}.{viewers}_viewers"
            records.append(record(name, cpu["server"], "CPU seconds per show second (panel server)"))
            records.append(record(f"{name}.fps", frames, "frames/s at one viewer"))
            for who in ("sfu", "viewers"):  # where the rest of the machine went
                if who in cpu:
                    records.append(record(f"{name}.{who}_cpu", cpu[who], f"CPU seconds per show second ({who})"))
    return records


def _dev_server() -> subprocess.Popen:
    binary = PROJECT / "build" / "livekit-server"
    if not binary.exists():
        raise LiveKitError(f"set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or build {binary}")
    port, udp, tcp = (_free_port() for _ in range(3))
    server = subprocess.Popen(
        [str(binary), "--dev", "--bind", "127.0.0.1", "--port", str(port), "--node-ip", "127.0.0.1"]
        + ["--udp-port", str(udp), "--config-body", f"rtc: {{tcp_port: {tcp}}}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answering(server, f"http://127.0.0.1:{port}/", 60, f"the LiveKit server at {binary} did not start")
    os.environ.update(LIVEKIT_URL=f"ws://127.0.0.1:{port}", LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret")
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a room's set-up ---------------------------------------------------------------------------------
async def _setups(settings: LiveKitSettings, config: FiresideConfig, rooms: int) -> list[float]:
    """A worker (``fireside livekit --persona ada``) in this process; rooms dispatched to it
    one after another: from each dispatch to its avatar's face and voice published (ms)."""
    from livekit import api

    from stage.transport.rooms.worker import AGENT_NAME, AvatarWorker

    worker = AvatarWorker(settings, config, "ada")
    running = asyncio.ensure_future(worker.run())  # warms every persona, then registers
    times = []
    try:
        while not worker.registered.is_set():
            if running.done():
                running.result()  # its error, if it could not register
            await asyncio.sleep(0.05)
        async with api.LiveKitAPI(settings.url.replace("ws", "http", 1), settings.key, settings.secret) as lk:
            for i in range(rooms):
                room = f"bench-setup-{i}"
                started = time.perf_counter()
                await lk.agent_dispatch.create_dispatch(
                    api.CreateAgentDispatchRequest(agent_name=AGENT_NAME, room=room)
                )
                while room not in worker.avatars or not worker.avatars[room].connected():
                    await asyncio.sleep(0.005)
                times.append((time.perf_counter() - started) * 1000)
                await lk.room.delete_room(api.DeleteRoomRequest(room=room))
                while room in worker.avatars:
                    await asyncio.sleep(0.05)
    finally:
        await worker.close()
        await asyncio.wait_for(running, 30)
    return times


# -- voice to voice --------------------------------------------------------------------------------
def _in_room(settings: LiveKitSettings, questions: list[np.ndarray], turns: int) -> list[float]:
    """``fireside livekit --room`` in a child process; a person in the room asks, as a microphone does."""
    avatar = subprocess.Popen(
        [sys.executable, "-m", "stage.tools.cli", "livekit", "--room", "bench-v2v", "--persona", "ada"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return asyncio.run(_ask_in_room(settings, questions, turns))
    finally:
        avatar.terminate()
        avatar.wait(20)


async def _ask_in_room(settings: LiveKitSettings, questions: list[np.ndarray], turns: int) -> list[float]:
    from livekit import rtc

    room = await join(settings, "bench-v2v", "person")
    loud: list[float] = []  # when the avatar's voice was heard
    ended: list[float] = []  # when an answer_end arrived
    tasks = []

    async def listen(track) -> None:
        async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
            pcm = np.frombuffer(event.frame.data, np.int16) / 32768.0
            if np.sqrt(np.mean(pcm**2)) > 0.01:
                loud.append(time.perf_counter())

    def on_track(track, publication, participant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            tasks.append(asyncio.ensure_future(listen(track)))

    room.on("track_subscribed", on_track)
    room.on("data_received", lambda p: b'"answer_end"' in p.data and ended.append(time.perf_counter()))
    source = rtc.AudioSource(RATE, 1, queue_size_ms=50)  # paced as a microphone
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(rtc.LocalAudioTrack.create_audio_track("mic", source), options)
    deadline = time.monotonic() + 120  # the avatar loads its models, then joins
    while not any(p.identity == "fireside-ada" for p in room.remote_participants.values()):
        if time.monotonic() > deadline:
            raise LiveKitError("the avatar never joined the benchmark's room")
        await asyncio.sleep(0.2)

    said: list[np.ndarray] = []  # questions waiting to be said
    spoken: list[float] = []  # when each question's last sample went out

    async def microphone() -> None:  # one stream of 10 ms frames: a question, else silence
        quiet = np.zeros(FRAME, np.int16)
        while True:
            if said:
                pcm = said.pop(0)
                pcm = np.pad(pcm, (0, -len(pcm) % FRAME))
                for i in range(0, len(pcm), FRAME):
                    await source.capture_frame(rtc.AudioFrame(pcm[i : i + FRAME].tobytes(), RATE, 1, FRAME))
                spoken.append(time.perf_counter())
            else:
                await source.capture_frame(rtc.AudioFrame(quiet.tobytes(), RATE, 1, FRAME))

    tasks.append(asyncio.ensure_future(microphone()))
    await asyncio.sleep(2.0)
    latencies = []
    for i in range(turns):
        answers, asked = len(ended), len(spoken)
        said.append(questions[i % len(questions)])
        while len(spoken) == asked:
            await asyncio.sleep(0.02)
        end = spoken[-1]
        deadline = time.perf_counter() + 60
        while len(ended) == answers and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        heard = next((t for t in loud if t > end), None)
        if heard is not None:
            latencies.append((heard - end) * 1000)
        await asyncio.sleep(1.0)
    for task in tasks:
        task.cancel()
    await room.disconnect()
    return latencies


def _direct(questions: list[np.ndarray], turns: int) -> list[float]:
    """The same questions in a direct aiortc call to ``fireside serve``."""
    server, url = start_server("call:\n  ice_addresses: [127.0.0.1]\n", port=_free_port())
    try:
        return asyncio.run(_ask_direct(url, questions, turns))
    finally:
        server.terminate()
        server.wait(20)


async def _ask_direct(url: str, questions: list[np.ndarray], turns: int) -> list[float]:
    client = CallClient(url, "ada")
    await client.connect()
    await asyncio.sleep(2.0)
    latencies = []
    for i in range(turns):
        started = time.perf_counter()
        count = len(client.microphone.ended_at)
        client.microphone.say(questions[i % len(questions)])
        while len(client.microphone.ended_at) == count:
            await asyncio.sleep(0.05)
        end = client.microphone.ended_at[-1]
        heard = await first_sound(client, end)
        if heard is not None:
            latencies.append((heard - end) * 1000)
        await answer_ended(client, started)
    await client.close()
    return latencies


# -- fan-out ---------------------------------------------------------------------------------------
def _fan_out(
    options: list[str], counts: tuple[int, ...], settings: LiveKitSettings | None, sfu: psutil.Process | None
) -> dict:
    """The panel server's CPU seconds per show second, and one viewer's frame rate, at each viewer count."""
    server, url = start_server(
        "panel:\n  token: bench-token-0000\n  folder: FOLDER/panel\ncall:\n  ice_addresses: [127.0.0.1]\n",
        "--show",
        str(SHOWS / "demo.yaml"),
        *options,
        port=_free_port(),
    )
    try:
        processes = {"server": psutil.Process(server.pid), "viewers": psutil.Process()}
        if sfu is not None:
            processes["sfu"] = sfu
        return {n: asyncio.run(_watch(url, n, processes, settings)) for n in counts}
    finally:
        server.terminate()
        server.wait(20)


async def _watch(url: str, viewers: int, processes: dict[str, psutil.Process], settings: LiveKitSettings | None):
    frames = [0]
    if settings is not None:  # light subscribers: one counts frames, the others only receive
        from livekit import rtc

        rooms = [await join(settings, "fireside-demo", f"viewer-{i}") for i in range(viewers)]

        async def count(track) -> None:
            async for _ in rtc.VideoStream(track):
                frames[0] += 1

        tasks = []
        rooms[0].on(
            "track_subscribed",
            lambda track, pub, who: (
                track.kind == rtc.TrackKind.KIND_VIDEO and tasks.append(asyncio.ensure_future(count(track)))
            ),
        )
        for who in rooms[0].remote_participants.values():
            for publication in who.track_publications.values():
                if publication.track is not None and publication.track.kind == rtc.TrackKind.KIND_VIDEO:
                    tasks.append(asyncio.ensure_future(count(publication.track)))
    else:
        clients = [StageViewer(url, 2) for _ in range(viewers)]
        for client in clients:
            await client.connect()
    await asyncio.sleep(3.0)  # connected and settled
    before, counted, started = _cpu(processes), frames[0], time.perf_counter()
    if settings is None:
        counted = sum(len(f) for f in clients[0].frames.values())
    await asyncio.sleep(WINDOW)
    after, took = _cpu(processes), time.perf_counter() - started
    if settings is None:
        seen = (sum(len(f) for f in clients[0].frames.values()) - counted) * 5  # it keeps one frame in five
        for client in clients:
            await client.close()
    else:
        seen = frames[0] - counted
        for task in tasks:
            task.cancel()
        for room in rooms:
            await room.disconnect()
    await asyncio.sleep(2.0)  # the viewers' sessions are freed before the next count
    return {who: (after[who] - before[who]) / took for who in processes}, seen / took / 2  # per panelist


def _cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """Each process's CPU seconds so far (user and system)."""
    return {who: sum(process.cpu_times()[:2]) for who, process in processes.items()}
