"""Phonemes (IPA) to a viseme track, and the track to a mouth shape at any time.

The viseme set is the 15 Oculus (Meta) visemes:

==== ================================  ==== ================================
sil  silence, rest                     nn   n, l
PP   p, b, m (lips closed)             RR   r-sounds (lips slightly round)
FF   f, v (lower lip to upper teeth)   aa   a, ɑ, æ, ʌ (jaw open)
TH   θ, ð (tongue between teeth)       E    e, ɛ, ə (mid open, spread)
DD   t, d                              ih   i, ɪ (narrow, spread)
kk   k, g, ŋ, h                        oh   o, ɔ (open, round)
CH   tʃ, dʒ, ʃ, ʒ                      ou   u, ʊ, w (small, round)
SS   s, z
==== ================================  ==== ================================

Coarticulation: the shape at time *t* is a blend of the visemes heard just
before and just after *t*, weighted by overlap and by each viseme's
dominance (vowels shape the lips more than tongue consonants do). Hard
rules sit on top, because viewers notice them: lips close fully on m/b/p
(each closure is widened to cover at least one video frame), every
syllable's vowel opens the mouth on the first frame after its onset, and
the mouth rests during pauses.
"""

from __future__ import annotations

import bisect
import math
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stage.core.events import PhonemeSpan, Viseme

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")
VOWEL_VISEMES = frozenset({"aa", "E", "ih", "oh", "ou"})


@dataclass(frozen=True)
class MouthShape:
    """A mouth pose, each value from 0 to 1."""

    open: float = 0.0  # lips and jaw apart
    wide: float = 0.0  # corners spread
    round: float = 0.0  # lips rounded and pushed forward
    teeth: float = 0.0  # upper teeth shown
    tongue: float = 0.0  # tongue tip shown
    press: float = 0.0  # lips pressed together (bilabials)

    def blend(self, other: "MouthShape", amount: float) -> "MouthShape":
        a = 1.0 - amount
        return MouthShape(*(x * a + y * amount for x, y in zip(_values(self), _values(other))))


def _values(shape: MouthShape) -> tuple[float, ...]:
    return (shape.open, shape.wide, shape.round, shape.teeth, shape.tongue, shape.press)


REST = MouthShape()
SHAPES: dict[str, MouthShape] = {
    "sil": REST,
    "PP": MouthShape(press=1.0),
    "FF": MouthShape(open=0.08, wide=0.2, teeth=1.0),
    "TH": MouthShape(open=0.18, wide=0.2, teeth=0.8, tongue=1.0),
    "DD": MouthShape(open=0.22, wide=0.3, teeth=0.7, tongue=0.5),
    "kk": MouthShape(open=0.3, wide=0.2, teeth=0.4),
    "CH": MouthShape(open=0.2, round=0.6, teeth=0.9),
    "SS": MouthShape(open=0.1, wide=0.6, teeth=1.0),
    "nn": MouthShape(open=0.2, wide=0.3, teeth=0.5, tongue=0.7),
    "RR": MouthShape(open=0.22, round=0.5, teeth=0.3),
    "aa": MouthShape(open=1.0, wide=0.25, teeth=0.4),
    "E": MouthShape(open=0.62, wide=0.55, teeth=0.6),
    "ih": MouthShape(open=0.42, wide=0.85, teeth=0.8),
    "oh": MouthShape(open=0.72, round=0.75, teeth=0.2),
    "ou": MouthShape(open=0.4, round=1.0),
}
# How strongly a viseme holds the lips against its neighbours.
DOMINANCE: dict[str, float] = {
    "sil": 0.6,
    "PP": 1.0,
    "FF": 0.9,
    "TH": 0.5,
    "DD": 0.3,
    "kk": 0.25,
    "CH": 0.8,
    "SS": 0.6,
    "nn": 0.3,
    "RR": 0.6,
    "aa": 1.0,
    "E": 1.0,
    "ih": 1.0,
    "oh": 1.0,
    "ou": 1.0,
}

