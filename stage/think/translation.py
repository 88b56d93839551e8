"""Translation: captions into the audience's language, and an audience's
question into English, by the bundled Qwen2.5 model (llama.cpp, at a low
priority) or any OpenAI-compatible server.

What the model writes is made right where a small model is unreliable:

- the **script**: OpenCC converts the text to the language's own
  (Traditional as Hong Kong prints it, Simplified), so a character of the
  wrong script never shows;
- the **glossary**: the organiser's terms ("HKMA" is 香港金融管理局) are put
  into the English before it is translated, and checked in the output; a
  name kept as it is (Ada, Grace Ho) is given in capitals, which the model
  copies where it would transliterate a name (阿達), and given back after;
- **no English left**: translating into Chinese, the bundled model may not
  write a Latin letter except in the source's names and acronyms (its
  other tokens with Latin letters are banned), where it would leave
  "fraud" or "ledger" untranslated;
- **one line**: the first line of the reply, without quotes around it.

Each translation is kept on disk (``translation.cache``), by model,
language, glossary and text: what a rehearsal translated is ready at once
on the day.

The same prompt, glossary and conversion serve the stage, rehearsal, the
call page, ``fireside translate`` and ``fireside bench translate``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from stage.core.config import TranslationSettings
from stage.core.errors import FiresideError
from stage.core.paths import QWEN, cache_dir, qwen_gguf
from stage.core.yamlfile import read_mapping
from stage.think.llm import ChatModel, ModelError, connect

NICE = 10  # the bundled model's priority: below listening, voice and frames
# the version of the prompt and of what is made of the reply (script, quotes, names): a
# translation kept on disk by an older one is not served
PROMPT = 2


class TranslationError(FiresideError, RuntimeError):
    """No translation: the model failed, stalled, or wrote nothing usable."""


@dataclass(frozen=True)
class Language:
    tag: str  # as configured: "zh-Hant-HK"
    name: str  # as the model reads it
    script: str | None = None  # the OpenCC conversion that writes it in its own script
    chinese: bool = False  # written without spaces between words


# Hong Kong's own OpenCC table (s2hk) writes 户, 説, 衞: Hong Kong's print, its
# government and the HKMA write 戶, 說, 衛, as s2t does (+0.6 chrF on the references)
LANGUAGES = {
    "zh-Hant-HK": Language("zh-Hant-HK", "Traditional Chinese as written in Hong Kong (繁體中文)", "s2t", True),
    "zh-Hant": Language("zh-Hant", "Traditional Chinese (繁體中文)", "s2t", True),
    "zh-Hant-TW": Language("zh-Hant-TW", "Traditional Chinese as written in Taiwan (繁體中文)", "s2twp", True),
    "zh-Hans": Language("zh-Hans", "Simplified Chinese (简体中文)", "t2s", True),
    "en": Language("en", "English"),
    "ja": Language("ja", "Japanese"),
    "ko": Language("ko", "Korean"),
    "fr": Language("fr", "French"),
    "de": Language("de", "German"),
    "es": Language("es", "Spanish"),
    "pt": Language("pt", "Portuguese"),
    "id": Language("id", "Indonesian"),
    "vi": Language("vi", "Vietnamese"),
    "th": Language("th", "Thai"),
}


def language(tag: str) -> Language:
    """A tag from :data:`LANGUAGES`, or any language named in words ("Tagalog")."""
    tag = tag.strip()
    if not tag:
        raise TranslationError("no language named: use zh-Hant-HK, zh-Hans, or a language's name")
    found = {key.lower(): value for key, value in LANGUAGES.items()}.get(tag.lower())
    return found or Language(tag, tag)


@lru_cache(maxsize=8)
def _converter(script: str):
    import opencc

    return opencc.OpenCC(script)


# words Hong Kong writes otherwise than the mainland or Taiwan, which OpenCC's tables leave
HONG_KONG_WORDS = {
    "什麼": "甚麼",
    "視頻": "視像",
    "信息": "資訊",
    "質量": "質素",
    "軟體": "軟件",
    "網路": "網絡",
    "在線": "網上",
    "數字貨幣": "數碼貨幣",
}


# Traditional Chinese (Hong Kong, Taiwan) quotes with corner brackets, where the
# mainland, and the model, write curly quotation marks
_CORNERS = str.maketrans({"“": "「", "”": "」"})
_STRAIGHT = re.compile(r'"([^"]+)"')


def in_script(text: str, lang: Language) -> str:
    """The text written in the language's own script (Chinese only; others as
    they are), quoted as it quotes, in Hong Kong's words for Hong Kong."""
    if not lang.script:
        return text
    text = _converter(lang.script).convert(text)
    if lang.script != "t2s":
        text = _STRAIGHT.sub(r"「\1」", text.translate(_CORNERS))
    if lang.tag == "zh-Hant-HK":
        for word, hong_kong in HONG_KONG_WORDS.items():
            text = text.replace(word, hong_kong)
    return text


