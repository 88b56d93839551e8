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
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import psutil

from stage.core.config import FiresideConfig
from stage.core.errors import FiresideError
from stage.core.paths import PROJECT, SHOWS
from stage.tools.bench.answers import THINK_QUESTIONS
from stage.tools.bench.common import (
    failure,
    first_sound,
    percentile,
    record,
    speech48,
    start_server,
)
from stage.tools.bench.live import answer_ended
from stage.tools.bench.nodes import LIVEKIT, Cluster, free_port, start_node, start_worker
from stage.tools.call_client import CallClient, StageViewer
from stage.transport.rooms.connect import LiveKitError, LiveKitSettings, close_room, dispatch, join, participants
from stage.transport.webrtc import restrict_ice
from voices.catalog import VoiceCatalog

log = logging.getLogger("fireside.bench")

RATE, FRAME = 48000, 480  # 10 ms frames, as a microphone sends them
WINDOW = 8.0  # seconds of show over which the server's CPU is counted
VIEWERS = PROJECT / "build" / "livekit-viewers"  # the light viewers (stage/tools/viewers, make livekit-server)
STAGE_ROOM = "fireside-demo"  # the demo show's room
PANELISTS = 2  # the demo show's: a viewer's frames are counted per panelist
JOIN_SECONDS = 60.0  # a step's joins, beyond a second a viewer
CALLER_COUNTS = (1, 2, 4, 8)
CAPACITY_P95_MS = 1500  # the most callers at once whose p95 stays within this is the machine's capacity
NODE_SHARE = 0.8  # of a node's cores, what the SFU may take (the rest: the system, bursts)


REQUIRED_VIEWERS = 50  # the fan-out up to here, and voice to voice, must be measured (else exit 1)
VIEWER_STEPS = (1, 10, 50, 100, 200)  # then 100 more at a time while the machine holds
MOST_VIEWERS = 500
HOLDS = {"loss": 1.0, "fps": 20.0}  # the machine holds: loss at most 1%, the decoding viewer at 20 fps or more


def bench_livekit(config: FiresideConfig, quick: bool = False, nodes: int = 1, llm: Sequence[str] = ()) -> list[dict]:
    """Every figure this run could measure; a step that failed is a record with its reason.
    ``nodes`` above 1: LiveKit nodes sharing Redis and a worker at each, instead (see nodes.py).
    ``llm``: OpenAI-compatible servers (vLLM) whose callers at once are measured too."""
    restrict_ice(["127.0.0.1"])
    if nodes > 1:
        engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
        questions = [speech48(engine, q) for pid, q in THINK_QUESTIONS if pid == "ada"]
        rooms, turns = (2, 1) if quick else (4, 3)
        return _measured(f"livekit.nodes.{nodes}", True, lambda: _nodes_run(questions, nodes, rooms, turns))
    server = None
    try:
        if not os.environ.get("LIVEKIT_URL"):
            server = _dev_server()
        settings = LiveKitSettings.from_env()
    except (LiveKitError, OSError, RuntimeError) as err:
        return [failure("livekit.server", err, required=True)]
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    questions = [speech48(engine, q) for pid, q in THINK_QUESTIONS if pid == "ada"] + [
        speech48(engine, "What is open banking?")
    ]
    turns = 3 if quick else 10
    sfu = psutil.Process(server.pid) if server is not None else None
    records: list[dict] = []
    try:
        records += _measured("livekit.setup", False, lambda: _setup_records(settings, config, 2 if quick else 6))
        records += _measured(
            "livekit.voice_to_voice.livekit",
            True,
            lambda: _latency_records("livekit.voice_to_voice.livekit", _in_room(settings, questions, turns)),
        )
        records += _measured(
            "livekit.voice_to_voice.aiortc",
            True,
            lambda: _latency_records("livekit.voice_to_voice.aiortc", _direct(questions, turns)),
        )
        records += _fan_out_livekit(settings, sfu, (1, 10) if quick else VIEWER_STEPS)
        counts, rounds = ((1, 2), 1) if quick else (CALLER_COUNTS, 3)
        records += _measured("livekit.callers", False, lambda: _callers(settings, questions, counts, rounds))
        for url in llm:  # the same callers, answered by a server's model
            records += _measured(
                f"livekit.callers.{url}", False, lambda: _callers(settings, questions, counts, rounds, url)
            )
        records += _measured("livekit.fan_out.aiortc", False, lambda: _fan_out_direct((1, 3) if quick else (1, 5, 10)))
    finally:
        if server is not None:
            server.kill()  # the dev server may linger on a polite signal
            server.wait(20)
    return records