_MULTI = {
    "tʃ": "CH",
    "dʒ": "CH",
    "ʧ": "CH",
    "ʤ": "CH",
    "ts": "SS",
    "dz": "SS",
    "tɕ": "CH",
    "dʑ": "CH",
    "ts.": "CH",
    "tʂ": "CH",
}
_SINGLE = {
    **dict.fromkeys("pbmɱ", "PP"),
    **dict.fromkeys("fvʋ", "FF"),
    **dict.fromkeys("θð", "TH"),
    **dict.fromkeys("tdɾʈɖ", "DD"),
    **dict.fromkeys("kgɡŋxɣqɢhɦʔχ", "kk"),
    **dict.fromkeys("ʃʒɕʑʂʐcɟç", "CH"),
    **dict.fromkeys("sz", "SS"),
    **dict.fromkeys("nlɫɲɳʎɭ", "nn"),
    **dict.fromkeys("ɹrʁɻʀ", "RR"),
    **dict.fromkeys("aɑæɐʌäɒ", "aa"),
    **dict.fromkeys("eɛəɜɚɝɤœɘ", "E"),
    **dict.fromkeys("iɪɨᵻjyʏɿʅ", "ih"),  # ᵻ: espeak-ng's reduced "i" (Kokoro's English)
    **dict.fromkeys("oɔøɵ", "oh"),
    **dict.fromkeys("uʊwɯʉɥ", "ou"),
}


def viseme_for(phoneme: str) -> str:
    """The viseme of one IPA phoneme; pauses and unknown symbols rest."""
    letters = "".join(c for c in phoneme if unicodedata.category(c)[0] == "L" or c == ".")
    if not letters:
        return "sil"
    for length in (3, 2):
        if letters[:length] in _MULTI:
            return _MULTI[letters[:length]]
    for c in letters:  # a diphthong takes its first sound
        if c in _SINGLE:
            return _SINGLE[c]
    return "sil"


def viseme_track(phonemes: list[PhonemeSpan]) -> list[Viseme]:
    """One viseme per phoneme, neighbours with the same viseme merged."""
    track: list[Viseme] = []
    for span in phonemes:
        vid = viseme_for(span.phoneme)
        weight = 1.0 if span.stressed or vid not in VOWEL_VISEMES else 0.85
        if track and track[-1].id == vid and abs(track[-1].end - span.start) < 1e-6:
            last = track[-1]
            track[-1] = Viseme(vid, last.start, span.end, max(last.weight, weight))
        else:
            track.append(Viseme(vid, span.start, span.end, weight))
    return track


@dataclass(frozen=True)
class _Track:
    """A viseme track with what ``MouthCurve.at`` looks up in it. Never
    changed once made: a new one replaces it whole."""

    visemes: tuple[Viseme, ...]
    starts: tuple[float, ...]
    closures: tuple[tuple[float, float], ...]
    openings: Mapping[int, MouthShape]  # frame index -> the vowel it must show


_NO_TRACK = _Track((), (), (), MappingProxyType({}))


