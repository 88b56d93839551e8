"""Answers judged on SQuAD 2.0 (Rajpurkar, Jia and Liang, 2018): real
Wikipedia articles nobody on the project wrote, with crowd-written
questions, half of them unanswerable from the text though written to look
answerable.

The articles become one persona's knowledge (a plain-text document per
article, a passage per paragraph), and every question is asked of it. An
answer is judged on what it said, with SQuAD's own normalisation (lower
case, no punctuation, no articles):
- the answer in the first sentence: a gold answer is in the first sentence said;
- the answer anywhere: a gold answer is somewhere in the answer;
- held: a holding line, no answer (right for an unanswerable question, wrong
  for an answerable one);
- a fragment: a sentence said that does not start and end as a sentence does.
"""

from __future__ import annotations

import json
import re
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stage.core.events import AnswerEnd, Clause
from stage.core.paths import PROJECT
from stage.think.clauses import ends_sentence, sentences
from stage.think.persona import PersonaCard

# the evaluation data shared beside the checkout (``shared/data``)
DEFAULT_FILE = PROJECT.parent / "shared" / "data" / "squad2-dev-normans-sky.json"


@dataclass(frozen=True)
class SquadQuestion:
    question: str
    answers: tuple[str, ...]  # empty: unanswerable
    article: str

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class SquadVerdict:
    question: SquadQuestion
    answer: str
    held: bool
    first: bool = False
    anywhere: bool = False
    words: int = 0
    fragments: tuple[str, ...] = ()


def load(path: Path) -> tuple[dict[str, list[str]], list[SquadQuestion]]:
    """The articles (title: paragraphs) and the questions of a SQuAD 2.0 file."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    articles, questions = {}, []
    for article in data:
        title = article["title"].replace("_", " ")
        articles[title] = [p["context"] for p in article["paragraphs"]]
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold = () if qa.get("is_impossible") else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(SquadQuestion(qa["question"].strip(), gold, title))
    return articles, questions


def persona(articles: dict[str, list[str]], folder: Path) -> PersonaCard:
    """A persona whose knowledge is the articles, one text file each (a passage a paragraph)."""
    knowledge = []
    for title, paragraphs in articles.items():
        name = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        (folder / f"{name}.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
        knowledge.append(f"{name}.txt")
    return PersonaCard(
        id="reader",
        name="Reader",
        title="Reader of Wikipedia articles",
        system_prompt="You are {{ name }}. Answer from the facts given.",
        knowledge=knowledge,
        holding_lines=["I don't know that from my documents."],
        root=folder,
    )


def normalise(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _contains(text: str, answers: tuple[str, ...]) -> bool:
    padded = f" {normalise(text)} "
    return any(f" {normalise(a)} " in padded for a in answers if normalise(a))


def fragment(sentence: str) -> bool:
    """A sentence said that does not start and end as a sentence does: it starts
    in lower case (the splitter cut real text before it), or it does not end."""
    first = sentence.lstrip("\"'“‘([")[:1]
    return not ends_sentence(sentence) or (first.isalpha() and first.islower())


def judge(question: SquadQuestion, events: list) -> SquadVerdict:
    said = [e for e in events if isinstance(e, Clause) and e.kind not in ("holding",)]
    end = next(e for e in events if isinstance(e, AnswerEnd))
    answer = " ".join(c.text for c in said)
    verdict = SquadVerdict(question, answer, held=end.outcome == "held" or not said)
    if verdict.held:
        return verdict
    spoken = sentences(answer)
    verdict.words = len(answer.split())
    verdict.fragments = tuple(s for s in spoken if fragment(s))
    if question.answerable:
        verdict.first = _contains(spoken[0], question.answers)
        verdict.anywhere = _contains(answer, question.answers)
    return verdict


def figures(verdicts: list[SquadVerdict]) -> dict[str, float]:
    """The figures the issue asks for, in per cent (words: the median; fragments: a count)."""
    answerable = [v for v in verdicts if v.question.answerable]
    unanswerable = [v for v in verdicts if not v.question.answerable]
    words = sorted(v.words for v in verdicts if not v.held)

    def share(chosen, test) -> float:
        return 100 * sum(map(test, chosen)) / max(1, len(chosen))

    return {
        "first_sentence": share(answerable, lambda v: v.first),
        "anywhere": share(answerable, lambda v: v.anywhere),
        "unanswerable_held": share(unanswerable, lambda v: v.held),
        "answerable_held": share(answerable, lambda v: v.held),
        "median_words": words[len(words) // 2] if words else 0,
        "fragments": sum(bool(v.fragments) for v in verdicts),
    }


def temporary_persona(path: Path) -> tuple[tempfile.TemporaryDirectory, PersonaCard, list[SquadQuestion]]:
    """The file's persona in a new folder (removed when the folder's object is cleaned up) and its questions."""
    articles, questions = load(path)
    folder = tempfile.TemporaryDirectory(prefix="fireside-squad-")
    return folder, persona(articles, Path(folder.name)), questions
