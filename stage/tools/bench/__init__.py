"""``fireside bench``: speed figures as ``{"name", "value", "unit"}`` records.

Figures, not pass/fail: the tests never time anything. One module per kind
of work: media (render, tts), faces (avatar), answers (think, answers), listening (listen), turns,
live (call, panel), rooms (livekit), rehearsal (rehearse), fuzz (generated bad input) and
soak (a long call).
"""

from __future__ import annotations

import importlib

from stage.core.config import FiresideConfig

MODULES = {
    "render": "media",
    "avatar": "faces",
    "tts": "media",
    "think": "answers",
    "answers": "answers",
    "listen": "listening",
    "turns": "turns",
    "call": "live",
    "panel": "live",
    "livekit": "rooms",
    "rehearse": "rehearsal",
    "fuzz": "fuzz",
    "soak": "soak",
    "translate": "translation",
    "chinese": "chinese",
    "booth": "booth",
}


def run(
    name: str,
    config: FiresideConfig,
    quick: bool = False,
    llm: list[str] = (),
    url: str | None = None,
    minutes: float | None = None,
    calibrate: bool = False,
    nodes: int = 1,
) -> list[dict]:
    """The figures of benchmark ``name`` (its module is imported only now: each needs its own models)."""
    bench = getattr(importlib.import_module(f"stage.tools.bench.{MODULES[name]}"), f"bench_{name}")
    if name in ("think", "answers"):
        return bench(config, quick, llm)
    if name == "call":
        return bench(config, quick, url)
    if name == "soak":
        return bench(config, quick, minutes)
    if name == "turns":
        return bench(config, quick, calibrate)
    if name == "livekit":
        return bench(config, quick, nodes, llm)
    return bench(config, quick)
