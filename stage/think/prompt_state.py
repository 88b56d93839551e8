"""Evaluated prompts kept on disk, for the embedded model (``stage.think.llm``).

Evaluating a persona's system prompt takes seconds; llama.cpp's state after
it (17 MB for a persona) loads in milliseconds. It is saved keyed by the
model file, llama.cpp's version, the context size and the prompt, so the
next process (a server restart, a rehearsal, a test) starts warm.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from pathlib import Path

import numpy as np

from stage.core.paths import cache_dir


def state_file(model: Path, n_ctx: int, system_prompt: str) -> Path:
    """Where the state of ``system_prompt`` evaluated by ``model`` is kept."""
    import llama_cpp  # heavy: only once a model is loaded

    stat = model.stat()
    key = f"{model.name}:{stat.st_size}:{stat.st_mtime_ns}:{llama_cpp.__version__}:{n_ctx}:{system_prompt}"
    return cache_dir("prompts") / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def save_state(llama, path: Path) -> None:
    """A llama.cpp context's evaluated tokens and state, written whole (atomically) to ``path``."""
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llama._ctx.ctx, buffer, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
    np.savez(
        part, tokens=np.asarray(llama.input_ids[: llama.n_tokens]), state=np.frombuffer(buffer, np.uint8, count=written)
    )
    os.replace(part, path)


def restore_state(llama, path: Path) -> bool:
    """Load a saved evaluated prompt; False (and nothing changed) if it does not fit."""
    import llama_cpp

    try:
        with np.load(path) as saved:
            tokens, state = saved["tokens"], saved["state"]
    except (OSError, ValueError, KeyError):
        return False
    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state.tobytes())
    if len(tokens) > llama.n_ctx() or llama_cpp.llama_state_set_data(llama._ctx.ctx, buffer, len(state)) != len(state):
        llama.reset()
        return False
    llama.input_ids[: len(tokens)] = tokens
    llama.n_tokens = len(tokens)
    return True