def _measured(name: str, required: bool, measure) -> list[dict]:
    """``measure()``'s records, or one record of why it failed (the run goes on)."""
    try:
        return measure()
    except Exception as err:  # noqa: BLE001 - any failure is a figure not measured, with its reason
        log.warning("%s: not measured: %s", name, err)
        return [failure(name, err, required)]


def _setup_records(settings: LiveKitSettings, config: FiresideConfig, rooms: int) -> list[dict]:
    setups = asyncio.run(_setups(settings, config, rooms))
    return [
        record("livekit.setup.p50", percentile(setups, 0.5), "ms from a room's dispatch to its avatar seen and heard"),
        record("livekit.setup.max", max(setups), "ms"),
    ]


def _latency_records(name: str, latencies: list[float]) -> list[dict]:
    if not latencies:
        raise LiveKitError("no answer was heard")
    return [
        record(f"{name}.p50", percentile(latencies, 0.5), "ms"),
        record(f"{name}.p95", percentile(latencies, 0.95), "ms"),
        record(f"{name}.turns", len(latencies), "turns"),
    ]


def _dev_server() -> subprocess.Popen:
    """The project's own LiveKit server in dev mode, where ``LIVEKIT_URL`` names none."""
    if not LIVEKIT.exists():
        raise LiveKitError(f"set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or build {LIVEKIT}")
    node = start_node("dev", None, Path(tempfile.mkdtemp(prefix="fireside-livekit-")))
    os.environ.update(LIVEKIT_URL=node.url, LIVEKIT_API_KEY=node.settings.key, LIVEKIT_API_SECRET=node.settings.secret)
    return node.process


# -- a room's set-up ---------------------------------------------------------------------------------
async def _setups(settings: LiveKitSettings, config: FiresideConfig, rooms: int) -> list[float]:
    """A worker (``fireside livekit --persona ada``) in this process; rooms dispatched to it
    one after another: from each dispatch to its avatar's face and voice published (ms)."""
    from stage.transport.rooms.worker import AvatarWorker

    worker = AvatarWorker(settings, config, "ada")
    running = asyncio.ensure_future(worker.run())  # warms every persona, then registers
    times = []
    try:
        while not worker.registered.is_set():
            if running.done():
                running.result()  # its error, if it could not register
            await asyncio.sleep(0.05)
        for i in range(rooms):
            room = f"bench-setup-{i}"
            started = time.perf_counter()
            await dispatch(settings, room)
            while room not in worker.avatars or not worker.avatars[room].connected():
                await asyncio.sleep(0.005)
            times.append((time.perf_counter() - started) * 1000)
            await close_room(settings, room)
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
    caller = await RoomCaller.join(settings, "bench-v2v", "person")
    try:
        await caller.avatar_joined("fireside-ada", 120)  # the avatar loads its models, then joins
        await asyncio.sleep(2.0)
        latencies = []
        for i in range(turns):
            heard = await caller.ask(questions[i % len(questions)])
            if heard is not None:
                latencies.append(heard)
            await asyncio.sleep(1.0)
        return latencies
    finally:
        await caller.close()


