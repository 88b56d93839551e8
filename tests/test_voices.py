import numpy as np
import pytest

from tests.conftest import speak
from voices.catalog import UnknownVoice, VoiceCatalog, VoiceEntry
from voices.speech import PAUSE, SpeechError, spans_from_timings, speakable_pieces


def test_text_is_split_into_sentences_and_a_long_first_clause():
    assert speakable_pieces("Hello there.  How are you? Fine!") == ["Hello there.", "How are you?", "Fine!"]
    long = "When the central bank moves its rates, every lender in the market reprices its loans. Then what?"
    assert speakable_pieces(long) == [
        "When the central bank moves its rates,",
        "every lender in the market reprices its loans.",
        "Then what?",
    ]
    assert speakable_pieces("你好。我是助手。") == ["你好。", "我是助手。"]
    with pytest.raises(SpeechError):
        speakable_pieces("  \n ")


def test_engine_symbols_become_sounds_and_pauses():
    spans = spans_from_timings(
        [
            ("^", 0.1),
            ("h", 0.05),
            ("ˈ", 0.02),
            ("ɛ", 0.1),
            ("ː", 0.04),
            (" ", 0.02),
            ("l", 0.05),
            (",", 0.2),
            ("o", 0.1),
            ("$", 0.1),
        ]
    )
    assert [s.phoneme for s in spans] == [PAUSE, "h", "ɛː", "l", PAUSE, "o", PAUSE]
    assert spans[2].stressed and not spans[1].stressed
    assert spans[2].start == pytest.approx(0.15) and spans[2].end == pytest.approx(0.32)  # stress, length, half the gap
    assert spans[3].start == pytest.approx(0.32)  # the word gap is split between neighbours
    assert spans[-1].end == pytest.approx(0.78)  # no time is lost
    assert all(a.end == pytest.approx(b.start) for a, b in zip(spans, spans[1:]))


def test_piper_speaks_sentence_by_sentence_with_aligned_phonemes(joe):
    pieces = joe.synthesize("Good evening. Welcome to the panel on open banking.")
    first = next(pieces)  # made before the rest of the text is touched
    assert first.text == "Good evening."
    rest = list(pieces)
    assert [p.text for p in rest] == ["Welcome to the panel on open banking."]
    for piece in [first, *rest]:
        audio = piece.audio
        assert audio.sample_rate == 22050 and audio.pcm.dtype == np.int16
        assert np.sqrt(np.mean(audio.pcm.astype(float) ** 2)) > 500  # real speech, not silence
        assert piece.phonemes[-1].end == pytest.approx(audio.duration, abs=1e-6)
        assert any(p.stressed for p in piece.phonemes)
        sounds = "".join(p.phoneme for p in piece.phonemes)
        assert "ˈ" not in sounds and " " not in sounds
    assert "w" in [p.phoneme for p in rest[0].phonemes]


@pytest.mark.parametrize(
    "voice, text",
    [
        ("espeak-en", "Hello, and welcome."),
        ("espeak-cmn", "你好，欢迎来到论坛。"),
        ("espeak-yue", "你好，歡迎嚟到香港。"),
    ],
)
def test_espeak_fallback_voices(catalog, voice, text):
    phonemes, end = speak(catalog.engine(voice), text)
    assert end > 0.8
    sounds = [p.phoneme for p in phonemes if p.phoneme]
    assert len(sounds) >= 8
    assert phonemes[-1].end == pytest.approx(end, abs=0.05)
    assert not any(s.startswith("(") for s in sounds)  # no language switch: the hanzi are read natively


def test_language_lookup_prefers_piper(catalog):
    assert catalog.for_language("en").id == "joe"
    assert catalog.for_language("cmn").id == "espeak-cmn"
    assert catalog.for_language("yue").id == "espeak-yue"


def test_unknown_voice_lists_the_known_ones(catalog):
    with pytest.raises(UnknownVoice) as caught:
        catalog.get("nobody")
    assert "nobody" in str(caught.value) and "joe" in str(caught.value) and "espeak-cmn" in str(caught.value)


def test_a_user_piper_voice_from_disk(tmp_path, catalog, joe):
    import shutil

    source = catalog.get("joe").model
    model = tmp_path / "my-voice.onnx"
    shutil.copy(source, model)
    shutil.copy(f"{source}.json", f"{model}.json")
    mine = VoiceCatalog(
        [VoiceEntry(id="slow-joe", engine="piper", language="en_GB", model=str(model), speaking_rate=0.7)]
    )
    assert mine.get("slow-joe").rate() == 22050
    text = "Thank you for the question."
    _, slow = speak(mine.engine("slow-joe"), text)
    _, normal = speak(joe, text)
    assert slow > normal * 1.2
    with pytest.raises(ValueError, match="no my-voice2.onnx.json"):
        VoiceEntry(id="x", engine="piper", language="en", model=str(shutil.copy(model, tmp_path / "my-voice2.onnx")))


def pitch(pcm: np.ndarray, rate: int) -> float:
    """The median fundamental frequency (Hz) of the loud 40 ms frames, by autocorrelation."""
    x, found = pcm.astype(np.float32) / 32768, []
    size = int(rate * 0.04)
    for i in range(0, len(x) - size, size // 2):
        frame = x[i : i + size]
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1 :]
        low, high = rate // 400, rate // 70
        found.append(rate / (low + np.argmax(ac[low:high])))
    return float(np.median(found))


