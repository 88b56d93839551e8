"""Rehearsal: the demo show rendered start to end, against its length."""

from __future__ import annotations

import tempfile
from pathlib import Path

from stage.core.config import FiresideConfig
from stage.core.paths import SHOWS
from stage.offline.rehearsal import rehearse
from stage.panel.show import load_show
from stage.think.persona import load_personas
from stage.tools.bench.common import record
from voices.catalog import VoiceCatalog


def bench_rehearse(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """The demo show rendered start to end (models loaded, every answer
    thought and voiced, every frame drawn and encoded), against its length."""
    cards = load_personas(Path(config.personas.folder) if config.personas.folder else None)
    show = load_show(SHOWS / "demo.yaml", cards, VoiceCatalog(config.voices.catalog))
    rounds = 1 if quick else 2
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="fireside-bench-") as folder:
            results.append(rehearse(show, cards, config, Path(folder)))
    best = min(results, key=lambda r: r.seconds)
    duration = best.plan.duration
    return [
        record("rehearse.show_seconds", duration, "s (the demo show's length)"),
        record("rehearse.wall_seconds", best.seconds, "s (load, think, voice, draw, encode, write)"),
        record("rehearse.real_time_multiple", duration / best.seconds, "x real time (2 cores)"),
        record("rehearse.planning_seconds", best.plan.thinking_seconds, "s (thinking and voicing, beside the drawing)"),
        record("rehearse.frames_per_second", duration * config.avatar.fps / best.seconds, "frames/s (1280x720)"),
    ]
