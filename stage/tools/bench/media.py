"""Drawing and voicing: frames per second per rig, and the voice engines' speed."""

from __future__ import annotations

import statistics
import time

from avatar.face import FaceAnimator
from avatar.rigs import load_rig
from avatar.rigs.photo import sample_portrait
from stage.core.config import FiresideConfig
from stage.core.events import PhonemeSpan
from stage.tools.bench.common import one_core, percentile, record
from voices.catalog import VoiceCatalog


def bench_render(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Frames per second on one core, per rig, while speaking."""
    one_core()
    size = config.avatar.size
    # a steady stream of syllables, so the mouth, lids and head all move
    syllables = [PhonemeSpan(p, i * 0.09, (i + 1) * 0.09, i % 4 == 1) for i, p in enumerate("hɛlobamisuθɔfæ" * 40)]
    frames = 50 if quick else 500
    records = []
    for label, spec in (("stylized", "stylized"), ("photo", f"photo:{sample_portrait()}")):
        rig = load_rig(spec, size)
        face = FaceAnimator(fps=25)
        face.add_speech(syllables)
        states = [face.state_at(i / 25) for i in range(frames)]
        rig.draw(states[0])  # warm caches
        start = time.perf_counter()
        for state in states:
            rig.draw(state)
        fps = frames / (time.perf_counter() - start)
        records.append(record(f"render.{label}.fps", fps, f"frames/s ({size}x{size}, 1 core)"))
        records.append(record(f"render.{label}.core_share_at_25fps", 25 / fps, "cores"))
    return records


def bench_tts(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Time to first audio for a short sentence, and the real-time factor."""
    catalog = VoiceCatalog(config.voices.catalog)
    entry = catalog.get(config.voices.default)
    start = time.perf_counter()
    engine = catalog.engine(entry.id)
    load = time.perf_counter() - start
    next(iter(engine.synthesize("Warming up.")))
    rounds = 3 if quick else 15
    firsts = []
    for _ in range(rounds):
        start = time.perf_counter()
        next(iter(engine.synthesize("That's a great question.")))
        firsts.append(time.perf_counter() - start)
    paragraph = (
        "Open banking lets customers share their data with trusted providers. "
        "It has changed how banks compete, and regulators now watch it closely. "
        "The next step is real-time payments across borders."
    )
    start = time.perf_counter()
    audio = sum(piece.audio.duration for piece in engine.synthesize(paragraph))
    synth = time.perf_counter() - start
    return [
        record(f"tts.{entry.id}.load", load * 1000, "ms"),
        record(f"tts.{entry.id}.first_audio.p50", statistics.median(firsts) * 1000, "ms"),
        record(f"tts.{entry.id}.first_audio.p95", percentile(firsts, 0.95) * 1000, "ms"),
        record(f"tts.{entry.id}.real_time_factor", synth / audio, "x (lower is faster)"),
    ]
