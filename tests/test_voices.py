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
