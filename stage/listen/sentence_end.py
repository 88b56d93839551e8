"""Whether the words so far make a whole sentence, from what they say: the
probability a small language model (SmolLM2-135M, the embedded default's
file, a context of its own) gives to the next token being a full stop, a
question mark or an exclamation mark, read after the words lowercased and
stripped of Whisper's punctuation. LiveKit's turn detector reads the
transcript the same way, with a model trained for it; this one is not, and
tells "Can you tell me how" (0.003) from "Can you tell me how deposit
insurance works" (0.6) all the same."""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from stage.core.paths import smollm2_gguf

_ENDS = ("?", ".", "!")


class SentenceEnd:
    """The probability that ``text`` is a whole sentence."""

    _model = None  # one llama.cpp context per process, shared by every listener
    _ends: list[int] = []
    _lock = threading.Lock()

    def __init__(self):
        with SentenceEnd._lock:
            if SentenceEnd._model is None:
                from llama_cpp import Llama

                model = Llama(str(smollm2_gguf()), n_ctx=128, n_threads=1, logits_all=True, verbose=False)
                SentenceEnd._ends = [model.tokenize(mark.encode(), add_bos=False)[0] for mark in _ENDS]
                SentenceEnd._model = model
        self.compute: list[float] = []  # seconds taken by each call

    def __call__(self, text: str) -> float:
        words = " ".join(re.sub(r"[^\w' ]", " ", text.lower()).split()[-40:])
        if not words:
            return 0.0
        started = time.perf_counter()
        model = SentenceEnd._model
        with SentenceEnd._lock:
            model.reset()
            model.eval(model.tokenize(f"<|im_start|>user\n{words}".encode(), add_bos=False, special=True))
            logits = np.array(model.scores[model.n_tokens - 1], np.float64)
        odds = np.exp(logits - logits.max())
        self.compute.append(time.perf_counter() - started)
        return float(odds[SentenceEnd._ends].sum() / odds.sum())
