"""A persona's knowledge: its documents as passages, found by hybrid
retrieval, and its approved answers matched by fuzzy string similarity
(``rapidfuzz``).

Retrieval fuses two rankings by reciprocal rank: BM25 over the passages'
words (``bm25s``), and the meaning of their sentences (all-MiniLM-L6-v2,
``stage.think.embed``), so "spot a fraudulent payment as it happens" finds "score
every payment in real time". When no sentence is close enough to the
question, or the question names what the documents never mention, nothing
is found and the persona holds.

Each document is read and embedded once: its passages and sentence vectors
are kept in the cache under the hash of its bytes, so a knowledge base is
rebuilt only for the files that change. A document that cannot be read is
reported with the persona and the file, and the others still load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from rapidfuzz import fuzz, process
from rich.progress import track

from stage.core import paths
from stage.think.clauses import sentences
from stage.think.documents import DocumentError, Passage, read_bytes, read_document
from stage.think.embed import DIMENSIONS, embedder
from stage.think.persona import ApprovedAnswer, PersonaCard

log = logging.getLogger("fireside.knowledge")

# the knowledge is about a question when its closest sentence is at least this
# similar (MiniLM cosine), and when it knows every name the question uses
# ("EU", "HKMA", "Basel"; "CBDC" is known when its words are). Calibrated on
# the question set's dev split (60 answerable, 20 not): 4 answerable ones score
# below it (0.34 to 0.45), and 6 unanswerable ones above it still get an
# answer (0.55 to 0.84, sharing the documents' words: "which vendors supply
# the models that score payments"). 0.42 answers 3 more and 2 fewer are held.
MIN_SIMILARITY = 0.45
# a passage is among those found only when its heading or a sentence is this close
PASSAGE_MIN_SIMILARITY = 0.35
RRF_K = 60  # reciprocal rank fusion's constant (Cormack et al.)
# a question this similar (0-100) to an approved one gets its answer verbatim
APPROVED_SIMILARITY = 85.0
# a name the documents spell this similarly (0-100) is theirs, misspelt ("Primier" for "Premier")
SPELLING_SIMILARITY = 80.0
INDEX_VERSION = "4"  # bump when passages or vectors are made differently


@dataclass(frozen=True)
class Document:
    path: Path
    source: str  # as the card names it, relative to prompts/
    passages: int = 0
    error: str | None = None


def cache_dir() -> Path:
    return paths.cache_dir("knowledge")


def added_dir(persona: str) -> Path:
    """Where ``fireside knowledge add`` keeps a persona's added documents."""
    return paths.data_dir("knowledge") / persona


_STEMMER = Stemmer.Stemmer("english")
# bm25s's short list, plus the function words of spoken answers
_STOPWORDS = frozenset(bm25s.stopwords.STOPWORDS_EN) | frozenset(
    "has have had does did doing done can could would should may might must shall will about also its it's "
    "our ours we you your yours they them their theirs he him his she her hers i me my what which who whom "
    "when where why how all any both each few more most other some such only own same than too very just "
    "so because while during before after above below from up down out over under again further here once "
    "being been am were do yes not nor one two many much well like us let let's".split()
)


def content_list(text: str) -> list[str]:
    """Stemmed words that carry meaning, in order ("regulators" -> "regul"),
    numbers kept whole, accents off ("Hervé" -> "herve")."""
    words = re.findall(r"[a-z0-9][a-z0-9.,'-]*[a-z0-9]|[a-z0-9]", fold(text))
    words = [re.sub(r"'s$", "", w.strip(".,'-")) for w in words]
    return [
        w if w[0].isdigit() else _STEMMER.stemWord(w)
        for w in words
        if w and w not in _STOPWORDS and (len(w) > 2 or w.isdigit())
    ]


def content_words(text: str) -> set[str]:
    """Stemmed words that carry meaning ("regulators" -> "regul"), numbers kept whole."""
    return set(content_list(text))