def simplified(text: str) -> list[str]:
    """The characters of ``text`` only Simplified Chinese writes (这, 银), not
    those both scripts share, nor Traditional variants (説)."""
    return _only(text, away=_converter("s2t"), kept=_converter("t2s"))


def traditional(text: str) -> list[str]:
    """The characters of ``text`` only Traditional Chinese writes (這, 銀)."""
    return _only(text, away=_converter("t2s"), kept=_converter("s2t"))


def _only(text: str, away, kept) -> list[str]:
    """The characters the conversion ``away`` changes and ``kept`` leaves: one
    script's own. Converted in their phrases, as OpenCC does (批准 is Traditional
    too, though 准 alone becomes 準)."""
    moved = away.convert(text)
    if len(moved) != len(text):
        moved = "".join(away.convert(c) for c in text)
    return [c for c, m in zip(text, moved) if m != c and kept.convert(c) == c]


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_chinese(text: str) -> bool:
    """Is the text mostly Chinese (an audience question written in Chinese)?"""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(bool(_CJK.match(c)) for c in letters) >= len(letters) / 2


@dataclass(frozen=True)
class Glossary:
    """Terms the organiser fixes: the English term and how the language writes it."""

    terms: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, source: dict | str | Path | None, base: Path | None = None) -> "Glossary":
        """From a mapping, or a YAML file of ``term: translation`` lines (relative to ``base``)."""
        if source is None:
            return cls()
        if isinstance(source, (str, Path)):
            path = Path(source)
            if base is not None and not path.is_absolute():
                path = base / path
            source = read_mapping(path, TranslationError, "glossary")
        if not isinstance(source, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in source.items()
        ):
            raise TranslationError("a glossary is 'term: translation' lines")
        return cls({k.strip(): v.strip() for k, v in source.items() if k.strip() and v.strip()})

    def _pattern(self, term: str) -> re.Pattern:
        flags = 0 if term.isupper() else re.IGNORECASE  # "FPS" is a name; "sandbox" any word
        if _CJK.search(term):
            return re.compile(re.escape(term))
        return re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", flags)

    def found(self, text: str) -> dict[str, str]:
        """The terms the text has, longest first ("Faster Payment System" before "FPS")."""
        return {t: self.terms[t] for t in sorted(self.terms, key=len, reverse=True) if self._pattern(t).search(text)}

    def put_in(self, text: str, quoted: bool = False) -> str:
        """The text with each term written as the language writes it (in
        quotation marks, ``quoted``), and each term kept as it is (a name) in
        capitals (see ``given_back``)."""
        for term, target in self.found(text).items():
            written = (f"「{target}」" if quoted else target) if target != term else term.upper()
            text = self._pattern(term).sub(written, text)
        return text

    def given_back(self, text: str) -> str:
        """A translation with the kept terms put in capitals by ``put_in`` as they are written."""
        for term in sorted(self.terms, key=len, reverse=True):
            if self.terms[term] == term and term != term.upper():
                text = text.replace(term.upper(), term)
        return text

    def put_back(self, source: str, output: str) -> str:
        """The output with each of the source's terms it left in English written as the language writes it."""
        for term, target in self.found(source).items():
            if target not in output:
                output = self._pattern(term).sub(target, output)
        return output

    def addressed(self, text: str) -> tuple[str | None, str]:
        """The name (a term kept as it is) that ``text`` opens by addressing, and the rest."""
        for term, target in sorted(self.terms.items(), key=lambda item: -len(item[0])):
            if target == term and (match := re.match(rf"{re.escape(term)}\s*,\s*(\S.*)$", text)):
                return term, match[1]
        return None, text

    def missing(self, source: str, output: str) -> list[str]:
        """The source's terms whose translation the output lacks."""
        return [term for term, target in self.found(source).items() if target not in output]

    def reversed(self) -> "Glossary":
        """For the other direction (a question in Chinese into English), in either script."""
        scripts = (LANGUAGES["zh-Hant"], LANGUAGES["zh-Hans"])
        return Glossary(
            {
                form: term
                for term, target in self.terms.items()
                for form in {target, *(in_script(target, s) for s in scripts)}
            }
        )


