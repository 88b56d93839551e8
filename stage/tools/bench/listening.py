"""Listening: from the end of speech to the end of the turn, with real
Whisper, and turn-taking (Smart Turn, pauses, backchannels) on recorded
utterances."""

from __future__ import annotations

import time

import numpy as np

from stage.core.config import FiresideConfig
from stage.core.events import FalseInterruption, Interrupted, TurnEnded
from stage.listen.listener import Listener
from stage.tools.bench.common import percentile, record, speech_end
from voices.catalog import VoiceCatalog, load_engine

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


# -- turn-taking ---------------------------------------------------------------
# Questions with a place to pause (after the first part), none of them used to
# choose the end-of-turn rule or its threshold, nor in the tests
TURN_QUESTIONS = [
    ("What is the role of", "a central bank in a crisis?"),
    ("I was wondering", "how banks detect fraud."),
    ("Tell me about", "the risks of crypto assets."),
    ("Could you explain why", "interest rates went up last year?"),
    ("My question is about", "the future of cash."),
    ("How do small firms", "get loans from their banks?"),
    ("I would like to know", "what stablecoins are."),
    ("Can you tell me how", "deposit insurance works?"),
    ("What happens when", "a bank fails?"),
    ("Is it true that", "cheques are being phased out?"),
]
BACKCHANNELS = ["Mm-hmm.", "Right.", "Yes.", "Uh-huh.", "Okay.", "I see.", "Yeah.", "Ha ha ha.", "Ahem!"]
TURN_VOICES = [("joe", 0.85), ("joe", 1.0), ("joe", 1.2), ("espeak-en", 0.8), ("espeak-en", 1.0), ("espeak-en", 1.3)]
PAUSES = [0.3, 0.5, 0.7, 1.0]


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


def bench_turns(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """End of turn on recorded utterances (Piper and espeak-ng at several
    speaking rates): the delay on complete questions, false cut-offs on
    questions with a pause inside, and backchannels said over the avatar,
    with Smart Turn (the default) and with the old fixed 0.5 s of silence."""
    catalog = VoiceCatalog(config.voices.catalog)
    voices = TURN_VOICES[1::3] if quick else TURN_VOICES
    questions = TURN_QUESTIONS[:3] if quick else TURN_QUESTIONS
    backchannels = BACKCHANNELS[:3] if quick else BACKCHANNELS
    records = []
    for mode in ("smart-turn", "silence"):
        settings = config.listen
        settings.end_of_turn = mode
        delays, from_sound, waits, cutoffs, discards, pauses, resumes, compute = [], [], 0, 0, 0, 0, [], []
        tried = {"complete": 0, "paused": 0, "backchannel": 0}
        for n, (voice, speed) in enumerate(voices):
            engine = load_engine(catalog.get(voice).model_copy(update={"speaking_rate": speed}))
            rate = engine.sample_rate
            lead, tail = np.zeros(rate // 2, np.float32), np.zeros(round(2.6 * rate), np.float32)
            room = np.random.default_rng(n)
            for k, (first, rest) in enumerate(questions):
                audio, _ = spoken(engine, f"{first} {rest}")
                whole = np.concatenate([lead, audio, tail])
                whole += room.standard_normal(len(whole)).astype(np.float32) * 0.002  # a quiet room
                events, listener = listen_to(whole, rate, settings)
                ended = [e for e in events if isinstance(e, TurnEnded)]
                tried["complete"] += 1
                if listener.turns.model is not None:
                    compute += listener.turns.model.compute
                if ended:
                    # as LiveKit counts it: from the end of speech Silero heard, and
                    # the decision's own compute (Smart Turn's) on top
                    model = listener.turns.model
                    decision = model.compute[-1] if model is not None and model.compute else 0.0
                    delays.append(ended[0].decided - ended[0].end + decision)
                    from_sound.append(ended[0].decided - (0.5 + speech_end(audio, rate)) + decision)
                    waits += ended[0].decided - ended[0].end > 1.0
                audio, resumes_at = paused(engine, first, rest, PAUSES[(n + k) % len(PAUSES)])
                whole = np.concatenate([lead, audio, tail])
                whole += room.standard_normal(len(whole)).astype(np.float32) * 0.002
                events, _ = listen_to(whole, rate, settings)
                ended = [e for e in events if isinstance(e, TurnEnded)]
                tried["paused"] += 1
                cutoffs += len(ended) != 1 or ended[0].decided < 0.5 + resumes_at
            for k, word in enumerate([*backchannels, "(cough)"]):
                audio = cough(rate, k) if word == "(cough)" else spoken(engine, word)[0]
                whole = np.concatenate([lead, lead, audio, tail])
                events, _ = listen_to(whole, rate, settings, avatar=True)
                tried["backchannel"] += 1
                discards += any(isinstance(e, TurnEnded) for e in events)
                pauses += any(isinstance(e, Interrupted) for e in events)
                back = [e.at for e in events if isinstance(e, FalseInterruption)]
                if back:
                    resumes.append(back[0] - (1.0 + speech_end(audio, rate)))
        name = "turns" if mode == "smart-turn" else "turns.silence"
        records += [
            record(f"{name}.end_of_turn_delay.p50", 1000 * percentile(delays, 0.5), "ms"),
            record(f"{name}.end_of_turn_delay.p95", 1000 * percentile(delays, 0.95), "ms"),
            record(f"{name}.end_of_turn_after_the_sound.p50", 1000 * percentile(from_sound, 0.5), "ms"),
            record(f"{name}.complete_waited_over_1s", 100 * waits / tried["complete"], "%"),
            record(f"{name}.false_cutoffs", 100 * cutoffs / tried["paused"], "%"),
            record(f"{name}.backchannels_discarding", 100 * discards / tried["backchannel"], "%"),
            # before pausing came in, every one of these discarded the answer
            record(f"{name}.backchannels_pausing", 100 * pauses / tried["backchannel"], "%"),
            record(f"{name}.resume_after_backchannel.p50", 1000 * percentile(resumes or [0.0], 0.5), "ms"),
            record(f"{name}.utterances", sum(tried.values()), "utterances"),
        ]
        if compute:
            records += [
                record("turns.smart_turn_inference.p50", 1000 * percentile(compute, 0.5), "ms"),
                record("turns.smart_turn_inference.p95", 1000 * percentile(compute, 0.95), "ms"),
            ]
    return records