def fold(text: str) -> str:
    """Text as it is compared: accents off, lower case ("Hervé" -> "herve")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def names(text: str) -> set[str]:
    """The names a question uses: acronyms and capitalised words past its first word."""
    words = [re.sub(r"'(s|ve|m|ll|d|re)$", "", w) for w in re.findall(r"[A-Za-z][\w'-]*", text)]
    found = {w for w in words if sum(c.isupper() for c in w) >= 2}  # HKMA, EU, e-HKD
    found |= {w for w in words[1:] if w[0].isupper() and w.lower() not in _STOPWORDS and w != "I"}
    return {w.lower() for w in found}


def _initials(texts) -> set[str]:
    """The acronyms a text spells out: the initials of each run of 4 to 6 words
    ("central bank digital currency" -> "cbdc"), small words skipped."""
    found = set()
    for text in texts:
        for clause in re.split(r"[.,;:()!?]", text.lower()):
            letters = [
                w[0] for w in re.findall(r"[a-z][\w'-]*", clause) if w not in ("of", "and", "the", "for", "to", "in")
            ]
            for size in range(4, 7):  # shorter ones match by chance
                found |= {"".join(letters[i : i + size]) for i in range(len(letters) - size + 1)}
    return found


def _normalise(question: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", question.lower()).split())


def _tokens(texts: list[str]):
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, show_progress=False)


class Vocabulary:
    """The words a persona's documents use, to tell a name they know from one
    they never mention ("EU" in "the EU AI Act", when they never say it)."""

    def __init__(self, texts: list[str]):
        words = set(re.findall(r"[a-z][\w'-]*", fold(" ".join(texts))))
        words |= {re.sub(r"'s$", "", w) for w in words}
        self._stems = {_STEMMER.stemWord(w) for w in words}
        self._spellings = sorted(w for w in words if len(w) >= 5)
        self.words = words | _initials(texts)  # "CBDC" is known from its words

    def unknown_names(self, question: str) -> set[str]:
        """The names in the question that the documents never use ("AI-made" is known
        when "AI" and "made" are)."""
        words = [fold(w) for w in re.findall(r"[A-Za-z][\w'-]*", question)]
        return {n for n in names(question) if not self._knows(n, words)}

    def _knows(self, name: str, words: list[str]) -> bool:
        """A name is known when the documents use it, or its parts ("AI-made"),
        as a word of another form ("Marry": "married"), as one word with its
        neighbour ("Sky Drive": "SkyDrive"), or misspelt by a letter or two
        ("Primier League", "Herve")."""
        name = fold(name)
        bare = re.sub(r"(?<=[a-z]{3})(s|')$", "", name)  # "Roberts army", "Normans'"
        if {name, bare} & self.words or _STEMMER.stemWord(name) in self._stems:
            return True
        if all(part in self.words for part in name.split("-") if part):
            return True
        if name in words:
            at = words.index(name)
            joined = {"".join(words[at - 1 : at + 1]), "".join(words[at : at + 2])}
            if joined & self.words:
                return True
        if len(name) >= 5:
            near = process.extractOne(name, self._spellings, scorer=fuzz.ratio, score_cutoff=SPELLING_SIMILARITY)
            return near is not None
        return False


class Knowledge:
    def __init__(self, card: PersonaCard, progress: bool = False):
        self.persona = card.id
        self.approved: list[ApprovedAnswer] = card.approved_answers
        self.documents: list[Document] = []
        self.passages: list[Passage] = []
        self.sentences: list[str] = []
        owner: list[int] = []
        vectors, headings = [], []
        paths = [
            (p, p.relative_to(card.root).as_posix() if p.is_relative_to(card.root) else str(p))
            for p in card.knowledge_paths()
        ]
        added = added_dir(card.id)
        if added.is_dir():
            paths += [(p, f"added/{p.name}") for p in sorted(added.iterdir()) if p.is_file()]
        for path, source in paths:
            try:
                passages, sentence_vectors, heading_vectors = self._read(path, source, progress)
            except DocumentError as err:
                self.documents.append(Document(path, source, error=str(err)))
                continue
            self.documents.append(Document(path, source, len(passages)))
            for passage in passages:
                for sentence in sentences(passage.text):
                    self.sentences.append(sentence)
                    owner.append(len(self.passages))
                self.passages.append(passage)
            vectors.append(sentence_vectors)
            headings.append(heading_vectors)
        self.vectors = np.vstack(vectors) if vectors else np.zeros((0, DIMENSIONS), np.float32)
        self.heading_vectors = np.vstack(headings) if headings else np.zeros((0, DIMENSIONS), np.float32)
        for error in self.errors:
            log.error("%s", error)
        self.owner = np.asarray(owner, np.int64)  # the passage each sentence is in
        self.vocabulary = Vocabulary([f"{p.title}. {p.text}" for p in self.passages])
        self._titles: dict[str, str] = {}
        for passage in self.passages:
            self._titles.setdefault(passage.source, passage.title)
        self._last: tuple[str, np.ndarray] = ("", np.zeros(0))
        self._words: dict[int, list[str]] = {}
        self._frequency: dict[str, int] | None = None
        self._passage_words: dict[int, tuple[set[str], set[str]]] = {}
        self._index = None
        if self.passages:
            self._index = bm25s.BM25()
            self._index.index(_tokens([f"{p.title}. {p.text}" for p in self.passages]), show_progress=False)

    def titles(self, sources: tuple[str, ...]) -> tuple[str, ...]:
        """Each source address as a person reads it: the document's title, then the
        section or page ("Payments: Faster Payment System")."""
        return tuple(self._titles.get(s, s) for s in sources)

    @property
    def errors(self) -> list[str]:
        return [f"persona {self.persona}: {d.source}: {d.error}" for d in self.documents if d.error]

    @staticmethod
    def _read(path: Path, source: str, progress: bool) -> tuple[list[Passage], np.ndarray, np.ndarray]:
        """A document's passages, its sentences' vectors and its passages'
        headings' vectors, from the cache when its bytes are known."""
        raw = read_bytes(path)
        key = hashlib.sha256(b"\0".join([INDEX_VERSION.encode(), source.encode(), raw])).hexdigest()[:32]
        cached = cache_dir() / f"{key}.npz"
        if cached.exists():
            with np.load(cached) as data:
                passages = [Passage(**p) for p in json.loads(str(data["passages"]))]
                return passages, data["vectors"], data["headings"]
        passages = read_document(path, source, raw)
        texts = [s for p in passages for s in sentences(p.text)]
        vectors = _embed(texts, f"indexing {source}", progress)
        headings = _embed([heading(p) for p in passages])
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.npz")
        np.savez(partial, passages=json.dumps([p.__dict__ for p in passages]), vectors=vectors, headings=headings)
        os.replace(partial, cached)
        return passages, vectors, headings

    def approved_answer(self, question: str) -> ApprovedAnswer | None:
        q = _normalise(question)
        best = max(self.approved, key=lambda a: fuzz.ratio(q, _normalise(a.question)), default=None)
        if best and fuzz.ratio(q, _normalise(best.question)) >= APPROVED_SIMILARITY:
            return best
        return None

    def similarities(self, question: str) -> np.ndarray:
        """Each sentence's cosine similarity to the question."""
        if not self.sentences:
            return np.zeros(0, np.float32)
        return self.vectors @ self._vector(question)

    def unknown_names(self, question: str) -> set[str]:
        """The names in the question that the documents never use."""
        return self.vocabulary.unknown_names(question)

    def _vector(self, question: str) -> np.ndarray:
        """The question's vector (the last one is kept: a question is embedded
        once). Safe from several threads: the pair is read and replaced whole."""
        last = self._last
        if last[0] != question:
            last = self._last = (question, _embed([question])[0])
        return last[1]

    def heading_similarities(self, question: str) -> np.ndarray:
        """Each passage's heading's cosine similarity to the question."""
        return self.heading_vectors @ self._vector(question) if self.passages else np.zeros(0, np.float32)

    def words(self, sentence: int) -> list[str]:
        """The numbered sentence's content words, in order (worked out once)."""
        found = self._words.get(sentence)
        if found is None:
            found = self._words[sentence] = content_list(self.sentences[sentence])
        return found

    def rarity(self, words: list[str]) -> np.ndarray:
        """How rare each content word is in the knowledge's sentences (inverse
        document frequency: a word in every sentence weighs nothing)."""
        if self._frequency is None:
            counts: dict[str, int] = {}
            for i in range(len(self.sentences)):
                for word in set(self.words(i)):
                    counts[word] = counts.get(word, 0) + 1
            self._frequency = counts
        n = max(1, len(self.sentences))
        return np.array([np.log((n + 1) / (self._frequency.get(w, 0) + 1)) for w in words])

    def passage_words(self, passage: int) -> tuple[set[str], set[str]]:
        """The numbered passage's content words (its heading's too) and its
        words as written, accents off (worked out once)."""
        found = self._passage_words.get(passage)
        if found is None:
            p = self.passages[passage]
            text = f"{heading(p)}. {p.text}"
            found = self._passage_words[passage] = (
                content_words(text),
                set(re.findall(r"[a-z0-9][\w'-]*", fold(text))),
            )
        return found

    def support(self, text: str, passages: list[int]) -> tuple[float, int | None]:
        """How closely ``text`` says what a sentence of the numbered passages
        says (the cosine similarity to its closest one), and that sentence's passage."""
        mine = np.flatnonzero(np.isin(self.owner, passages))
        if not len(mine):
            return 0.0, None
        sims = self.vectors[mine] @ _embed([text])[0]
        best = int(np.argmax(sims))
        return float(sims[best]), int(self.owner[mine[best]])

    def rank(self, question: str, k: int = 2, similarity: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The numbers of the passages about the question and their fused
        scores, best first (none when nothing is)."""
        if self._index is None:
            return []
        sims = self.similarities(question) if similarity is None else similarity
        unknown = self.unknown_names(question)
        if unknown or sims.max() < MIN_SIMILARITY:
            log.info("not about %r: closest sentence %.2f, unknown names %s", question, sims.max(), sorted(unknown))
            return []
        tokens = _tokens([question])
        bm25 = np.zeros(len(self.passages), np.float32)
        if tokens.ids and tokens.ids[0]:
            ids, scores = self._index.retrieve(tokens, k=len(self.passages), show_progress=False)
            bm25[ids[0]] = scores[0]
        # a passage is as close as its heading or its closest sentence
        dense = self.heading_vectors @ self._vector(question)
        np.maximum.at(dense, self.owner, sims)
        relevant = dense >= PASSAGE_MIN_SIMILARITY
        rank = lambda scores: np.argsort(np.argsort(-scores, kind="stable"), kind="stable")  # noqa: E731
        fused = 1.0 / (RRF_K + rank(bm25)) + 1.0 / (RRF_K + rank(dense))
        fused += 1e-5 * (dense + bm25 / max(float(bm25.max()), 1e-6))  # ties go to the higher scores
        return [(int(i), float(fused[i])) for i in np.argsort(-fused, kind="stable") if relevant[i]][:k]

    def search(self, question: str, k: int = 2) -> list[Passage]:
        """The passages about the question, best first (none when nothing is)."""
        return [replace(self.passages[i], score=score) for i, score in self.rank(question, k)]


def heading(passage: Passage) -> str:
    """The section a passage is in, without the document's title or the page."""
    return re.sub(r", page \d+$", "", passage.title.split(": ", 1)[-1])


def _embed(texts: list[str], label: str | None = None, progress: bool = False) -> np.ndarray:
    """Sentence vectors. With a ``label``, a document being indexed (which can
    take a minute): the log says so when it starts and ends, and with
    ``progress`` a person sees it move, as a bar on a terminal, else a line
    a quarter of the way."""
    model = embedder()
    if label is None or len(texts) <= 32:
        return model(texts)
    started = time.perf_counter()
    log.info("%s: %d sentences…", label, len(texts))
    steps = range(0, len(texts), 32)
    if progress and sys.stderr.isatty():
        steps = track(steps, description=label, transient=True)
    parts, told = [], 0
    for i in steps:
        parts.append(model(texts[i : i + 32]))
        done = min(len(texts), i + 32)
        if progress and not sys.stderr.isatty() and (done * 4 // len(texts) > told or done == len(texts)):
            told = done * 4 // len(texts)
            print(f"{label}: {done} of {len(texts)} sentences", file=sys.stderr, flush=True)
    log.info("%s: done in %.0f s", label, time.perf_counter() - started)
    return np.vstack(parts)
