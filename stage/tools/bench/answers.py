"""Thinking: time to the first clause, retrieval over many documents, and answer quality."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from stage.core.config import FiresideConfig
from stage.core.events import AnswerEnd
from stage.think import knowledge as kb
from stage.think.documents import FORMATS, DocumentError, read_document
from stage.think.embed import embedder
from stage.think.persona import load_personas
from stage.think.thinker import Thinker, collect, thinker_for
from stage.tools import squad
from stage.tools.bench.common import percentile, record
from stage.tools.evaluate import SPLITS, judge, load_questions

# questions the demo personas answer from their knowledge with the model
# (not from approved answers, not with a holding line)
THINK_QUESTIONS = [
    ("ada", "When did FPS launch?"),
    ("ada", "Why are cross-border payments slow?"),
    ("ada", "How do regulators treat AI models in banks?"),
    ("ada", "What is open finance?"),
    ("ada", "Where do banks use generative AI today?"),
    ("ravi", "How do banks detect fraud?"),
    ("ravi", "Tell us about the deepfake video call case."),
    ("ravi", "What is model risk?"),
    ("ravi", "How do banks manage AI model risk?"),
    ("ravi", "Can a fraud model be unfair?"),
]


def bench_think(config: FiresideConfig, quick: bool = False, urls: list[str] = ()) -> list[dict]:
    """Time to the first speakable clause, p50 and p95: extractive answers (no
    model), then generated ones per model backend; then retrieval over a large
    knowledge base."""
    cards = load_personas(config.personas.folder)
    rounds = 1 if quick else 3
    records = []
    for mode, backend in [("extractive", "embedded"), ("generated", "embedded"), *(("generated", u) for u in urls)]:
        thinkers = {pid: thinker_for(card, config, backend) for pid, card in cards.items()}
        for thinker in thinkers.values():
            thinker.mode = mode
            if mode == "generated":
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
        label = mode if backend == "embedded" else f"{mode}.{backend}"
        records += [
            record(f"think.{label}.first_clause.p50", percentile(firsts, 0.5), "ms"),
            record(f"think.{label}.first_clause.p95", percentile(firsts, 0.95), "ms"),
        ]
        if tokens:
            records.append(record(f"think.{label}.first_token.p50", percentile(tokens, 0.5), "ms"))
    return records + bench_retrieval(config, quick)


def bench_retrieval(
    config: FiresideConfig, quick: bool = False, folder: str = "/usr/share/doc", wanted: int = 2000
) -> list[dict]:
    """Hybrid retrieval over a knowledge base of at least ``wanted`` passages:
    the persona's own documents and the Markdown, HTML and text documentation
    Debian installs (real documents, on every machine). Index build time cold
    and from the cache, the memory the index takes, and retrieval's p50 and p95
    for the question set's questions."""
    card = load_personas(config.personas.folder)["ada"]
    wanted = 300 if quick else wanted
    documents, passages = [], sum(len(read_document(p, p.name)) for p in card.knowledge_paths())
    for path in sorted(Path(folder).rglob("*")):
        if passages >= wanted:
            break
        if path.is_file() and path.suffix.lower() in FORMATS and path.stat().st_size > 2000:
            try:
                passages += len(read_document(path))
            except DocumentError:
                continue
            documents.append(str(path))
    card = card.model_copy(update={"knowledge": [*card.knowledge, *documents]})
    embedder()  # loaded once, not counted as the index's

    def rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FIRESIDE_CACHE"], previous = cache, os.environ.get("FIRESIDE_CACHE")
        try:
            before, started = rss(), time.perf_counter()
            index = kb.Knowledge(card, progress=True)
            cold = time.perf_counter() - started
            memory = rss() - before
            started = time.perf_counter()
            index = kb.Knowledge(card)
            warm = time.perf_counter() - started
        finally:
            if previous is None:
                os.environ.pop("FIRESIDE_CACHE")
            else:
                os.environ["FIRESIDE_CACHE"] = previous
    questions = [q.question for q in load_questions()]
    times = []
    for question in questions * (1 if quick else 3):  # one after another, so each is embedded anew
        started = time.perf_counter()
        index.rank(question, 2)
        times.append((time.perf_counter() - started) * 1000)
    return [
        record("retrieval.documents", len(card.knowledge), "files"),
        record("retrieval.passages", len(index.passages), "passages"),
        record("retrieval.sentences", len(index.sentences), "sentences"),
        record("retrieval.build_cold", cold, "s"),
        record("retrieval.build_cached", warm, "s"),
        record("retrieval.index_memory", memory, "MiB"),
        record("retrieval.p50", percentile(times, 0.5), "ms"),
        record("retrieval.p95", percentile(times, 0.95), "ms"),
    ]


