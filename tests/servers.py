"""Real servers for the tests: llama.cpp's OpenAI-compatible server on the
embedded GGUF, vLLM (its CPU build, in its own virtual environment) and the
LiveKit server (built with Go by `make livekit-server`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from stage.transport.rooms.connect import AGENTS_CONFIG
from tests import waiting

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process of its own, ready once ``health`` answers 200."""

    def __init__(
        self,
        cmd: list[str],
        port: int,
        env: dict | None = None,
        log: Path | None = None,
        url: str | None = None,
        health: str | None = None,
    ):
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}/v1"
        self.health = health or f"{self.url}/models"
        self.log = log
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> "Server":
        deadline = time.monotonic() + waiting.seconds(timeout)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-3000:] if self.log else ""
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.health, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout} s")

    def models(self) -> list[str]:
        with urllib.request.urlopen(f"{self.url}/models", timeout=5) as r:
            return [m["id"] for m in json.load(r)["data"]]

    def kill(self) -> None:
        """Die at once, as a crashed server does."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def llama_server(gguf: Path, log: Path | None = None) -> Server:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--model_alias",
        "smollm2",
        "--n_threads",
        "2",
    ]
    return Server(cmd, port, log=log).wait_ready(120)


def vllm_python() -> Path | None:
    python = Path(os.environ.get("FIRESIDE_VLLM_PYTHON", ROOT / ".venv-vllm" / "bin" / "python"))
    return python if python.exists() else None


LIVEKIT = ROOT / "build" / "livekit-server"
LIVEKIT_KEY, LIVEKIT_SECRET = "devkey", "secret"  # the keys of --dev


def livekit_server(log: Path | None = None, ports: tuple[int, int, int] | None = None) -> Server:
    """The open-source LiveKit server in dev mode on free loopback ports (or
    ``ports``, to start it again where it was): signalling on ``url``, media
    over one UDP and one TCP port."""
    port, tcp, udp = ports or (free_port(), free_port(), free_port())
    cmd = [
        str(LIVEKIT),
        "--dev",
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--node-ip",
        "127.0.0.1",
        "--udp-port",
        str(udp),
        "--config-body",
        f"rtc: {{tcp_port: {tcp}}}\n" + AGENTS_CONFIG,
    ]
    server = Server(cmd, port, log=log, url=f"ws://127.0.0.1:{port}", health=f"http://127.0.0.1:{port}/")
    server.ports = (port, tcp, udp)
    return server.wait_ready(60)
