"""Where the bundled models are: the folders of installed packages, found
without importing them (some packages' ``__init__`` needs what Fireside does
not install: torch, the ``llm`` tool)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(name: str, hint: str, error: type[Exception] = RuntimeError) -> Path:
    """The folder of the installed package ``name``; ``error`` with ``hint``
    (how to install it) when it is missing."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"{name} is not installed: {hint}")
    return Path(list(spec.submodule_search_locations)[0])
