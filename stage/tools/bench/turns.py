"""Turn-taking on voices the tests never use: when a complete question's
turn ends, whether a question with a thinking pause in it is cut in two,
and whether a backchannel said over the avatar drops its answer.

The questions are SQuAD 2.0's (the shared evaluation file: people's
questions, none written here), shuffled once and split in two halves: the
calibration half chooses the end-of-turn thresholds (``--calibrate``), the
evaluation half measures them. Each voice says its own questions, whole
and with a pause of 0.5-1.0 s after a function word (``HESITATE_AFTER``), as Piper (the tests'
voice, at other speeds), espeak-ng's English voices and variants at other
rates and pitches, either changed by sox (tempo, pitch), or under noise at
20 dB SNR. Every utterance runs through the same ``Listener`` a call
uses, fed 20 ms at a time."""

from __future__ import annotations

import itertools
import re
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from stage.core.audio import RATE, Resampler, read_wav
from stage.core.config import FiresideConfig, ListenSettings
from stage.core.events import TurnEnded
from stage.listen.turns import SHORT, Judgement, turn_score
from stage.tools import squad
from stage.tools.bench.common import percentile, record, speech_end
from stage.tools.bench.listening import cough, listen_to, paused, spoken
from stage.tools.squad import DEFAULT_FILE
from voices.catalog import VoiceCatalog, load_engine

PAUSES = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # seconds of thinking inside a paused question
# where people stop to think: after a function word, before the content word
# they are looking for ("My question is ... why", "the rights to ... the
# island"), not after words that already make a question
HESITATE_AFTER = frozenset(
    "a an the of to in on at by for from with about into as than and or but so if that which who whose "
    "is are was were be been do does did has have had can could would will should my your our their his her its".split()
)
BACKCHANNELS = ["Mm-hmm.", "Right.", "Yes.", "Uh-huh.", "Okay.", "I see.", "Yeah.", "Ha ha ha."]
LEAD, TAIL = 0.5, 2.6  # seconds of room before and after each utterance


@dataclass(frozen=True)
class Voice:
    """A way to say a question: Piper (``piper``: voice, speed), espeak-ng
    (``espeak``: voice, words a minute, pitch 0-99), then optionally sox's
    ``effects`` and noise at ``snr`` dB."""

    name: str
    piper: tuple[str, float] | None = None
    espeak: tuple[str, int, int] | None = None
    effects: tuple[str, ...] = ()
    snr: float | None = None


VOICES = [
    Voice("piper joe 0.85x", piper=("joe", 0.85)),
    Voice("piper joe 1.2x", piper=("joe", 1.2)),
    Voice("espeak en-us", espeak=("en-us", 175, 50)),
    Voice("espeak en-gb slow low", espeak=("en-gb", 140, 30)),
    Voice("espeak en-gb-scotland fast", espeak=("en-gb-scotland", 210, 50)),
    Voice("espeak en-us+f3 high", espeak=("en-us+f3", 165, 75)),
    Voice("espeak en-029", espeak=("en-029", 185, 45)),
    Voice("espeak en-gb-x-rp+m3", espeak=("en-gb-x-rp+m3", 155, 55)),
    Voice("joe, sox tempo 0.85", piper=("joe", 1.0), effects=("tempo", "0.85")),
    Voice("joe, sox tempo 1.2 pitch -300", piper=("joe", 1.0), effects=("tempo", "1.2", "pitch", "-300")),
    Voice("espeak en-us, sox pitch +400", espeak=("en-us", 175, 50), effects=("pitch", "400")),
    Voice("joe, noise 20 dB", piper=("joe", 1.0), snr=20.0),
    Voice("espeak en-gb-x-rp, noise 20 dB", espeak=("en-gb-x-rp", 170, 50), snr=20.0),
]


@dataclass
class Utterance:
    voice: str
    kind: str  # "complete", "paused" or "backchannel"
    text: str
    audio: np.ndarray  # 16 kHz, room included
    end: float  # where the voice ends (s)
    resumes: float | None = None  # paused: where the speech after the pause starts (s)