class RoomCaller:
    """A person in a room: a microphone paced in 10 ms frames (a question, else silence),
    and ears for the avatar's voice and its ``answer_end``."""

    def __init__(self, room):
        from livekit import rtc

        self.room = room
        self.loud: list[float] = []  # when the avatar's voice was heard
        self.ended: list[float] = []  # when an answer_end arrived
        self.said: list[np.ndarray] = []  # questions waiting to be said
        self.spoken: list[float] = []  # when each question's last sample went out
        self.tasks: list[asyncio.Task] = []
        room.on("track_subscribed", self._on_track)
        room.on("data_received", lambda p: b'"answer_end"' in p.data and self.ended.append(time.perf_counter()))
        self.source = rtc.AudioSource(RATE, 1, queue_size_ms=50)  # paced as a microphone

    @classmethod
    async def join(cls, settings: LiveKitSettings, room_name: str, identity: str) -> RoomCaller:
        from livekit import rtc

        caller = cls(await join(settings, room_name, identity))
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        track = rtc.LocalAudioTrack.create_audio_track("mic", caller.source)
        await caller.room.local_participant.publish_track(track, options)
        caller.tasks.append(asyncio.ensure_future(caller._microphone()))
        return caller

    def _on_track(self, track, publication, participant) -> None:
        from livekit import rtc

        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self.tasks.append(asyncio.ensure_future(self._listen(track)))

    async def _listen(self, track) -> None:
        from livekit import rtc

        async for event in rtc.AudioStream(track, sample_rate=16000, num_channels=1):
            pcm = np.frombuffer(event.frame.data, np.int16) / 32768.0
            if np.sqrt(np.mean(pcm**2)) > 0.01:
                self.loud.append(time.perf_counter())

    async def _microphone(self) -> None:
        from livekit import rtc

        quiet = np.zeros(FRAME, np.int16)
        while True:
            if self.said:
                pcm = self.said.pop(0)
                pcm = np.pad(pcm, (0, -len(pcm) % FRAME))
                for i in range(0, len(pcm), FRAME):
                    await self.source.capture_frame(rtc.AudioFrame(pcm[i : i + FRAME].tobytes(), RATE, 1, FRAME))
                self.spoken.append(time.perf_counter())
            else:
                await self.source.capture_frame(rtc.AudioFrame(quiet.tobytes(), RATE, 1, FRAME))

    async def avatar_joined(self, identity: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(p.identity == identity for p in self.room.remote_participants.values()):
            if time.monotonic() > deadline:
                raise LiveKitError(f"the avatar never joined room {self.room.name!r}")
            await asyncio.sleep(0.2)

    async def ask(self, question: np.ndarray, seconds: float = 120.0) -> float | None:
        """Say ``question``; ms from its last sample to the avatar's voice (None: no answer came)."""
        answers, asked = len(self.ended), len(self.spoken)
        self.said.append(question)
        while len(self.spoken) == asked:
            await asyncio.sleep(0.02)
        end = self.spoken[-1]
        deadline = time.perf_counter() + seconds
        while len(self.ended) == answers and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        heard = next((t for t in self.loud if t > end), None)
        return None if heard is None else (heard - end) * 1000

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.room.disconnect()


# -- several nodes and workers ---------------------------------------------------------------------
def _nodes_run(questions: list[np.ndarray], nodes: int, rooms: int, turns: int) -> list[dict]:
    """Redis, ``nodes`` LiveKit nodes sharing it and a worker registered at each; a caller in
    each of ``rooms`` rooms, the rooms dispatched and joined through the nodes in turn. Voice
    to voice over all, and which node and which worker served each room."""
    cluster = Cluster(nodes)
    try:
        config = cluster.folder / "fireside.yaml"
        config.write_text(f"call:\n  max_calls: {rooms}\n")
        for node in cluster.nodes:
            cluster.start_worker(node, config)
        latencies = asyncio.run(_calls_through(cluster, questions, rooms, turns))
        name = f"livekit.nodes.{nodes}"
        records = _latency_records(f"{name}.voice_to_voice", latencies)
        for i in range(rooms):
            room = f"bench-nodes-{i}"
            node = next((k for k, n in enumerate(cluster.nodes, 1) if n.serves(room)), 0)
            worker = next((k for k, w in enumerate(cluster.workers, 1) if room in w.rooms()), 0)
            records.append(record(f"{name}.{room}.node", node, "the node that hosts the room (0: not found)"))
            records.append(record(f"{name}.{room}.worker", worker, "the worker whose avatar is in it (0: none)"))
        return records
    finally:
        cluster.stop()


async def _calls_through(cluster, questions: list[np.ndarray], rooms: int, turns: int) -> list[float]:
    callers: list[RoomCaller] = []
    try:
        for i in range(rooms):
            node = cluster.nodes[i % len(cluster.nodes)]
            settings = node.settings
            await dispatch(settings, f"bench-nodes-{i}")
            callers.append(await RoomCaller.join(settings, f"bench-nodes-{i}", "caller"))
        for caller in callers:
            await caller.avatar_joined("fireside-ada", 120)
        await asyncio.sleep(2.0)
        latencies = []
        for turn in range(turns):  # the rooms in turn: voice to voice, not contention
            for i, caller in enumerate(callers):
                heard = await caller.ask(questions[(turn + i) % len(questions)])
                if heard is not None:
                    latencies.append(heard)
                await asyncio.sleep(0.5)
        return latencies
    finally:
        for caller in callers:
            await caller.close()


# -- callers at once -------------------------------------------------------------------------------
def _callers(
    settings: LiveKitSettings,
    questions: list[np.ndarray],
    counts: tuple[int, ...],
    rounds: int,
    llm: str | None = None,
) -> list[dict]:
    """N callers at once, each in a room of their own, all served by one ``fireside livekit``
    worker (a child process): every caller asking at the same moment, then staggered by a
    second. Voice to voice per N, and the machine's capacity: the most callers whose p95,
    all asking at once, stays within ``CAPACITY_P95_MS``. With ``llm`` (an OpenAI-compatible
    base URL) the worker's persona model is that server's: ``livekit.callers.vllm.*``
    when vLLM serves it, else ``livekit.callers.server.*``."""
    folder = Path(tempfile.mkdtemp(prefix="fireside-bench-"))
    config, prefix = f"call:\n  max_calls: {2 * max(counts)}\n", "livekit.callers"
    if llm is not None:
        model, served_by = served_model(llm)
        config += f"llm:\n  backend: {llm}\n  model: {model}\n"
        prefix += f".{served_by}"
    (folder / "fireside.yaml").write_text(config)
    worker = start_worker(settings, folder / "fireside.yaml")
    try:
        return asyncio.run(_callers_at_once(settings, questions, counts, rounds, worker.process, prefix))
    finally:
        worker.stop()


def served_model(url: str) -> tuple[str, str]:
    """The model an OpenAI-compatible server serves first, and "vllm" if vLLM serves it (else "server")."""
    from openai import OpenAI

    models = OpenAI(base_url=url, api_key=os.environ.get("OPENAI_API_KEY") or "none").models.list().data
    if not models:
        raise FiresideError(f"the OpenAI-compatible server at {url} serves no model")
    return models[0].id, "vllm" if models[0].owned_by == "vllm" else "server"


async def _callers_at_once(
    settings, questions, counts, rounds, worker: subprocess.Popen, prefix: str = "livekit.callers"
) -> list[dict]:
    records, capacity = [], 0
    for n in counts:
        name = f"{prefix}.{n}"
        rooms = [f"bench-callers-{n}-{i}" for i in range(n)]
        callers: list[RoomCaller] = []
        try:
            for room in rooms:
                await dispatch(settings, room)
                callers.append(await RoomCaller.join(settings, room, "caller"))
            for caller in callers:  # the worker warms its models before its first room
                await caller.avatar_joined("fireside-ada", 300)
                if worker.poll() is not None:
                    raise LiveKitError(f"the worker ended (exit status {worker.returncode})")
            await asyncio.sleep(2.0)
            together, staggered = [], []
            working = psutil.Process(worker.pid)
            before, started = sum(working.cpu_times()[:2]), time.perf_counter()
            for r in range(rounds):
                asked = [questions[(r + i) % len(questions)] for i in range(n)]
                together += await asyncio.gather(*(c.ask(q) for c, q in zip(callers, asked)))
                await asyncio.sleep(1.0)
            for r in range(rounds):
                asked = [questions[(r + i + 1) % len(questions)] for i in range(n)]
                staggered += await asyncio.gather(*(_later(i, c, q) for i, (c, q) in enumerate(zip(callers, asked))))
                await asyncio.sleep(1.0)
            busy = (sum(working.cpu_times()[:2]) - before) / (time.perf_counter() - started)
        except Exception as err:  # noqa: BLE001 - this N failed; the others keep their figures
            log.warning("%s: not measured: %s", name, err)
            records.append(failure(name, err))
            continue
        finally:
            for caller in callers:
                await caller.close()
            for room in rooms:
                await close_room(settings, room)
        records.append(record(f"{name}.worker_cpu", busy, f"CPU seconds per second (the worker, {n} callers talking)"))
        records += _caller_records(name, together, "all asking at once")
        records += _caller_records(f"{name}.staggered", staggered, "asking a second apart")
        answered = [t for t in together if t is not None]
        if len(answered) == len(together) and percentile(answered, 0.95) <= CAPACITY_P95_MS:
            capacity = n
    records.append(
        record(f"{prefix}.capacity", capacity, f"callers at once with voice to voice p95 <= {CAPACITY_P95_MS} ms")
    )
    return records


async def _later(seconds: float, caller: RoomCaller, question: np.ndarray) -> float | None:
    await asyncio.sleep(seconds)
    return await caller.ask(question)


def _caller_records(name: str, latencies: list[float | None], how: str) -> list[dict]:
    answered = [t for t in latencies if t is not None]
    records = [record(f"{name}.unanswered", len(latencies) - len(answered), f"questions never answered ({how})")]
    if answered:
        records += [
            record(f"{name}.p50", percentile(answered, 0.5), f"ms voice to voice, {how}"),
            record(f"{name}.p95", percentile(answered, 0.95), f"ms voice to voice, {how}"),
        ]
    return records


def _direct(questions: list[np.ndarray], turns: int) -> list[float]:
    """The same questions in a direct aiortc call to ``fireside serve``."""
    server, url = start_server("call:\n  ice_addresses: [127.0.0.1]\n", port=free_port())
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
def _panel_server(*options: str):
    """``fireside serve --show demo.yaml`` (with ``options``) in a child process: (process, url)."""
    return start_server(
        "panel:\n  token: bench-token-0000\n  folder: FOLDER/panel\ncall:\n  ice_addresses: [127.0.0.1]\n",
        "--show",
        str(SHOWS / "demo.yaml"),
        *options,
        port=free_port(),
    )


def _fan_out_livekit(settings: LiveKitSettings, sfu: psutil.Process | None, steps: tuple[int, ...]) -> list[dict]:
    """The panel in a room, watched by more and more light viewers (the Go program) and one
    decoding viewer: each step's CPU per show second, frames per second and loss, or why it
    failed. After the last step, 100 more at a time while the machine holds."""
    if not VIEWERS.exists():
        reason = f"{VIEWERS} is missing: make livekit-server builds it"
        return [failure(f"livekit.fan_out.livekit.{n}_viewers", reason, n <= REQUIRED_VIEWERS) for n in steps]
    try:
        server, _ = _panel_server("--livekit")
    except Exception as err:  # noqa: BLE001 - no panel server: every step fails for that reason
        return [failure(f"livekit.fan_out.livekit.{n}_viewers", err, n <= REQUIRED_VIEWERS) for n in steps]
    processes = {"server": psutil.Process(server.pid)}
    if sfu is not None:
        processes["sfu"] = sfu
    records, measured = [], {}  # measured: the steps the machine held
    try:
        counts = list(steps)
        while counts:
            n = counts.pop(0)
            name = f"livekit.fan_out.livekit.{n}_viewers"
            try:
                figures = asyncio.run(_watch_room(settings, n, processes))
            except Exception as err:  # noqa: BLE001 - this step failed; the others keep their figures
                log.warning("%s: not measured: %s", name, err)
                records.append(failure(name, err, n <= REQUIRED_VIEWERS))
                continue
            records += _fan_out_records(name, figures, measured.get(1))
            holds = figures["loss"] <= HOLDS["loss"] and figures["fps"] >= HOLDS["fps"] and not figures["failed"]
            if holds:
                measured[n] = figures
            if not counts and n >= VIEWER_STEPS[-1] and holds and n + 100 <= MOST_VIEWERS:
                counts.append(n + 100)
    finally:
        server.terminate()
        server.wait(20)
    return records + _sfu_per_viewer(measured)


def _fan_out_records(name: str, figures: dict, alone: dict | None) -> list[dict]:
    records = [
        record(name, figures["server"], "CPU seconds per show second (panel server)"),
        record(f"{name}.fps", figures["fps"], "frames/s at the decoding viewer, per panelist"),
        record(f"{name}.light_fps", figures["light_fps"], "frames/s at a light viewer, per video track (mean)"),
        record(f"{name}.loss", figures["loss"], "% of RTP packets the light viewers never received"),
        record(f"{name}.joined", figures["joined"], f"light viewers joined (join time {figures['join_s']:.1f} s)"),
    ]
    for who in ("sfu", "viewers"):  # where the rest of the machine went
        if who in figures:
            records.append(record(f"{name}.{who}_cpu", figures[who], f"CPU seconds per show second ({who})"))
    if alone:
        records.append(record(f"{name}.server_vs_1", figures["server"] / alone["server"], "x the panel server at 1"))
    if figures["failed"]:
        first = figures["failed"][0]
        records.append(failure(f"{name}.joins", f"{len(figures['failed'])} failed, e.g. {first['reason']}"))
    return records


def _sfu_per_viewer(measured: dict[int, dict]) -> list[dict]:
    """The SFU's CPU for each viewer more (from 1 to the most viewers the machine held), and
    what a 16-core node holds by it."""
    most = max(measured, default=1)
    if most <= 1 or "sfu" not in measured[most] or 1 not in measured:
        return []
    each = (measured[most]["sfu"] - measured[1]["sfu"]) / (most - 1)
    if each <= 0:
        return []
    return [
        record(
            "livekit.fan_out.sfu_cpu_per_viewer",
            each * 1000,
            f"ms of CPU per show second per viewer (from 1 to {most}, the most this machine held)",
        ),
        record(
            "livekit.fan_out.viewers_per_16_cores",
            int(16 * NODE_SHARE / each),
            f"viewers of one room a 16-core node holds, if the SFU's cost grows as from 1 to {most} "
            f"viewers and {NODE_SHARE:.0%} of its cores go to it",
        ),
    ]


async def _watch_room(settings: LiveKitSettings, viewers: int, processes: dict[str, psutil.Process]) -> dict:
    """One step: ``viewers`` light viewers and one decoding viewer in the stage's room, counted
    over the light viewers' window (``WINDOW`` s)."""
    from livekit import rtc

    decoding = await join(settings, STAGE_ROOM, f"decoding-viewer-{viewers}")
    frames, tasks = [0], []

    async def count(track) -> None:
        async for _ in rtc.VideoStream(track):
            frames[0] += 1

    def watch(track) -> None:
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            tasks.append(asyncio.ensure_future(count(track)))

    decoding.on("track_subscribed", lambda track, *_: watch(track))
    for who in decoding.remote_participants.values():
        for publication in who.track_publications.values():
            if publication.track is not None:
                watch(publication.track)
    light = await asyncio.create_subprocess_exec(
        *[str(VIEWERS), "--url", settings.url, "--key", settings.key, "--secret", settings.secret]
        + ["--room", STAGE_ROOM, "--viewers", str(viewers), "--prefix", f"light-{viewers}"]
        + ["--concurrency", "8", "--settle", "3s", "--window", f"{WINDOW}s"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    watched = {**processes, "viewers": psutil.Process(light.pid)}
    try:
        return await asyncio.wait_for(_counted(light, watched, frames), JOIN_SECONDS + viewers + WINDOW + 30)
    except TimeoutError:
        raise LiveKitError(f"{viewers} light viewers did not finish in time") from None
    finally:
        await _leave(light)
        for task in tasks:
            task.cancel()
        await decoding.disconnect()
        await _emptied(settings, f"light-{viewers}-", f"decoding-viewer-{viewers}")


async def _leave(light: asyncio.subprocess.Process) -> None:
    """The light viewers leave the room, each disconnecting (killed, they would stay in it
    as sessions the SFU keeps serving until they time out, during the next step)."""
    if light.returncode is None:
        light.terminate()  # after its result it is leaving already; before, SIGTERM makes it leave
    try:
        await asyncio.wait_for(light.wait(), 30)
    except TimeoutError:
        light.kill()
        await light.wait()


async def _emptied(settings: LiveKitSettings, *prefixes: str, seconds: float = 60) -> None:
    """Until no participant whose identity starts with one of ``prefixes`` is left in the stage's room."""
    deadline = time.monotonic() + seconds
    while any(who.startswith(prefixes) for who in await participants(settings, STAGE_ROOM)):
        if time.monotonic() > deadline:
            log.warning("viewers still in the room after %.0f s: the next step counts them too", seconds)
            return
        await asyncio.sleep(0.5)


async def _counted(light, processes: dict[str, psutil.Process], frames: list[int]) -> dict:
    """What the light viewers report, line by line, with the CPU and decoded frames over their window."""
    joined = {}
    async for line in light.stdout:
        said = json.loads(line)
        if said["event"] == "joined":
            joined = said
            if not said["joined"]:
                raise LiveKitError(f"no light viewer could join: {said['failed'][0]['reason']}")
        elif said["event"] == "window":
            before, counted, started = _cpu(processes), frames[0], time.perf_counter()
        elif said["event"] == "result":
            after, took = _cpu(processes), time.perf_counter() - started
            seen = said["viewers"]
            expected = sum(v["expected"] for v in seen)
            return {
                **{who: (after[who] - before[who]) / took for who in processes},
                "fps": (frames[0] - counted) / took / PANELISTS,
                "light_fps": float(np.mean([v["fps"] for v in seen])) if seen else 0.0,
                "loss": 100.0 * sum(v["lost"] for v in seen) / expected if expected else 100.0,
                "joined": joined["joined"],
                "join_s": joined["seconds"],
                "failed": said["failed"],
            }
    raise LiveKitError(f"the light viewers ended early (exit status {await light.wait()})")


def _fan_out_direct(counts: tuple[int, ...]) -> list[dict]:
    """The direct aiortc stage (no SFU): the panel server's CPU per show second and one
    viewer's frame rate, at each viewer count (Python viewers, each decoding)."""
    server, url = _panel_server()
    records = []
    try:
        processes = {"server": psutil.Process(server.pid), "viewers": psutil.Process()}
        for n in counts:
            name = f"livekit.fan_out.aiortc.{n}_viewers"
            cpu, fps = asyncio.run(_watch_direct(url, n, processes))
            records += [
                record(name, cpu["server"], "CPU seconds per show second (panel server)"),
                record(f"{name}.fps", fps, "frames/s at one viewer, per panelist"),
                record(f"{name}.viewers_cpu", cpu["viewers"], "CPU seconds per show second (viewers)"),
            ]
    finally:
        server.terminate()
        server.wait(20)
    return records


async def _watch_direct(url: str, viewers: int, processes: dict[str, psutil.Process]):
    clients = [StageViewer(url, 2) for _ in range(viewers)]
    for client in clients:
        await client.connect()
    await asyncio.sleep(3.0)  # connected and settled
    before, started = _cpu(processes), time.perf_counter()
    counted = sum(len(f) for f in clients[0].frames.values())
    await asyncio.sleep(WINDOW)
    after, took = _cpu(processes), time.perf_counter() - started
    seen = (sum(len(f) for f in clients[0].frames.values()) - counted) * 5  # it keeps one frame in five
    for client in clients:
        await client.close()
    await asyncio.sleep(2.0)  # the viewers' sessions are freed before the next count
    return {who: (after[who] - before[who]) / took for who in processes}, seen / took / PANELISTS


def _cpu(processes: dict[str, psutil.Process]) -> dict[str, float]:
    """Each process's CPU seconds so far (user and system)."""
    return {who: sum(process.cpu_times()[:2]) for who, process in processes.items()}