def test_each_panelist_has_a_voice_of_its_own_and_ada_and_mei_speak_as_women(cards, catalog):
    """Kokoro's female voices speak English that Whisper hears, with phoneme
    spans covering every sample; each panelist's voice differs from the others'."""
    from stage.core.audio import Resampler
    from stage.listen.asr import transcribe

    text = "Banks detect fraud by scoring each payment in real time."
    voices = {pid: card.voice for pid, card in cards.items()}
    assert len(set(voices.values())) == len(voices), voices
    pitches = {}
    for pid, voice in voices.items():
        pieces = list(catalog.engine(voice).synthesize(text))
        pcm = np.concatenate([p.audio.pcm for p in pieces])
        rate = pieces[0].audio.sample_rate
        for piece in pieces:
            assert piece.phonemes[-1].end == pytest.approx(piece.audio.duration, abs=0.02)
            assert all(a.end <= b.start + 1e-6 for a, b in zip(piece.phonemes, piece.phonemes[1:]))
        resample = Resampler(rate)
        heard = transcribe(np.concatenate([resample(pcm), resample.flush()]), "tiny.en", "en").text.lower()
        assert "payment in real time" in heard and "scoring" in heard, (voice, heard)
        pitches[pid] = pitch(pcm, rate)
    assert pitches["ada"] > 180 and pitches["mei"] > 180 and pitches["ravi"] < 160, pitches
    assert abs(pitches["ada"] - pitches["mei"]) > 30, pitches  # two women, told apart


def test_kokoro_and_espeak_ng_speak_in_one_process_whichever_loads_first():
    """Kokoro's phonemizer brings its own libespeak-ng; loaded first, it must not
    become the one the espeak-ng voice finds (which ended the process: a rehearsal
    with a Kokoro panelist and an espeak-ng moderator)."""
    import subprocess
    import sys

    script = (
        "from voices.catalog import VoiceCatalog\n"
        "c = VoiceCatalog()\n"
        "for voice in ('kokoro-tebukuro', 'espeak-en', 'kokoro-tebukuro'):\n"
        "    print(voice, round(sum(p.audio.duration for p in c.engine(voice).synthesize('Good evening.')), 2))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[::2] == ["kokoro-tebukuro", "espeak-en", "kokoro-tebukuro"] and all(
        float(s) > 0.3 for s in lines[1::2]
    )


def test_a_call_takes_the_cards_call_voice_and_the_stage_its_voice(config, runtime):
    """Kokoro needs seconds to voice a clause on 2 cores: Ada speaks as a woman on
    stage and in rehearsal, and with the fast Piper voice her card names for calls."""
    from stage.session.cast import Cast
    from voices.kokoro import KokoroEngine
    from voices.piper import PiperEngine

    cast = Cast(config, runtime=runtime)
    assert isinstance(cast.session("ada", stage=True).voice, KokoroEngine)
    assert isinstance(cast.session("ada").voice, PiperEngine)
    assert isinstance(cast.session("ravi").voice, PiperEngine)


def test_an_answer_opens_with_a_phrase_where_the_voice_is_slow(catalog, runtime):
    """Kokoro takes seconds to voice a long sentence on 2 cores: an answer's
    first sentence is said as its first phrase, then the rest, so the first
    audio comes sooner; later sentences, and a fast voice's, are said whole."""
    import asyncio

    from stage.core.events import AnswerEnd, Clause
    from stage.think.clauses import opening
    from stage.timeline.placing import Timeline
    from stage.timeline.voicing import Voiced, voice_answer

    assert opening("Fraud is detected by models.", 3) == ["Fraud is detected", "by models."]
    assert opening("It rose.", 3) == ["It rose."]  # no phrase of three words and a rest
    # "and" joins words more often than clauses: not a cut
    first = "Cross-border payments are still slow and expensive because they pass through correspondent banks."
    second = "Projects linking payment systems across countries aim to make them faster."
    assert opening(first, 3) == [first[:50], first[51:]]

    async def said(voice):
        async def answer():
            yield Clause(first, ("payments.md",), "extractive")
            yield Clause(second, ("payments.md",), "extractive")
            yield AnswerEnd("answered")

        events = [event async for event in voice_answer(answer(), voice, Timeline(), pool=runtime.speech)]
        assert [event.text for event in events if isinstance(event, Clause)] == [first, second]  # as thought
        return [event.placed.speech for event in events if isinstance(event, Voiced)]

    kokoro = asyncio.run(said(catalog.engine("kokoro-tebukuro")))
    assert [s.text for s in kokoro] == opening(first, 3) + [second]
    assert kokoro[0].audio.duration < 0.6 * (kokoro[0].audio.duration + kokoro[1].audio.duration)
    assert all(a.audio.end <= b.audio.pts + 1e-6 for a, b in zip(kokoro, kokoro[1:]))  # one after another
    joe = asyncio.run(said(catalog.engine("joe")))
    assert [s.text for s in joe] == [first, second]