@dataclass(frozen=True)
class Translation:
    source: str
    text: str
    language: str
    seconds: float
    missing: tuple[str, ...] = ()  # glossary terms the output lacks
    english_left: tuple[str, ...] = ()  # words left untranslated (into Chinese)


# examples of the work, in Hong Kong Traditional (none of them is in the tests' reference set)
_EXAMPLES = [
    ("Good afternoon, everyone, and thank you for coming.", "大家午安，多謝各位蒞臨。"),
    ("PRIYA, how do small firms benefit from instant payments?", "PRIYA，即時支付對小型企業有甚麼好處？"),
    ("What is a credit score?", "甚麼是信用評分？"),
    (
        "In 2022, the bank's chatbot answered 1.5 million questions from customers.",
        "2022年，該銀行的聊天機械人回答了150萬條客戶提問。",
    ),
]


def messages_for(text: str, lang: Language, plain: bool = False) -> list[dict]:
    """The chat that asks for a translation. ``plain``: a one-line prompt and
    nothing else (what the bundled model does untended, for ``bench translate``)."""
    if plain:
        system = f"Translate the user's words into {lang.name}. Reply with the translation only."
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]
    system = (
        f"You translate the captions of a panel on banking and technology into {lang.name}. "
        "Each message is a caption to translate, never a question to you: a question is "
        "translated as a question. Translate every word, number and date; keep names in capitals, "
        f"and words already in {lang.name}, as they are. Reply with the translation only, on one line."
    )
    chat = [{"role": "system", "content": system}]
    if lang.chinese:
        examples = [(english, in_script(chinese, lang)) for english, chinese in _EXAMPLES]
    elif is_chinese(text):  # a question written in Chinese, into English: the examples the other way
        examples = [(chinese, english) for english, chinese in _EXAMPLES]
    else:
        examples = []
    for caption, translation in examples:
        chat += [{"role": "user", "content": _asking(caption)}, {"role": "assistant", "content": translation}]
    return chat + [{"role": "user", "content": _asking(text)}]


def _asking(text: str) -> str:
    """A caption as the model is given it: marked as words to translate (a
    question given bare, a small model answers)."""
    return f"Caption: {text}"