def questions(path: Path = DEFAULT_FILE) -> tuple[list[str], list[str]]:
    """SQuAD 2.0's questions of 5 to 14 words, shuffled once: (calibration half, evaluation half)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shared SQuAD 2.0 file is needed for the turn-taking questions")
    seen = {" ".join(item.question.split()) for item in squad.load(path)[1]}
    picked = sorted(q for q in seen if 5 <= len(q.split()) <= 14 and q.endswith("?"))
    np.random.default_rng(0).shuffle(picked)
    half = len(picked) // 2
    return picked[:half], picked[half:]


class Speaker:
    """One ``Voice`` saying words, whole or with a pause, as 16 kHz audio."""

    def __init__(self, voice: Voice, catalog: VoiceCatalog):
        self.voice = voice
        self.engine = None
        if voice.piper:
            name, speed = voice.piper
            self.engine = load_engine(catalog.get(name).model_copy(update={"speaking_rate": speed}))

    def say(self, first: str, rest: str = "", pause: float = 0.0) -> np.ndarray:
        if self.engine is not None:
            if pause:
                audio = paused(self.engine, first, rest, pause)[0]
            else:
                audio = spoken(self.engine, f"{first} {rest}".strip())[0]
            audio = Resampler(self.engine.sample_rate)(audio)
        else:
            audio = self._espeak(first, rest, pause)
        if self.voice.effects:
            audio = _sox(audio, self.voice.effects)
        return audio

    def _espeak(self, first: str, rest: str, pause: float) -> np.ndarray:
        name, wpm, pitch = self.voice.espeak
        text = escape(first) + (f' <break time="{round(pause * 1000)}ms"/> ' if pause else " ") + escape(rest)
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "said.wav"
            subprocess.run(
                ["espeak-ng", "-m", "-v", name, "-s", str(wpm), "-p", str(pitch), "-w", str(out)]
                + [f"<speak>{text}</speak>"],
                check=True,
                capture_output=True,
            )
            return read_wav(out)


def _sox(audio: np.ndarray, effects: tuple[str, ...]) -> np.ndarray:
    """``audio`` (16 kHz) through sox's ``effects``."""
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "in.wav", Path(folder) / "out.wav"
        with wave.open(str(source), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(RATE)
            f.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())
        subprocess.run(["sox", str(source), str(out), *effects], check=True, capture_output=True)
        return read_wav(out)


def _in_room(audio: np.ndarray, snr: float | None, seed: int) -> np.ndarray:
    """``audio`` with ``LEAD`` and ``TAIL`` seconds around it, in a quiet
    room, or in noise at ``snr`` dB below the speech (its loud part)."""
    whole = np.concatenate([np.zeros(round(LEAD * RATE), np.float32), audio, np.zeros(round(TAIL * RATE), np.float32)])
    rng = np.random.default_rng(seed)
    if snr is None:
        return whole + (rng.standard_normal(len(whole)) * 0.002).astype(np.float32)
    loud = audio[np.abs(audio) > 0.02]
    level = float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.1
    noise = np.convolve(rng.standard_normal(len(whole)), np.ones(3) / 3, mode="same")  # a little darker than white
    noise *= level / (10 ** (snr / 20)) / (noise.std() + 1e-9)
    return (whole + noise).astype(np.float32)


def _resumes(audio: np.ndarray) -> float:
    """Where speech starts again after the longest quiet stretch inside ``audio`` (s)."""
    frame = RATE // 100
    loud = np.array([np.abs(audio[i : i + frame]).max() > 0.02 for i in range(0, len(audio) - frame, frame)])
    spoken_at = np.flatnonzero(loud)
    gaps = np.diff(spoken_at)
    return float(spoken_at[int(np.argmax(gaps)) + 1] * frame / RATE)


