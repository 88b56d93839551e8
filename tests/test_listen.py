"""Listening on real speech (Piper and espeak-ng), silence and noise."""

import json
import os
import re
import subprocess
import sys
import wave

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from stage.core.audio import to_16k_mono
from stage.core.config import ListenSettings
from stage.core.events import AudioChunk, Interrupted, SpeechStarted, Transcript, TurnEnded
from stage.listen import asr
from stage.listen.asr import SHORT_WINDOW_MAX, transcribe
from stage.listen.listener import Listener
from stage.listen.turns import looks_unfinished
from stage.tools.bench.fuzz import pauseless
from tests import waiting

RATE = 22050

QUESTIONS = [
    "What does open banking mean for small businesses?",
    "How can banks protect older customers from fraud?",
    "Could artificial intelligence change how people pay for things?",
    "Do you think digital currencies will replace cash?",
]


def voice(engine, text: str) -> np.ndarray:
    return np.concatenate([p.audio.pcm for p in engine.synthesize(text)]).astype(np.float32) / 32768


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def noise(seconds: float, level: float, seed: int = 7, samples: int | None = None) -> np.ndarray:
    count = samples if samples is not None else int(seconds * RATE)
    return (np.random.default_rng(seed).standard_normal(count) * level).astype(np.float32)


def listen(audio: np.ndarray, rate: int = RATE, channels: int = 1, settings=None, step: int = 2205):
    listener = Listener(settings, sample_rate=rate, channels=channels)
    events = []
    frames = audio if audio.ndim == 1 else audio
    for i in range(0, len(frames), step):
        events += listener.feed(frames[i : i + step])
    return events + listener.finish(), listener


def turns(events):
    return [e for e in events if isinstance(e, TurnEnded)]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: list[str], hypothesis: list[str]) -> float:
    ref = [w for r in reference for w in words(r)]
    hyp = [w for h in hypothesis for w in words(h)]
    return Levenshtein.distance(ref, hyp) / len(ref)


@pytest.fixture(scope="module")
def questions(joe):
    return [voice(joe, q) for q in QUESTIONS]


def test_piper_questions_in_noise_make_one_turn_each_with_low_word_error(questions):
    parts = [silence(0.8)]
    for q in questions:
        parts += [q, silence(1.4)]
    audio = np.concatenate(parts)
    audio += noise(0, 0.003, samples=len(audio))  # a quiet room
    events, _ = listen(audio)
    ended = turns(events)
    assert len(ended) == 4
    assert wer(QUESTIONS, [t.text for t in ended]) <= 0.10
    # each turn: speech starts, partial captions while speaking, then the final words
    assert sum(isinstance(e, SpeechStarted) for e in events) == 4
    partials = [e for e in events if isinstance(e, Transcript) and not e.final]
    assert len(partials) >= 3
    finals = [e for e in events if isinstance(e, Transcript) and e.final]
    assert [f.text for f in finals] == [t.text for t in ended]
    # turn times are on the audio's clock: the first question starts at 0.8 s
    assert abs(ended[0].start - 0.8) < 0.15
    assert all(t.end < t.decided for t in ended)


def test_espeak_speech_makes_the_right_number_of_turns(catalog):
    espeak = catalog.engine("espeak-en")
    audio = np.concatenate(
        [
            silence(0.5),
            voice(espeak, "Good morning, everyone."),
            silence(1.5),
            voice(espeak, "Please tell me about digital payments."),
            silence(1.2),
        ]
    )
    ended = turns(listen(audio)[0])
    assert len(ended) == 2
    assert "payment" in ended[1].text.lower()


@pytest.mark.parametrize("level", [0.0, 0.01, 0.1, 0.5])
def test_silence_and_white_noise_make_no_turns(level):
    events, _ = listen(noise(4.0, level) if level else silence(4.0))
    assert turns(events) == [] and not any(isinstance(e, Transcript) for e in events)


def test_a_cough_or_click_is_not_a_turn():
    click = np.concatenate([silence(1.0), noise(0.06, 0.6), silence(0.5), noise(0.03, 0.9), silence(1.5)])
    assert turns(listen(click)[0]) == []


def test_a_pause_mid_sentence_does_not_end_the_turn(joe):
    first = voice(joe, "I would like to ask you about")
    second = voice(joe, "the future of digital payments.")
    audio = np.concatenate([silence(0.5), first, silence(0.8), second, silence(1.6)])
    ended = turns(listen(audio)[0])
    assert len(ended) == 1 and "payments" in ended[0].text.lower() and "ask" in ended[0].text.lower()
    assert looks_unfinished("I would like to ask you about") and not looks_unfinished("What is FPS?")