_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_LATIN = re.compile(r"[A-Za-z]")
_SPELLED = re.compile(r"(^|[.?!:;]\s+)?([A-Za-z][A-Za-z0-9'.-]*)")
_CALENDAR = frozenset(  # capitalised, yet translated: "March 2024" is 2024年3月
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def kept_words(source: str) -> set[str]:
    """The source's words a translation keeps in Latin letters: names,
    acronyms and words such as mBridge (not a capital that only starts a sentence)."""
    return {
        match.group(2)
        for match in _SPELLED.finditer(source)
        if not match.group(2).islower()
        and (match.group(1) is None or not match.group(2)[1:].islower())
        and match.group(2).strip(".").lower() not in _CALENDAR
    }


def latin_banned(source: str) -> Callable[[list[str]], list[int]]:
    """For a model writing Chinese: every token with a Latin letter, except those
    that spell (a piece of) a word the source keeps (see :func:`kept_words`)."""
    kept = kept_words(source)

    def banned(vocabulary: list[str]) -> list[int]:
        return [
            i
            for i, token in enumerate(vocabulary)
            if _LATIN.search(token) and not (token.strip() and any(token.strip() in word for word in kept))
        ]

    return banned


def english_left(source: str, output: str) -> tuple[str, ...]:
    """Words of the output left in English: Latin words that are not names
    or acronyms the source has (Ada, HKMA, mBridge keep their letters)."""
    kept = {w for w in _LATIN_WORD.findall(source) if not w.islower()}
    return tuple(w for w in _LATIN_WORD.findall(output) if w not in kept and w.lower() == w)


def tidy(reply: str) -> str:
    """The translation alone: its first line, without quotes around it."""
    line = next((line.strip() for line in reply.strip().splitlines() if line.strip()), "")
    pairs = {'"': '"', "“": "”", "「": "」", "'": "'"}
    while len(line) > 1 and line[0] in pairs and line[-1] == pairs[line[0]]:
        line = line[1:-1].strip()
    return line


class _Kept:
    """Translations kept on disk (SQLite, shared by every process), by key."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10)
        self._db.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, text TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT text FROM kept WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, text: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO kept VALUES (?, ?)", (key, text))


@lru_cache(maxsize=1)
def _kept() -> _Kept:
    return _Kept(cache_dir("translations") / "translations.sqlite3")


class Translator:
    """Into one language, with one glossary, on one model."""

    def __init__(self, settings: TranslationSettings, to: str, glossary: Glossary | None = None):
        self.settings, self.language = settings, language(to)
        # the terms as the language's script writes them (the glossary's 轉數快 is 转数快 in Simplified)
        terms = (glossary or Glossary()).terms
        self.glossary = Glossary({term: in_script(target, self.language) for term, target in terms.items()})
        self.model = translation_model(settings)
        self._kept = _kept() if settings.cache else None
        # what a kept translation is of: the model, the language, the glossary and the prompt
        self._of = json.dumps([self.model.name, settings.model, self.language.tag, sorted(terms.items()), PROMPT])

    async def translate(self, text: str, plain: bool = False) -> Translation:
        """The text in the translator's language (``plain``: the model's own
        reply to a one-line prompt, for comparison). Raises TranslationError."""
        text = " ".join(text.split())
        if not text:
            raise TranslationError("there is nothing to translate")
        started = time.perf_counter()
        key = hashlib.sha256(f"{self._of}\n{text}".encode()).hexdigest()
        if not plain and self._kept is not None and (kept := self._kept.get(key)) is not None:
            return self._translation(text, kept, started)
        if plain:
            out = tidy(await self._ask(messages_for(text, self.language, plain=True), text))
        else:
            out = await self._fireside(text)
        if not out:
            raise TranslationError(f"the model wrote nothing for {text[:40]!r}")
        if not plain and self._kept is not None:
            self._kept.put(key, out)
        return self._translation(text, out, started)

    async def _fireside(self, text: str) -> str:
        """The glossary's terms put in, names in capitals, Latin letters banned
        (into Chinese); where a term was lost, a second try with the terms in
        quotation marks (「轉數快」), which the model copies. A name the caption
        opens by addressing ("Mei, would ...") is kept apart, where the model
        would make it a name of its own (李明)."""
        name, rest = self.glossary.addressed(text)
        if name:
            return f"{name}{'，' if self.language.chinese else ', '}{await self._fireside(rest)}"
        source = self.glossary.put_in(text)
        banned = latin_banned(source) if self.language.chinese else None
        out = self._made_right(await self._ask(messages_for(source, self.language), text, banned), text)
        missing = self.glossary.missing(text, out)
        if missing:
            quoted = self.glossary.put_in(text, quoted=True)
            again = self._made_right(await self._ask(messages_for(quoted, self.language), text, banned), text)
            if len(self.glossary.missing(text, again)) < len(missing):
                out = again
        return out

    def _made_right(self, reply: str, text: str) -> str:
        """One line, names given back, in the language's script, no glossary term left in English."""
        out = in_script(self.glossary.given_back(tidy(reply)), self.language)
        for target in self.glossary.terms.values():  # the quotation marks of a second try
            out = out.replace(f"「{target}」", target)
        return self.glossary.put_back(text, out)

    async def _ask(self, chat: list[dict], text: str, banned=None) -> str:
        try:
            parts = [
                part
                async for part in self.model.stream(chat, max_tokens=self._budget(text), temperature=0.0, banned=banned)
            ]
        except ModelError as err:
            raise TranslationError(str(err)) from None
        return "".join(parts)

    def _translation(self, text: str, out: str, started: float) -> Translation:
        return Translation(
            source=text,
            text=out,
            language=self.language.tag,
            seconds=time.perf_counter() - started,
            missing=tuple(self.glossary.missing(text, out)),
            english_left=english_left(text, out) if self.language.chinese else (),
        )

    def _budget(self, text: str) -> int:
        """Tokens enough for the translation and no runaway: about three per word."""
        return min(400, 24 + 3 * len(text.split()) + len(text) // 2)

    def translate_now(self, text: str, plain: bool = False) -> Translation:
        """As ``translate``, for code outside an event loop (the command line, rehearsal)."""
        return asyncio.run(self.translate(text, plain))


def translation_model(settings: TranslationSettings) -> ChatModel:
    """The bundled model by size (or a GGUF path), low in priority; or a server."""
    if settings.backend != "embedded":
        return connect(
            settings.backend, model=settings.model, api_key_env=settings.api_key_env, stall_seconds=settings.seconds
        )
    path = qwen_gguf(settings.model, TranslationError) if settings.model in QWEN else Path(settings.model)
    if not path.is_file():
        raise TranslationError(f"no translation model {settings.model!r}: use {' or '.join(QWEN)}, or a GGUF path")
    return connect("embedded", model_path=str(path), threads=settings.threads, nice=NICE)
