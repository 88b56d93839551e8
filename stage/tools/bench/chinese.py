"""Spoken Chinese: can Whisper base caption a moderator who speaks Mandarin or
Cantonese? The questions of tests/chinese_questions.yaml, said by espeak-ng
(``espeak-cmn`` in Simplified, ``espeak-yue`` in written colloquial Cantonese),
heard by Whisper base with the language forced (``zh``; Cantonese also ``yue``
where the model has that token: base has not), scored by character error rate
(a fraction: edits / reference characters) after dropping punctuation and
spaces and writing both sides in Simplified (OpenCC t2s)."""

from __future__ import annotations

import statistics
import unicodedata

import opencc
import yaml
from rapidfuzz.distance import Levenshtein

from stage.core.config import FiresideConfig
from stage.core.paths import PROJECT
from stage.listen.asr import transcribe, whisper
from stage.tools.bench.common import record, speech16
from voices.catalog import VoiceCatalog

QUESTIONS = PROJECT / "tests" / "chinese_questions.yaml"
_SIMPLIFIED = opencc.OpenCC("t2s")


def normalised(text: str) -> str:
    """``text`` in Simplified, without punctuation, symbols or spaces."""
    return "".join(c for c in _SIMPLIFIED.convert(text) if unicodedata.category(c)[0] in "LN")


def cer(reference: str, heard: str) -> float:
    """Character error rate: edits to turn ``heard`` into ``reference``, per reference character."""
    ref = normalised(reference)
    return Levenshtein.distance(ref, normalised(heard)) / max(1, len(ref))


def bench_chinese(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Mean and median character error rate of Whisper base on espeak-ng's
    Mandarin and Cantonese questions, and the seconds per transcription."""
    questions = yaml.safe_load(QUESTIONS.read_text())[: 8 if quick else None]
    catalog = VoiceCatalog(config.voices.catalog)
    knows_yue = whisper("base").hf_tokenizer.token_to_id("<|yue|>") is not None
    runs = [("mandarin", "espeak-cmn", "zh"), ("cantonese", "espeak-yue", "zh")]
    runs += [("cantonese_yue", "espeak-yue", "yue")] if knows_yue else []
    print(f"Whisper base knows <|yue|>: {knows_yue}; Cantonese heard as {'yue and zh' if knows_yue else 'zh'}")
    records, seconds = [], []
    for name, voice, language in runs:
        engine, field = catalog.engine(voice), name.split("_")[0]
        rates, against_mandarin = [], []
        print(f"\n== {name} ({voice}, language={language})")
        for q in questions:
            heard = transcribe(speech16(engine, q[field]), model="base", language=language)
            seconds.append(heard.seconds)
            rates.append(cer(q[field], heard.text))
            against_mandarin.append(cer(q["mandarin"], heard.text))
            print(f"{rates[-1]:5.2f}  said:  {q[field]}\n       heard: {heard.text}")
        records += [
            record(f"spoken_chinese.{name}.cer", statistics.mean(rates), "fraction of characters"),
            record(f"spoken_chinese.{name}.cer.median", statistics.median(rates), "fraction of characters"),
        ]
        if field == "cantonese":  # did Whisper write standard Chinese for what was said in Cantonese?
            records.append(
                record(f"spoken_chinese.{name}.cer_vs_mandarin_text", statistics.mean(against_mandarin), "fraction")
            )
    return records + [
        record("spoken_chinese.questions", len(questions), "questions per language"),
        record("spoken_chinese.seconds_per_transcription", statistics.mean(seconds), "s"),
    ]