def test_speech_without_a_pause_is_cut_into_turns_of_max_turn(joe):
    """Someone who never pauses: a turn ends each ``max_turn`` seconds, and
    the next starts there, not where the speech began (which once ended a
    new turn on every 32 ms frame, each with a pass of Whisper)."""
    pcm = voice(joe, "Banks watch for fraud all day and all night. They look at where a card is used.")
    stream = pauseless(pcm, 13 * RATE)
    events, _ = listen(stream, settings=ListenSettings(max_turn=5.0, partial_every=10.0))
    starts = [e.start for e in events if isinstance(e, SpeechStarted)]
    assert len(starts) == 3, starts  # at 0, 5 and 10 s: the last ends with the audio
    assert starts[1] == pytest.approx(5.0, abs=0.3) and starts[2] == pytest.approx(10.0, abs=0.6), starts
    assert all(e.end - e.start < 5.0 + 0.032 for e in turns(events)), [(e.start, e.end) for e in turns(events)]


def test_names_given_as_vocabulary_are_heard_as_names(joe):
    # the moderator's ear expects the panelists' names: Whisper tiny alone hears
    # this "Kwame" as "Quain" (and "Ravi" as "Radi", "Rady" or "Ready", run to run)
    audio = np.concatenate([silence(0.5), voice(joe, "Kwame, how do banks detect fraud?"), silence(1.6)])
    ended = turns(listen(audio, settings=ListenSettings(vocabulary="Ada Lim, Kwame Mensah."))[0])
    assert len(ended) == 1 and re.match(r"Kwame\b", ended[0].text), ended
    heard = ended[0].text.lower()
    assert "fraud" in heard and "mensah" not in heard  # the vocabulary is not heard as words


def test_clipped_nan_and_48k_stereo_audio(questions):
    q = np.concatenate([silence(0.5), questions[0], silence(1.2)])
    clipped = np.clip(q * 12, -1, 1)  # a microphone driven far too hard
    # Whisper mishears some clipped words ("spare businesses"), but one turn of
    # mostly the right words comes out, not a loop or nothing
    clipped_turns = turns(listen(clipped)[0])
    assert len(clipped_turns) == 1 and wer([QUESTIONS[0]], [clipped_turns[0].text]) <= 0.5
    broken, rng = q.copy(), np.random.default_rng(3)
    broken[rng.integers(0, len(q), 50)] = np.nan
    broken[rng.integers(0, len(q), 5)] = np.inf
    assert wer([QUESTIONS[0]], [t.text for t in turns(listen(broken)[0])]) <= 0.10
    # what a browser sends: 48 kHz, stereo, 16-bit, 960-sample frames
    from fractions import Fraction

    import av

    frame = av.AudioFrame.from_ndarray((q * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
    up = av.AudioResampler(format="s16", layout="stereo", rate=48000)
    stereo = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in [*up.resample(frame), *up.resample(None)]])
    events, _ = listen(stereo, rate=48000, channels=2, step=960)
    assert wer([QUESTIONS[0]], [t.text for t in turns(events)]) <= 0.10


def test_resampling_keeps_time():
    tone = np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440).astype(np.float32)
    assert abs(len(to_16k_mono(np.stack([tone, tone], 1), 48000, 2)) - 16000) <= 32


def test_barge_in_is_raised_quickly_and_the_avatars_own_voice_is_not_a_person(joe, catalog, questions):
    avatar = np.concatenate([questions[1], questions[2]])  # what the avatar says
    echo = np.concatenate([silence(0.04), avatar * 0.5])[: len(avatar)]  # heard back by the microphone

    def run(mix):
        listener = Listener(sample_rate=RATE)
        listener.avatar_speaking = True
        listener.add_playback(AudioChunk((avatar * 32767).astype(np.int16), RATE, 0.0))
        events = []
        for i in range(0, len(mix), 441):  # 20 ms at a time, as a call sends it
            events += listener.feed(mix[i : i + 441])
        return events

    # the echo alone: no interruption, no words taken for the person's
    events = run(echo)
    assert not any(isinstance(e, (Interrupted, Transcript, TurnEnded)) for e in events)
    # a person speaks over the avatar from 1.5 s: an interrupt within 300 ms of it
    person = voice(catalog.engine("espeak-en"), "Sorry, can I stop you there?") * 0.9
    mix = echo.copy()
    start = int(1.5 * RATE)
    mix[start : start + len(person)] += person
    interrupts = [e for e in run(mix) if isinstance(e, Interrupted)]
    onset = 1.5 + np.argmax(np.abs(person) > 0.02) / RATE
    assert len(interrupts) == 1 and 0 <= interrupts[0].at - onset <= 0.3