class MouthCurve:
    """The mouth shape at any time of a viseme track (append as speech comes).

    Render threads read the curve while the event loop adds speech to it or
    cuts it, so the track is one immutable ``_Track``: ``extend`` and ``cut``
    build a new one and swap it in with a single assignment, and ``at`` reads
    the attribute once. A frame sees the track before a change or after it,
    never half of one (a track and its lookups out of step)."""

    BEHIND = 0.020  # seconds of carry-over from the sound just heard
    AHEAD = 0.030  # seconds of anticipation: lips form a sound a little before it is heard

    def __init__(self, track: list[Viseme] = (), fps: float = 25.0):
        self.fps = fps
        self.half_frame = 0.5 / fps
        self._writing = threading.Lock()  # the event loop adds and cuts, render threads forget
        self._track = self._extended(_NO_TRACK, track)

    @property
    def track(self) -> tuple[Viseme, ...]:
        return self._track.visemes

    def extend(self, visemes: list[Viseme]) -> None:
        with self._writing:
            self._track = self._extended(self._track, visemes)

    def cut(self, t: float) -> None:
        """Forget the speech after ``t``: the avatar was stopped there."""
        with self._writing:
            keep = [v if v.end <= t else Viseme(v.id, v.start, t, v.weight) for v in self._track.visemes if v.start < t]
            self._track = self._extended(_NO_TRACK, keep)

    def forget(self, before: float) -> None:
        """Drop the speech that ended before ``before``: frames are drawn
        forward, and a session lasts hours (what is kept stays small)."""
        with self._writing:
            track = self._track
            keep = next((i for i, v in enumerate(track.visemes) if v.end > before), len(track.visemes))
            if keep == 0:
                return
            first = math.floor(before * self.fps) - 1
            self._track = _Track(
                track.visemes[keep:],
                track.starts[keep:],
                tuple(c for c in track.closures if c[1] > before),
                MappingProxyType({f: shape for f, shape in track.openings.items() if f >= first}),
            )

    def _extended(self, track: _Track, visemes: list[Viseme]) -> _Track:
        """A new track: ``track`` with ``visemes`` after it (``track`` is left as it is)."""
        added, starts, closures = list(track.visemes), list(track.starts), list(track.closures)
        openings = dict(track.openings)
        for v in visemes:
            previous = added[-1].id if added else "sil"
            added.append(v)
            starts.append(v.start)
            if v.id == "PP":
                mid = (v.start + v.end) / 2
                closures.append((min(v.start, mid - self.half_frame), max(v.end, mid + self.half_frame)))
            elif v.id in VOWEL_VISEMES and previous not in VOWEL_VISEMES:
                # a syllable's vowel shows on the first frame at or after its
                # onset, however short it is (the blend alone could miss it)
                openings[math.ceil(v.start * self.fps - 1e-9)] = SHAPES[v.id]
        return _Track(tuple(added), tuple(starts), tuple(closures), MappingProxyType(openings))

    @staticmethod
    def _closed(track: _Track, t: float) -> bool:
        return any(a <= t < b for a, b in track.closures[-64:])

    def at(self, t: float) -> MouthShape:
        track = self._track  # one snapshot for the whole lookup
        if self._closed(track, t):
            return SHAPES["PP"]
        shape = self._blend(track, t)
        # around each frame a syllable's vowel is owed, open towards it (a
        # triangle one frame wide each side, so the mouth moves smoothly)
        first = math.floor(t * self.fps)
        for frame in (first, first + 1):
            vowel = track.openings.get(frame)
            if vowel is None and self._closed(track, (frame - 1) / self.fps):
                vowel = track.openings.get(frame - 1)  # its frame went to the lips' closure: the next one
            if vowel is not None:
                weight = max(0.0, 1.0 - abs(t - frame / self.fps) * self.fps)
                opened = shape.blend(vowel, 0.85 * weight)
                if opened.open > shape.open:
                    shape = opened
        return shape

    def _blend(self, track: _Track, t: float) -> MouthShape:
        lo, hi = t - self.BEHIND, t + self.AHEAD
        first = max(0, bisect.bisect_right(track.starts, lo) - 1)
        covered = 0.0
        total = 0.0
        acc = [0.0] * 6
        for v in track.visemes[first:]:
            if v.start >= hi:
                break
            overlap = min(hi, v.end) - max(lo, v.start)
            if overlap <= 0:
                continue
            covered += overlap
            w = overlap * DOMINANCE[v.id]
            total += w
            for i, x in enumerate(_values(SHAPES[v.id])):
                acc[i] += w * x * (v.weight if i == 0 else 1.0)  # weight: how far the jaw opens
        # time in the window with no sound at all counts as rest
        total += max(0.0, (hi - lo) - covered) * DOMINANCE["sil"]
        if total == 0.0:
            return REST
        return MouthShape(*(a / total for a in acc))
