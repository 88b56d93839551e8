"""LiveKit beyond one node, on this machine: Debian's ``redis-server``, LiveKit
nodes sharing it (``build/livekit-server``), ``fireside livekit`` workers each
registered at a node of its own, and callers in several rooms through both
nodes. Which node and which worker served each room is read from their logs.

Used by ``fireside bench livekit --nodes N`` and by the tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from stage.core.paths import PROJECT
from stage.tools.bench.common import answering
from stage.transport.rooms.connect import AGENTS_CONFIG, LiveKitError, LiveKitSettings

LIVEKIT = PROJECT / "build" / "livekit-server"
KEY, SECRET = "devkey", "secret"  # the keys of --dev


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    """One LiveKit node: its process, where it answers, and its log."""

    name: str
    process: subprocess.Popen
    url: str
    log: Path

    @property
    def settings(self) -> LiveKitSettings:
        return LiveKitSettings(self.url, KEY, SECRET)

    def serves(self, room: str) -> bool:
        """Whether this node hosts ``room``: a room lives on one node, which starts each of
        its participants' sessions (the other nodes only relay their signalling)."""
        text = self.log.read_text(errors="replace")
        return any(f'"room": "{room}"' in line for line in text.splitlines() if "starting RTC session" in line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # a LiveKit node may linger on a polite signal
        self.process.wait(20)


@dataclass
class Worker:
    """One ``fireside livekit`` worker, registered at the LiveKit server at ``url``."""

    name: str
    process: subprocess.Popen
    url: str
    lines: list[str] = field(default_factory=list)  # what it has said (stdout and stderr)

    def rooms(self) -> list[str]:
        """The rooms this worker's avatar joined, from its log."""
        return [m.group(1) for line in list(self.lines) if (m := re.search(r"is in room '([^']+)'", line))]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Cluster:
    """Redis, ``nodes`` LiveKit nodes sharing it, and workers started on them; stop() ends all."""

    def __init__(self, nodes: int = 2, folder: Path | None = None):
        if not LIVEKIT.exists():
            raise LiveKitError(f"no LiveKit server at {LIVEKIT}: make livekit-server builds it")
        if shutil.which("redis-server") is None:
            raise LiveKitError("redis-server is not installed (Debian: apt-get install redis-server; make setup does)")
        self.folder = folder or Path(tempfile.mkdtemp(prefix="fireside-nodes-"))
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.nodes: list[Node] = []
        self.workers: list[Worker] = []
        try:
            _redis_answers(self.redis_port, 20)
            for i in range(nodes):
                self.nodes.append(start_node(f"node{i + 1}", f"127.0.0.1:{self.redis_port}", self.folder))
        except BaseException:
            self.stop()
            raise

    def start_worker(self, node: Node, config: Path, persona: str = "ada") -> Worker:
        """A worker registered at ``node`` (see :func:`start_worker`), stopped with the cluster."""
        worker = start_worker(node.settings, config, persona, name=f"worker{len(self.workers) + 1}")
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for node in self.nodes:
            node.stop()
        if self.redis.poll() is None:
            self.redis.kill()
        self.redis.wait(20)


def start_worker(
    settings: LiveKitSettings, config: Path, persona: str = "ada", name: str = "worker", seconds: float = 600
) -> Worker:
    """``fireside livekit --persona ID`` in a child process, registered at ``settings``'
    server: returned once it says it waits for rooms (it warms every persona first)."""
    env = {
        **os.environ,
        "LIVEKIT_URL": settings.url,
        "LIVEKIT_API_KEY": settings.key,
        "LIVEKIT_API_SECRET": settings.secret,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stage.tools.cli", "--config", str(config), "livekit", "--persona", persona],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    worker = Worker(name, process, settings.url)
    registered = threading.Event()

    def read() -> None:  # every line kept; the registration line wakes the caller
        for line in process.stdout:
            worker.lines.append(line)
            if "waits for rooms" in line:
                registered.set()
        registered.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + seconds
    while not registered.wait(0.5):
        if time.monotonic() > deadline:
            break
    if process.poll() is not None or not any("waits for rooms" in line for line in worker.lines):
        worker.stop()
        tail = "".join(worker.lines[-5:]).strip()
        raise LiveKitError(f"{name} did not register at {settings.url}: {tail or 'no output'}")
    return worker


def start_node(name: str, redis: str | None, folder: Path, seconds: float = 60) -> Node:
    """A LiveKit node (dev keys) on free loopback ports, sharing rooms through ``redis``
    (``HOST:PORT``; None: a node alone)."""
    port, udp, tcp = free_port(), free_port(), free_port()
    log = folder / f"{name}.log"
    shared = ["--redis-host", redis] if redis else []
    body = f"rtc: {{tcp_port: {tcp}}}\n{AGENTS_CONFIG}"
    process = subprocess.Popen(
        [str(LIVEKIT), "--dev", "--bind", "127.0.0.1", "--port", str(port), "--node-ip", "127.0.0.1"]
        + ["--udp-port", str(udp), *shared, "--config-body", body],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        answering(process, f"http://127.0.0.1:{port}/", seconds, f"LiveKit node {name} did not start (see {log})")
    except RuntimeError as err:
        process.kill()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise LiveKitError(f"{err}: {tail[0] if tail else 'no output'}") from None
    return Node(name, process, f"ws://127.0.0.1:{port}", log)


def _redis_answers(port: int, seconds: float) -> None:
    """Until Redis answers PING on ``port``, or a :class:`LiveKitError`."""
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.2)
    raise LiveKitError(f"redis-server did not answer on port {port}")