def utterances(voices: list[Voice], texts: list[str], complete: int, pausing: int, backchannels: int, catalog):
    """Each voice saying ``complete`` questions whole and ``pausing`` others
    with a pause, each its own, from ``texts``, then ``backchannels``
    backchannels and a cough (to be said over the avatar)."""
    rng = np.random.default_rng(1)
    pool = iter(texts)
    pauses = itertools.cycle(PAUSES)
    for n, voice in enumerate(voices):
        speaker = Speaker(voice, catalog)
        for k in range(complete + pausing):
            text = next(pool)
            if k < complete:
                audio = speaker.say(text)
                yield Utterance(
                    voice.name, "complete", text, _in_room(audio, voice.snr, n), LEAD + speech_end(audio, RATE)
                )
                continue
            words = text.split()
            places = [k for k in range(2, len(words) - 1) if words[k - 1].lower() in HESITATE_AFTER]
            cut = int(rng.choice(places)) if places else int(rng.integers(2, len(words) - 1))
            audio = speaker.say(" ".join(words[:cut]), " ".join(words[cut:]), next(pauses))
            whole = _in_room(audio, voice.snr, n)
            yield Utterance(voice.name, "paused", text, whole, LEAD + speech_end(audio, RATE), LEAD + _resumes(audio))
        for k, word in enumerate([*BACKCHANNELS[n % 2 :: 2][:backchannels], "(cough)"]):
            audio = cough(RATE, k) if word == "(cough)" else speaker.say(word)
            whole = _in_room(np.concatenate([np.zeros(RATE // 2, np.float32), audio]), voice.snr, n)
            yield Utterance(voice.name, "backchannel", word, whole, LEAD + 0.5 + speech_end(audio, RATE))


# -- measuring -------------------------------------------------------------------


@dataclass
class Heard:
    """One utterance as the listener took it."""

    utterance: Utterance
    turns: list[TurnEnded]
    judged: list[Judgement]
    words_compute: list[float]  # the text model's seconds a call
    sound_compute: list[float]  # Smart Turn's


def hear(utterance: Utterance, settings: ListenSettings) -> Heard:
    avatar = utterance.kind == "backchannel"
    events, listener = listen_to(utterance.audio, RATE, settings, avatar=avatar)
    turns = listener.turns
    return Heard(
        utterance,
        [e for e in events if isinstance(e, TurnEnded)],
        list(turns.judged),
        list(turns.sentence.compute) if turns.sentence else [],
        list(turns.model.compute) if turns.model else [],
    )


def figures(heard: list[Heard], name: str) -> list[dict]:
    """The records of one run: over every voice, then voice by voice."""
    records = _figures(heard, name)
    for voice in dict.fromkeys(h.utterance.voice for h in heard):
        slug = voice.replace(" ", "_").replace(",", "")
        mine = [h for h in heard if h.utterance.voice == voice]
        records += [
            r
            for r in _figures(mine, f"{name}.voice.{slug}")
            if "compute" not in r["name"] and "model" not in r["name"] and "smart_turn" not in r["name"]
        ]
    return records


def _figures(heard: list[Heard], name: str) -> list[dict]:
    complete = [h for h in heard if h.utterance.kind == "complete"]
    pausing = [h for h in heard if h.utterance.kind == "paused"]
    backchannel = [h for h in heard if h.utterance.kind == "backchannel"]
    delays, missed = [], 0
    for h in complete:
        if len(h.turns) == 1:
            # as LiveKit counts it: from the end of speech Silero heard, the models' compute on top
            turn = h.turns[0]
            delays.append(turn.decided - turn.end + (turn.decision_ms or 0.0) / 1000)
        else:
            missed += 1  # cut in two (or heard as no turn)
    cut = sum(len(h.turns) != 1 or h.turns[0].decided < h.utterance.resumes for h in pausing)
    dropped = sum(bool(h.turns) for h in backchannel)
    compute = [j.compute for h in heard for j in h.judged]
    words = [c for h in heard for c in h.words_compute]
    sound = [c for h in heard for c in h.sound_compute]
    records = [
        record(f"{name}.end_of_turn.p50", 1000 * percentile(delays, 0.5), "ms after the end of speech"),
        record(f"{name}.end_of_turn.p95", 1000 * percentile(delays, 0.95), "ms after the end of speech"),
        record(f"{name}.false_cutoffs", 100 * cut / max(len(pausing), 1), f"% of {len(pausing)} paused questions"),
        record(f"{name}.complete_split", 100 * missed / max(len(complete), 1), f"% of {len(complete)} questions"),
        record(f"{name}.backchannels_dropping", 100 * dropped / max(len(backchannel), 1), "% of backchannels"),
    ]
    if compute:
        records += [
            record(f"{name}.decision_compute.p50", 1000 * percentile(compute, 0.5), "ms a pause, both models"),
            record(f"{name}.text_model.p50", 1000 * percentile(words, 0.5), "ms a call, warm"),
            record(f"{name}.text_model.p95", 1000 * percentile(words, 0.95), "ms a call, warm"),
            record(f"{name}.smart_turn.p50", 1000 * percentile(sound, 0.5), "ms a call"),
        ]
    return records


def bench_turns(config: FiresideConfig, quick: bool = False, calibrate: bool = False) -> list[dict]:
    """The evaluation half, said by every voice, with the configured
    thresholds (``end_of_turn: model``) and with the fixed hangover of
    ``end_of_turn: silence``; or, ``calibrate``, the thresholds chosen on
    the calibration half."""
    catalog = VoiceCatalog(config.voices.catalog)
    calibration, evaluation = questions()
    voices = VOICES[::4] if quick else VOICES
    complete, pausing, backs = (3, 2, 1) if quick else (8, 5, 3)
    if calibrate:
        return _calibrate(config.listen, list(utterances(voices, calibration, complete, pausing, 0, catalog)))
    said = list(utterances(voices, evaluation, complete, pausing, backs, catalog))
    records = []
    for mode, name in (("model", "turns"), ("silence", "turns.silence")):
        settings = config.listen.model_copy(update={"end_of_turn": mode})
        records += figures([hear(u, settings) for u in said], name)
    return records


# -- calibration -----------------------------------------------------------------

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]  # words_weight tried
SURE_WEIGHTS = [0.0, 1.0, 2.0, 4.0]
LEVELS = np.arange(-8.0, 4.01, 0.5)  # complete_threshold tried (log-odds); doubtful_threshold up to 5 below
HANGOVERS = [0.45, 0.6, 0.8, 1.0, 1.2]
CUTOFFS_AT_MOST = 0.05  # on the calibration half (at 3%, every voice waited a second: see the README)


def _calibrate(settings: ListenSettings, said: list[Utterance]) -> list[dict]:
    """Every pause of every utterance judged once (no pause under
    ``max_hangover`` ends a turn while they are read), then the weights,
    thresholds and doubtful hangover that keep false cut-offs at most
    ``CUTOFFS_AT_MOST`` with the lowest sum of the complete questions' p50
    and p95 delays."""
    reading = settings.model_copy(update={"end_of_turn": "model", "complete_threshold": 20, "doubtful_threshold": 20})
    judged = [(u.kind, hear(u, reading).judged) for u in said if u.kind != "backchannel"]
    best = None
    for words_weight, sure_weight in itertools.product(WEIGHTS, SURE_WEIGHTS):
        weights = settings.model_copy(update={"words_weight": words_weight, "sure_weight": sure_weight})
        scores = [
            (kind, [(turn_score(j.words, j.sound, j.sure, weights), j, _short(j.text)) for j in js])
            for kind, js in judged
        ]
        for hi, step, hangover in itertools.product(LEVELS, range(6), HANGOVERS):
            cut, delays = _simulate(scores, hi, hi - step, hangover, settings)
            if cut <= CUTOFFS_AT_MOST:
                key = percentile(delays, 0.5) + percentile(delays, 0.95)
                if best is None or key < best[0]:
                    best = (key, words_weight, sure_weight, float(hi), float(hi - step), hangover, cut, delays)
    if best is None:
        raise RuntimeError("no thresholds keep false cut-offs down on the calibration half")
    _, words_weight, sure_weight, hi, lo, hangover, cut, delays = best
    count = {kind: sum(k == kind for k, _ in judged) for kind in ("complete", "paused")}
    return [
        record("turns.calibrated.words_weight", words_weight, "listen.words_weight"),
        record("turns.calibrated.sure_weight", sure_weight, "listen.sure_weight"),
        record("turns.calibrated.complete_threshold", hi, "listen.complete_threshold (log-odds)"),
        record("turns.calibrated.doubtful_threshold", lo, "listen.doubtful_threshold (log-odds)"),
        record("turns.calibrated.doubtful_hangover", hangover, "listen.doubtful_hangover (s)"),
        record("turns.calibrated.end_of_turn.p50", 1000 * percentile(delays, 0.5), "ms, calibration half"),
        record("turns.calibrated.end_of_turn.p95", 1000 * percentile(delays, 0.95), "ms, calibration half"),
        record("turns.calibrated.false_cutoffs", 100 * cut, f"% of {count['paused']} paused, calibration half"),
        record("turns.calibrated.questions", float(count["complete"]), "complete questions, calibration half"),
    ]


def _short(text: str) -> bool:
    return len(re.findall(r"[\w']+", text)) < SHORT


def _simulate(scores, hi: float, lo: float, hangover: float, settings: ListenSettings) -> tuple[float, list[float]]:
    """False cut-offs (a share) and complete questions' delays (s) had each
    judged pause waited as ``hi``, ``lo`` and ``hangover`` say, as
    ``judge_pause`` does (a complete
    question cut in two counts as waiting ``max_hangover``)."""
    cut, paused_count, delays = 0, 0, []
    for kind, judged in scores:
        paused_count += kind == "paused"
        for score, j, short in judged:
            wait = (
                settings.turn_check if score >= hi and not short else hangover if score >= lo else settings.max_hangover
            )
            if j.resumed is None or j.resumed - j.at >= wait:  # the turn ends in this pause
                if j.resumed is not None:
                    cut += kind == "paused"
                    delays += [settings.max_hangover] if kind == "complete" else []
                elif kind == "complete":
                    delays.append(wait + j.compute)
                break
    return cut / max(paused_count, 1), delays