def bench_answers(config: FiresideConfig, quick: bool = False, urls: list[str] = ()) -> list[dict]:
    """Answer quality on the question set, per answer mode and split: correct
    with the right source, fragments, unsupported clauses, and out-of-knowledge
    questions declined. Every failure is printed, so a figure can be read."""
    cards = load_personas(config.personas.folder)
    questions = load_questions()
    if quick:
        questions = questions[::4]
    out = Console(stderr=True)
    records = []
    runs = [("extractive", "embedded"), ("generated", "embedded")] + [("generated", url) for url in urls]
    for mode, backend in runs:
        thinkers: dict[str, Thinker] = {}
        verdicts = []
        for q in questions:
            if q.persona not in thinkers:
                thinkers[q.persona] = thinker_for(cards[q.persona], config, backend)
                thinkers[q.persona].mode = mode
            events = asyncio.run(collect(thinkers[q.persona], q.question))
            verdicts.append(judge(q, events, thinkers[q.persona].knowledge))
        label = mode if backend == "embedded" else f"{mode}.{backend}"
        for split in SPLITS:
            chosen = [v for v in verdicts if v.question.split == split]
            inside = [v for v in chosen if not v.question.out_of_knowledge]
            outside = [v for v in chosen if v.question.out_of_knowledge]
            records += [
                record(
                    f"answers.{label}.{split}.correct", 100 * sum(v.correct for v in inside) / max(1, len(inside)), "%"
                ),
                record(
                    f"answers.{label}.{split}.first_sentence",
                    100 * sum(v.first for v in inside) / max(1, len(inside)),
                    "%",
                ),
                record(
                    f"answers.{label}.{split}.answerable_held",
                    100 * sum(v.outcome == "held" for v in inside) / max(1, len(inside)),
                    "%",
                ),
                record(f"answers.{label}.{split}.fragments", sum(v.fragment for v in chosen), "answers"),
                record(f"answers.{label}.{split}.unsupported", sum(len(v.unsupported) for v in chosen), "clauses"),
                record(
                    f"answers.{label}.{split}.held_out_of_knowledge",
                    100 * sum(v.correct for v in outside) / max(1, len(outside)),
                    "%",
                ),
            ]
        records += bench_squad(thinkers, mode, backend, label, quick, out)
        for v in verdicts:
            if not v.correct or v.fragment or v.unsupported:
                out.print(
                    f"[{label} {v.question.split}] {v.question.persona}: {v.question.question}\n"
                    f"  -> {v.outcome}: {v.answer}\n  sources {list(v.sources)}; expected {v.question.address} "
                    f"{list(v.question.key)}"
                    + (" FRAGMENT" if v.fragment else "")
                    + (f" UNSUPPORTED {v.unsupported}" if v.unsupported else ""),
                    highlight=False,
                    markup=False,
                )
    return records


def bench_squad(thinkers: dict, mode: str, backend: str, label: str, quick: bool, out: Console) -> list[dict]:
    """The same answers on SQuAD 2.0 (``stage.tools.squad``): real articles,
    half the questions unanswerable. Every answer is printed to stderr."""
    if not squad.DEFAULT_FILE.is_file():
        out.print(f"no SQuAD 2.0 file at {squad.DEFAULT_FILE}: its figures are left out", highlight=False)
        return []
    folder, card, questions = squad.temporary_persona(squad.DEFAULT_FILE)
    with folder:
        any_thinker = next(iter(thinkers.values()))
        thinker = Thinker(card, any_thinker.model, any_thinker.llm)
        thinker.mode = mode
        if quick:
            questions = questions[::8]
        verdicts = [squad.judge(q, asyncio.run(collect(thinker, q.question))) for q in questions]
    for v in verdicts:
        mark = "held" if v.held else ("first" if v.first else "anywhere" if v.anywhere else "missed")
        gold = "; ".join(v.question.answers) or "(unanswerable)"
        out.print(
            f"[{label} squad] {mark}: {v.question.question} | gold {gold} | -> {v.answer}",
            highlight=False,
            markup=False,
        )
    units = {"median_words": "words", "fragments": "answers"}
    return [
        record(f"answers.{label}.squad.{name}", value, units.get(name, "%"))
        for name, value in squad.figures(verdicts).items()
    ]