def test_decoding_is_bounded_by_tokens_not_by_the_clock(questions, monkeypatch):
    # audio past one short window goes through faster-whisper's segments, with
    # a token budget for the whole: however busy the machine, the same words
    audio = to_16k_mono(np.concatenate([questions[0]] * 10), RATE)
    assert len(audio) / 16000 > SHORT_WINDOW_MAX
    whole = transcribe(audio)
    # (Whisper writes a question said ten times fewer times: it repeats no three words in a window)
    assert not whole.truncated and len(whole.text.split()) >= 20, whole.text
    assert transcribe(audio).text == whole.text
    monkeypatch.setattr(asr, "TOKENS_PER_SECOND", 0)  # a budget a loop would run through
    cut = transcribe(np.concatenate([audio] * 3))  # windows enough to run through it
    assert cut.truncated and cut.text and len(cut.text) < len(whole.text)  # it stops after a piece
    monkeypatch.undo()
    # a short utterance is one window with a token budget: a loop cannot run on
    short = transcribe(to_16k_mono(np.concatenate([questions[0]] * 2), RATE))
    assert not short.truncated and len(short.text.split()) <= 2 * len(QUESTIONS[0].split()) + 2
    assert transcribe(np.zeros(800, np.float32)).text == ""


def test_whisper_base_is_an_option(questions):
    audio = to_16k_mono(np.concatenate([silence(0.3), questions[2], silence(0.3)]), RATE)
    result = transcribe(audio, model="base", language="en")
    assert wer([QUESTIONS[2]], [result.text]) <= 0.15


def test_the_final_pass_is_done_during_the_silence(questions):
    audio = np.concatenate([silence(0.5), questions[0], silence(1.2)])
    settings = ListenSettings()
    events, listener = listen(audio, settings=settings)
    assert len(turns(events)) == 1
    assert listener.final_compute[0] < 0.05  # the words were ready when the turn ended


def test_listen_command(tmp_path, questions):
    path = tmp_path / "question.wav"
    pcm = (np.concatenate([silence(0.5), questions[0], silence(1.0)]) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE), w.writeframes(pcm.tobytes())
    command = os.path.join(os.path.dirname(sys.executable), "fireside")
    run = subprocess.run(
        [command, "listen", str(path), "--json"], capture_output=True, text=True, timeout=waiting.seconds(120)
    )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events][0] == "SpeechStarted" and events[-1]["event"] == "TurnEnded"
    turn = events[-1]  # its end, when it was decided, and what decided it
    assert turn["end"] < turn["decided"] and turn["why"] in ("complete", "doubtful", "unfinished"), turn
    assert 0 <= turn["words"] <= 1 and 0 <= turn["sound"] <= 1 and turn["decision_ms"] > 0, turn
    assert wer([QUESTIONS[0]], [events[-1]["text"]]) <= 0.10
    table = subprocess.run([command, "listen", str(path)], capture_output=True, text=True, timeout=waiting.seconds(120))
    assert "turn 1 ends" in table.stdout and "1 turn(s)" in table.stdout and "ms to decide" in table.stdout
    bad = subprocess.run([command, "listen", str(tmp_path / "missing.wav")], capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr


def test_a_pending_turn_is_withdrawn_when_the_person_goes_on(joe):
    from stage.core.events import TurnPending, TurnResumed
    from stage.tools.bench.listening import paused

    # "How can banks protect?": Whisper writes it as a whole question, so an
    # answer is drafted in the pause, but the words are not whole, so the turn
    # waits, and the person goes on
    question, _ = paused(joe, "How can banks protect", "older customers from fraud?", 0.35)
    audio = np.concatenate([silence(0.5), question, silence(1.5)])
    events, _ = listen(audio)
    kinds = [type(e).__name__ for e in events if isinstance(e, (TurnPending, TurnResumed, TurnEnded))]
    assert kinds == ["TurnPending", "TurnResumed", "TurnPending", "TurnEnded"]
    pending = [e for e in events if isinstance(e, TurnPending)]
    assert pending[-1].text == turns(events)[0].text and "fraud" in pending[-1].text.lower()
