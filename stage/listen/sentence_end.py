"""Whether the words so far end the person's turn, from what they say: the
probability Qwen2.5-Coder-0.5B-Instruct (as it ships, from the bundled GGUF
parts) gives to the user's message ending after them, read as LiveKit's
turn detector reads its own fine-tuned Qwen2.5-0.5B: the words lowercased
and stripped of punctuation, put in the chat template as the user's
message, and the next token's probability of being the end of the message
(``<|im_end|>``) or an end mark (``?``, ``.``, ``!``, which an untuned model
puts first). "Can you tell me how": 0.00003; "... how deposit insurance
works": 0.36.

The template's head is evaluated once, and each call reuses the tokens it
shares with the last words scored (``warm`` scores nothing, only evaluates:
the transcriber feeds it each partial transcript where it is made), so
that in a pause only the last words are new: 51 ms a call (p50, one
thread; 113 ms p95), where a whole question read cold takes 100-130 ms.
One thread, so that it leaves a core to the answer being drafted."""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from stage.core.paths import qwen_gguf

MODEL = "qwen2.5-0.5b"
HEAD = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
ENDS = ("<|im_end|>", "?", ".", "!")
WORDS = 40  # the last words read (the context holds 128 tokens)


def normalized(text: str) -> str:
    """Lowercased, punctuation gone but for apostrophes and hyphens within words (as LiveKit's detector reads)."""
    return " ".join(re.sub(r"[^\w'\- ]|(?<!\w)[-']|[-'](?!\w)", " ", text.lower()).split()[-WORDS:])


class SentenceEnd:
    """The probability that ``text`` ends the person's turn."""

    _model = None  # one llama.cpp context per process, shared by every listener
    _ends: list[int] = []
    _head = 0  # tokens of the template's head, evaluated once
    _lock = threading.Lock()

    def __init__(self):
        with SentenceEnd._lock:
            if SentenceEnd._model is None:
                from llama_cpp import Llama

                model = Llama(str(qwen_gguf(MODEL)), n_ctx=128, n_threads=1, verbose=False)
                SentenceEnd._ends = [model.tokenize(end.encode(), add_bos=False, special=True)[0] for end in ENDS]
                model.eval(model.tokenize(HEAD.encode(), add_bos=False, special=True))
                SentenceEnd._head = model.n_tokens
                SentenceEnd._model = model
        self.compute: list[float] = []  # seconds taken by each call that scored

    def warm(self, text: str) -> None:
        """Evaluate ``text``'s tokens now, so that a later call on words that begin the same way is quick."""
        words = normalized(text)
        if words:
            with SentenceEnd._lock:
                self._evaluate(words)

    def __call__(self, text: str) -> float:
        words = normalized(text)
        if not words:
            return 0.0
        started = time.perf_counter()
        with SentenceEnd._lock:
            logits = self._evaluate(words)
        odds = np.exp(logits - logits.max())
        self.compute.append(time.perf_counter() - started)
        return float(odds[SentenceEnd._ends].sum() / odds.sum())

    @staticmethod
    def _evaluate(words: str) -> np.ndarray:
        """The next token's logits after ``words``, evaluating only the tokens not shared with the last call's."""
        import llama_cpp

        model, head = SentenceEnd._model, SentenceEnd._head
        tokens = model.tokenize(words.encode(), add_bos=False)
        done = model.input_ids[head : model.n_tokens]
        shared = 0
        while shared < min(len(done), len(tokens) - 1) and done[shared] == tokens[shared]:
            shared += 1
        model.n_tokens = head + shared  # llama.cpp drops the cache past this on the next eval
        model.eval(tokens[shared:])
        last = llama_cpp.llama_get_logits_ith(model.ctx, -1)
        return np.ctypeslib.as_array(last, shape=(model.n_vocab(),)).astype(np.float64)
