"""Fit the reader (``stage/think/reader.json``): ``python -m stage.tools.train_reader``.

The reader is a logistic model over a sentence's features
(``stage.think.reader.FEATURES``). It is fitted on:
- the SQuAD 2.0 file shared with the project (``shared/data``): every
  sentence of the passages retrieved for a question is a positive when it
  holds a gold answer, a negative otherwise (all of an unanswerable
  question's are);
- the dev split of the project's own question set: a sentence of the
  expected section that states the key fact is a positive.
Its threshold is the least likely lead an answer may have: chosen so that
at most ``ANSWERABLE_HELD`` of the answerable questions it was fitted on are
held, which holds as many unanswerable ones as that allows. Each SQuAD
article is also left out in turn, to say how the reader does on an article
it was not fitted on. It takes about a minute; the result is a few numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from stage.think.compose import POOL, features
from stage.think.knowledge import Knowledge
from stage.think.persona import load_personas
from stage.think.reader import FEATURES, WEIGHTS
from stage.tools import squad
from stage.tools.evaluate import load_questions

ANSWERABLE_HELD = (
    0.01  # the share of answerable questions the threshold may hold (0.03 held a fifth of the own holdout split)
)
L2 = 1.0


@dataclass
class Example:
    group: str  # the SQuAD article, or "own"
    answerable: bool
    rows: np.ndarray  # one row of features per candidate sentence
    labels: np.ndarray  # 1 where the sentence answers


def _candidates(knowledge: Knowledge, question: str) -> tuple[list[int], np.ndarray]:
    similarity = knowledge.similarities(question)
    ranked = knowledge.rank(question, POOL, similarity)
    return features(question, [i for i, _ in ranked], knowledge, similarity)


def squad_examples(path: Path) -> list[Example]:
    folder, card, questions = squad.temporary_persona(path)
    with folder:
        knowledge = Knowledge(card)
        examples = []
        for q in questions:
            ids, rows = _candidates(knowledge, q.question)
            labels = np.array([float(squad._contains(knowledge.sentences[i], q.answers)) for i in ids])
            examples.append(Example(q.article, q.answerable, rows, labels))
    return examples


def own_examples() -> list[Example]:
    cards = load_personas()
    knowledge = {pid: Knowledge(card) for pid, card in cards.items()}
    examples = []
    for q in load_questions():
        if q.split != "dev":
            continue
        k = knowledge[q.persona]
        ids, rows = _candidates(k, q.question)
        labels = np.array(
            [
                float(
                    k.passages[k.owner[i]].source == q.address
                    and any(key.lower() in k.sentences[i].lower() for key in q.key)
                )
                for i in ids
            ]
        )
        examples.append(Example("own", not q.out_of_knowledge, rows, labels))
    return examples


def fit(examples: list[Example]) -> dict:
    used = [e for e in examples if len(e.rows)]
    rows = np.vstack([e.rows for e in used])
    labels = np.concatenate([e.labels for e in used])
    # each source of questions weighs alike, however many questions it has
    groups = {e.group: 0 for e in used}
    for e in used:
        groups[e.group] += len(e.rows)
    weights = np.concatenate([np.full(len(e.rows), len(rows) / (len(groups) * groups[e.group])) for e in used])
    mean, scale = rows.mean(0), rows.std(0) + 1e-6
    x = (rows - mean) / scale

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        eps = 1e-9
        value = -np.sum(weights * (labels * np.log(p + eps) + (1 - labels) * np.log(1 - p + eps)))
        value += L2 * theta[:-1] @ theta[:-1]
        grad = np.append(x.T @ (weights * (p - labels)) + 2 * L2 * theta[:-1], np.sum(weights * (p - labels)))
        return value, grad

    theta = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    model = {
        "features": list(FEATURES),
        "weights": theta[:-1].tolist(),
        "bias": float(theta[-1]),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
    }
    model["threshold"] = threshold(model, examples)
    return model


def leads(model: dict, examples: list[Example]) -> list[tuple[float, bool]]:
    """Each question's most likely sentence's probability, and whether that sentence answers."""
    out = []
    for e in examples:
        if not len(e.rows):
            out.append((0.0, False))
            continue
        z = ((e.rows - model["mean"]) / model["scale"]) @ model["weights"] + model["bias"]
        p = 1 / (1 + np.exp(-z))
        best = int(np.argmax(p))
        out.append((float(p[best]), bool(e.labels[best])))
    return out


def threshold(model: dict, examples: list[Example]) -> float:
    answerable = sorted(p for (p, _), e in zip(leads(model, examples), examples) if e.answerable and len(e.rows))
    return float(answerable[int(ANSWERABLE_HELD * len(answerable))]) if answerable else 0.0


def report(model: dict, examples: list[Example], label: str) -> None:
    found = leads(model, examples)
    answerable = [(p, right) for (p, right), e in zip(found, examples) if e.answerable]
    unanswerable = [p for (p, _), e in zip(found, examples) if not e.answerable]
    t = model["threshold"]
    print(
        f"{label}: lead answers {100 * np.mean([r for _, r in answerable]):.1f}% of answerable; "
        f"answerable held {100 * np.mean([p < t for p, _ in answerable]):.1f}%; "
        f"unanswerable held {100 * np.mean([p < t for p in unanswerable]):.1f}% (threshold {t:.3f})",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=squad.DEFAULT_FILE, help="a SQuAD 2.0 file")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        print(f"no SQuAD 2.0 file at {args.squad}: give one with --squad", file=sys.stderr)
        return 2
    examples = squad_examples(args.squad) + own_examples()
    articles = sorted({e.group for e in examples} - {"own"})
    for article in articles:  # how the reader does on an article it was not fitted on
        model = fit([e for e in examples if e.group != article])
        report(model, [e for e in examples if e.group == article], f"left out {article}")
    model = fit(examples)
    report(model, examples, "all")
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
