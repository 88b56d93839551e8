"""Listening: from the end of speech to the end of the turn, with real Whisper."""

from __future__ import annotations

import time

import numpy as np

from stage.core.config import FiresideConfig
from stage.core.events import TurnEnded
from stage.listen.listener import Listener, settings_from
from stage.tools.bench.common import percentile, record
from voices.catalog import VoiceCatalog

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
            turns += [e for e in listener.feed(audio[i : i + step]) if isinstance(e, TurnEnded)]
        wall += time.perf_counter() - start
        audio_seconds += len(audio) / rate
        if turns:
            compute = listener.final_compute[0]
            after_decision.append(compute * 1000)
            speech_to_final.append((turns[0].decided - turns[0].end + compute) * 1000)
    return [
        record("listen.final_after_decision.p50", percentile(after_decision, 0.5), "ms"),
        record("listen.final_after_decision.p95", percentile(after_decision, 0.95), "ms"),
        record("listen.end_of_speech_to_final.p50", percentile(speech_to_final, 0.5), "ms"),
        record("listen.end_of_speech_to_final.p95", percentile(speech_to_final, 0.95), "ms"),
        record("listen.real_time_factor", wall / audio_seconds, "x (lower is faster)"),
    ]
