"""The reader: how likely a sentence of the knowledge is to answer a question.

Retrieval finds the passages about a question; the reader picks, among
their sentences, the one that answers it, and says when none does. It is a
logistic model over what a careful reader looks at (``FEATURES``): how
close the sentence's meaning is to the question's (MiniLM cosine), how many
of the question's words, word pairs and names it has, whether its passage
is the best one and its heading the question's topic, whether it has the
kind of thing asked for (a number, a date, a name), and what it adds that
the question does not say.

Its weights (``reader.json``, a few numbers) are fitted by
``python -m stage.tools.train_reader`` on the questions of the SQuAD 2.0
file shared with the project and on the dev split of the project's own
question set; every other question is left for judging it. It scores the
forty-odd sentences of six passages in about a millisecond, so it adds
nothing a caller would hear. An instruct model as judge (Qwen2.5-Coder
0.5B, one forward pass over a numbered list of five sentences, 213 tokens)
took 1.4 s on two cores: longer than the whole answer may take.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("reader.json")

FEATURES = (
    "similarity",  # the sentence's meaning against the question's (MiniLM cosine)
    "best_similarity",  # the closest sentence of all: is the question about the knowledge at all?
    "heading",  # the passage's heading against the question
    "passage_rank",  # 0 for the best passage, 1 for the next ...
    "best_passage",  # 1 in the best passage
    "words",  # the share of the question's words the sentence has
    "rare_words",  # ... each word weighed by its rarity in the knowledge
    "passage_words",  # ... its passage (and heading) has
    "rare_passage_words",  # ... weighed by rarity
    "pairs",  # the share of the question's word pairs the sentence has in the same order
    "names",  # the share of the question's names and numbers the sentence has
    "passage_names",  # ... its passage has
    "typed",  # 1 when it has the kind of thing asked for, 0 when not, 0.5 when nothing particular is asked
    "new_words",  # the share of its words the question does not have (what it adds)
    "position",  # its place in its passage (0 first)
    "length",  # its length, log words
)


class Reader:
    """The logistic model; ``probability`` of each candidate's answering."""

    def __init__(self, weights: np.ndarray, bias: float, mean: np.ndarray, scale: np.ndarray, threshold: float):
        self.weights, self.bias, self.mean, self.scale = weights, bias, mean, scale
        self.threshold = threshold  # below it, no sentence answers: the persona holds

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "Reader":
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: fitted on other features; run python -m stage.tools.train_reader")
        return cls(
            np.asarray(data["weights"], np.float64),
            float(data["bias"]),
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scale"], np.float64),
            float(data["threshold"]),
        )

    def probability(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))


@functools.lru_cache(maxsize=1)
def reader() -> Reader:
    return Reader.load()
