import math

import pytest

from avatar.visemes import SHAPES, VISEMES, VOWEL_VISEMES, MouthCurve, viseme_for, viseme_track
from tests.conftest import speak

FPS = 25
OPEN = 0.3  # a mouth this open reads as open on screen


@pytest.mark.parametrize(
    "phoneme, viseme",
    [
        ("p", "PP"),
        ("b", "PP"),
        ("m", "PP"),
        ("f", "FF"),
        ("θ", "TH"),
        ("t", "DD"),
        ("k", "kk"),
        ("ɡ", "kk"),
        ("tʃ", "CH"),
        ("ʃ", "CH"),
        ("s", "SS"),
        ("n", "nn"),
        ("ɹ", "RR"),
        ("ɑː", "aa"),
        ("aɪ", "aa"),
        ("ə", "E"),
        ("ɪ", "ih"),
        ("oʊ", "oh"),
        ("u", "ou"),
        ("w", "ou"),
        ("ts.", "CH"),
        ("iɜ", "ih"),
        ("ei5", "E"),
        ("", "sil"),
        ("ˈ", "sil"),
    ],
)
def test_phonemes_map_to_the_oculus_visemes(phoneme, viseme):
    assert viseme_for(phoneme) == viseme


def test_every_viseme_has_a_shape():
    assert set(SHAPES) == set(VISEMES) and len(VISEMES) == 15


def nuclei(phonemes):
    """Onsets of vowel nuclei: a diphthong's second part is no new onset."""
    onsets, previous = [], None
    for p in phonemes:
        vowel = viseme_for(p.phoneme) in VOWEL_VISEMES
        if vowel and not previous:
            onsets.append(p)
        previous = vowel
    return onsets


TEXT = (
    "Maybe we can talk about the money markets, and my views on open banking, "
    "payments, and the future of fintech in Asia. Please bring your questions."
)


@pytest.fixture(scope="module")
def speech(joe):
    phonemes, _ = speak(joe, TEXT, start=0.3)
    return phonemes, MouthCurve(viseme_track(phonemes), fps=FPS)


def test_mouth_opens_within_one_frame_of_each_vowel(speech):
    phonemes, mouth = speech
    onsets = nuclei(phonemes)
    assert len(onsets) > 30
    late = []
    for p in onsets:
        k = math.ceil(p.start * FPS - 1e-9)  # the first frame at or after the onset
        if max(mouth.at(k / FPS).open, mouth.at((k + 1) / FPS).open) < OPEN:
            late.append(p)
    assert late == []


def test_lips_close_on_m_b_p(speech):
    phonemes, mouth = speech
    closures = [p for p in phonemes if viseme_for(p.phoneme) == "PP"]
    assert len(closures) >= 8
    for p in closures:
        frame = round((p.start + p.end) / 2 * FPS)
        shape = mouth.at(frame / FPS)
        assert shape.open == 0.0 and shape.press == 1.0, p


def test_mouth_rests_between_phrases_and_before_speech(speech):
    phonemes, mouth = speech
    assert mouth.at(0.0).open == 0.0
    pauses = [p for p in phonemes if not p.phoneme and p.end - p.start > 0.15]
    assert pauses
    for p in pauses:
        assert mouth.at((p.start + p.end) / 2).open < 0.05


def test_coarticulation_is_smooth(speech):
    _, mouth = speech
    opens = [mouth.at(i / 100).open for i in range(30, 500)]
    # no jumps from wide open to shut in 10 ms except the hard lip closures
    jumps = [abs(a - b) for a, b in zip(opens, opens[1:]) if a > 0 and b > 0]
    assert max(jumps) < 0.5
