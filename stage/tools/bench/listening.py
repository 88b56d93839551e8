"""Listening: from the end of speech to the end of the turn, with real
Whisper; and the helpers that say and hear utterances for the turn-taking
bench (``stage.tools.bench.turns``) and the tests."""

from __future__ import annotations

import time

import numpy as np

from stage.core.config import FiresideConfig
from stage.core.events import FalseInterruption, Interrupted, TurnEnded
from stage.listen.listener import Listener
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
        listener = Listener(config.listen, sample_rate=rate)
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


# -- saying and hearing, for the turn-taking bench and the tests -----------------
def spoken(engine, text: str) -> tuple[np.ndarray, list[float]]:
    """``text`` said by ``engine`` (float32 at its rate), and where each phoneme ends (s)."""
    pieces = list(engine.synthesize(text))
    ends, offset = [], 0.0
    for piece in pieces:
        ends += [p.end + offset for p in piece.phonemes if p.phoneme]
        offset += piece.audio.duration
    return np.concatenate([p.audio.pcm for p in pieces]).astype(np.float32) / 32768, ends


def paused(engine, first: str, rest: str, pause: float) -> tuple[np.ndarray, float]:
    """One question said whole, with ``pause`` seconds of silence let in after
    ``first`` (the words before it keep the voice's mid-sentence tune), and
    where the speech after the pause starts (s)."""
    audio, ends = spoken(engine, f"{first} {rest}")
    cut = round(ends[len(spoken(engine, first)[1]) - 1] * engine.sample_rate)
    gap = np.zeros(round(pause * engine.sample_rate), np.float32)
    return np.concatenate([audio[:cut], gap, audio[cut:]]), (cut + len(gap)) / engine.sample_rate


def cough(rate: int, seed: int = 0) -> np.ndarray:
    """Two short bursts of shaped noise, as a cough sounds to a microphone."""
    rng = np.random.default_rng(seed)
    bursts = []
    for length in (0.22, 0.16):
        n = round(length * rate)
        envelope = np.minimum(1.0, np.arange(n) / (0.01 * rate)) * np.exp(-np.arange(n) / (0.07 * rate))
        burst = np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same") * envelope * 0.6
        bursts += [burst.astype(np.float32), np.zeros(round(0.12 * rate), np.float32)]
    return np.concatenate(bursts)


def listen_to(audio: np.ndarray, rate: int, settings, avatar: bool = False) -> tuple[list, Listener]:
    """Every event of ``audio`` fed 20 ms at a time; ``avatar``: the avatar
    speaks from the start, is paused by an interruption and goes on after a
    false one, as a call's would."""
    listener = Listener(settings, sample_rate=rate)
    listener.avatar_speaking = avatar
    events, step = [], rate // 50
    for i in range(0, len(audio), step):
        for event in listener.feed(audio[i : i + step]):
            events.append(event)
            if isinstance(event, Interrupted):
                listener.avatar_speaking = False
            elif isinstance(event, FalseInterruption):
                listener.avatar_speaking = True
    return events + listener.finish(), listener
