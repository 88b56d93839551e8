"""``fireside bench``: speed figures as ``{"name", "value", "unit"}`` records.

Figures, not pass/fail: the tests never time anything.
"""

from __future__ import annotations

import os
import statistics
import time

from stage.config import FiresideConfig


def run(name: str, config: FiresideConfig, quick: bool = False, llm: list[str] = ()) -> list[dict]:
    if name == "think":
        return bench_think(config, quick, llm)
    return {"render": bench_render, "tts": bench_tts, "listen": bench_listen}[name](config, quick)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _record(name: str, value: float, unit: str) -> dict:
    return {"name": name, "value": round(float(value), 4), "unit": unit}


def _one_core() -> None:
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def bench_render(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Frames per second on one core, per rig, while speaking."""
    from avatar.face import FaceAnimator
    from avatar.rigs import load_rig
    from avatar.rigs.photo import sample_portrait
    from stage.events import PhonemeSpan

    _one_core()
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
        records.append(_record(f"render.{label}.fps", fps, f"frames/s ({size}x{size}, 1 core)"))
        records.append(_record(f"render.{label}.core_share_at_25fps", 25 / fps, "cores"))
    return records


def bench_tts(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Time to first audio for a short sentence, and the real-time factor."""
    from voices.catalog import VoiceCatalog

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
    paragraph = ("Open banking lets customers share their data with trusted providers. "
                 "It has changed how banks compete, and regulators now watch it closely. "
                 "The next step is real-time payments across borders.")
    start = time.perf_counter()
    audio = sum(piece.audio.duration for piece in engine.synthesize(paragraph))
    synth = time.perf_counter() - start
    return [
        _record(f"tts.{entry.id}.load", load * 1000, "ms"),
        _record(f"tts.{entry.id}.first_audio.p50", statistics.median(firsts) * 1000, "ms"),
        _record(f"tts.{entry.id}.first_audio.p95", _percentile(firsts, 0.95) * 1000, "ms"),
        _record(f"tts.{entry.id}.real_time_factor", synth / audio, "x (lower is faster)"),
    ]


# questions the demo personas answer from their knowledge with the model
# (not from approved answers, not with a holding line)
THINK_QUESTIONS = [
    ("ada", "When did FPS launch?"), ("ada", "Why are cross-border payments slow?"),
    ("ada", "How do regulators treat AI models in banks?"), ("ada", "What is open finance?"),
    ("ada", "Where do banks use generative AI today?"), ("ravi", "How do banks detect fraud?"),
    ("ravi", "Tell us about the deepfake video call case."), ("ravi", "What is model risk?"),
    ("ravi", "How do banks manage AI model risk?"), ("ravi", "Can a fraud model be unfair?"),
]


def bench_think(config: FiresideConfig, quick: bool = False, urls: list[str] = ()) -> list[dict]:
    """Time to the first speakable clause, p50 and p95, per model backend."""
    import asyncio

    from stage.events import AnswerEnd
    from stage.persona import load_personas
    from stage.think import thinker_for

    cards = load_personas(config.personas.folder)
    rounds = 1 if quick else 3
    records = []
    for backend in ["embedded", *urls]:
        thinkers = {pid: thinker_for(card, config, backend) for pid, card in cards.items()}
        for thinker in thinkers.values():
            thinker.warm()

        async def measure() -> tuple[list[float], list[float]]:
            firsts, tokens = [], []
            for _ in range(rounds):
                for pid, question in THINK_QUESTIONS:
                    async for event in thinkers[pid].answer(question):
                        if isinstance(event, AnswerEnd):
                            firsts.append(event.timings["first_clause_ms"])
                            if "first_token_ms" in event.timings:
                                tokens.append(event.timings["first_token_ms"])
            return firsts, tokens

        firsts, tokens = asyncio.run(measure())
        label = "embedded" if backend == "embedded" else backend
        records += [
            _record(f"think.{label}.first_clause.p50", _percentile(firsts, 0.5), "ms"),
            _record(f"think.{label}.first_clause.p95", _percentile(firsts, 0.95), "ms"),
            _record(f"think.{label}.first_token.p50", _percentile(tokens, 0.5), "ms"),
        ]
    return records


LISTEN_QUESTIONS = [
    "What does open banking mean for small businesses?",
    "How can banks protect older customers from fraud?",
    "Do you think digital currencies will replace cash?",
    "Could artificial intelligence change how people pay for things?",
    "What should a bank do first with generative AI?",
]


def bench_listen(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """End of speech to final transcript, and the real-time factor, on
    Piper-made questions of about three seconds fed as a live stream."""
    import numpy as np

    from stage.events import TurnEnded
    from stage.listen import Listener, settings_from
    from voices.catalog import VoiceCatalog

    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    rate = engine.sample_rate
    step = rate // 50  # 20 ms packets, as a call delivers them
    after_decision, speech_to_final, audio_seconds, wall = [], [], 0.0, 0.0
    questions = LISTEN_QUESTIONS[:2] if quick else LISTEN_QUESTIONS * 2
    for question in questions:
        pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(question)]).astype(np.float32) / 32768
        audio = np.concatenate([np.zeros(rate // 2, np.float32), pcm, np.zeros(rate * 2, np.float32)])
        listener = Listener(settings_from(config), sample_rate=rate)
        start = time.perf_counter()
        turns = []
        for i in range(0, len(audio), step):
            turns += [e for e in listener.feed(audio[i:i + step]) if isinstance(e, TurnEnded)]
        wall += time.perf_counter() - start
        audio_seconds += len(audio) / rate
        if turns:
            compute = listener.final_compute[0]
            after_decision.append(compute * 1000)
            speech_to_final.append((turns[0].decided - turns[0].end + compute) * 1000)
    return [
        _record("listen.final_after_decision.p50", _percentile(after_decision, 0.5), "ms"),
        _record("listen.final_after_decision.p95", _percentile(after_decision, 0.95), "ms"),
        _record("listen.end_of_speech_to_final.p50", _percentile(speech_to_final, 0.5), "ms"),
        _record("listen.end_of_speech_to_final.p95", _percentile(speech_to_final, 0.95), "ms"),
        _record("listen.real_time_factor", wall / audio_seconds, "x (lower is faster)"),
    ]
