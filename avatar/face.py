"""The state of a face at one instant, and what moves it besides speech:
blinks, breathing, a slow head sway, the eyes' small jumps (saccades), and
brows that lift and a head that nods on stressed syllables."""

from __future__ import annotations

import bisect
import functools
import math
import random
import threading
from dataclasses import dataclass, field

from avatar.visemes import REST, MouthCurve, MouthShape, viseme_track
from stage.core.events import PhonemeSpan

NOD = 0.006  # how far the head dips on a stressed syllable (a fraction of the frame)


@dataclass(frozen=True)
class FaceState:
    mouth: MouthShape = REST
    blink: float = 0.0  # 0 eyes open, 1 closed
    brow: float = 0.0  # 0 relaxed, 1 raised
    head_x: float = 0.0  # head offset, in fractions of the frame width
    head_y: float = 0.0
    head_roll: float = 0.0  # radians
    breath: float = 0.0  # -1 exhaled .. 1 inhaled
    gaze_x: float = 0.0  # -1 left .. 1 right
    gaze_y: float = 0.0


@dataclass(frozen=True)
class _Block:
    """One minute of blinks and eye jumps, all derived from the seed and the minute's number."""

    blinks: tuple[float, ...]
    saccades: tuple[float, ...]
    looks: tuple[tuple[float, float], ...]


class IdleMotion:
    """Deterministic life for an idle face: the same seed, the same motion,
    for as long as a session runs (a panel evening's clock reads hours).

    Blinks and eye jumps are drawn a block of ``BLOCK_SECONDS`` at a time,
    each block from the seed and its number alone, so any instant is found
    without the history before it and nothing grows with time."""

    BLINK_SECONDS = 0.16
    SACCADE_SECONDS = 0.04
    BLOCK_SECONDS = 60.0

    def __init__(self, seed: int = 0):
        self.seed = seed
        rng = random.Random(seed)
        # head sway: a sum of slow sines with incommensurate periods
        self._sway = [(rng.uniform(0.05, 0.23), rng.uniform(0, 2 * math.pi)) for _ in range(6)]
        self._breath_hz = rng.uniform(0.22, 0.28)
        self._block = functools.lru_cache(maxsize=4)(self._draw)  # render threads read the last two

    def _draw(self, number: int) -> _Block:
        rng = random.Random(f"{self.seed}:{number}")
        start, end = number * self.BLOCK_SECONDS, (number + 1) * self.BLOCK_SECONDS
        # blinks every 2 to 6 seconds, sometimes a quick double blink
        blinks: list[float] = []
        t = start + rng.uniform(0.4, 2.0)
        while t < end:
            blinks.append(t)
            if rng.random() < 0.15:
                blinks.append(t + 0.3)
            t += rng.uniform(2.0, 6.0)
        # the eyes jump to a new point every 0.4 to 2.5 s and hold it (saccades);
        # mostly small jumps around the middle, now and then a larger one
        saccades: list[float] = []
        looks: list[tuple[float, float]] = []
        t = start + rng.uniform(0.3, 1.5)
        while t < end:
            reach = 0.7 if rng.random() < 0.2 else 0.3
            saccades.append(t)
            looks.append((rng.uniform(-reach, reach), rng.uniform(-0.5 * reach, 0.5 * reach)))
            t += rng.uniform(0.4, 2.5)
        return _Block(tuple(blinks), tuple(saccades), tuple(looks))

    def _blocks(self, t: float) -> tuple[_Block | None, _Block]:
        """The block before ``t``'s (None before the first) and ``t``'s own."""
        number = max(0, math.floor(t / self.BLOCK_SECONDS))
        return (self._block(number - 1) if number else None), self._block(number)

    def blink_at(self, t: float) -> float:
        before, block = self._blocks(t)
        blinks = [*(before.blinks[-2:] if before else ()), *block.blinks]
        i = bisect.bisect_right(blinks, t) - 1
        if i < 0:
            return 0.0
        phase = (t - blinks[i]) / self.BLINK_SECONDS
        if phase >= 1.0:
            return 0.0
        # lids close fast and open a little slower
        return (
            math.sin(math.pi * min(1.0, phase * 1.6))
            if phase < 0.3125
            else math.cos((phase - 0.3125) / 0.6875 * math.pi / 2)
        )

    def gaze_at(self, t: float) -> tuple[float, float]:
        """Where the eyes look: each saccade takes about 40 ms, then holds."""
        before, block = self._blocks(t)
        # the eyes start at the middle; a block begins where the one before left them
        saccades = [-math.inf, *block.saccades]
        looks = [before.looks[-1] if before and before.looks else (0.0, 0.0), *block.looks]
        i = bisect.bisect_right(saccades, t) - 1
        to = looks[i]
        if i == 0:
            return to
        moved = min(1.0, (t - saccades[i]) / self.SACCADE_SECONDS)
        came = looks[i - 1]
        return came[0] + (to[0] - came[0]) * moved, came[1] + (to[1] - came[1]) * moved

    def state_at(self, t: float) -> FaceState:
        (f1, p1), (f2, p2), (f3, p3), (f4, p4), (f5, p5), _ = self._sway
        tau = 2 * math.pi * t
        gaze_x, gaze_y = self.gaze_at(t)
        return FaceState(
            blink=self.blink_at(t),
            head_x=0.006 * math.sin(tau * f1 + p1) + 0.003 * math.sin(tau * f2 + p2),
            head_y=0.004 * math.sin(tau * f3 + p3),
            head_roll=0.018 * math.sin(tau * f4 + p4) + 0.008 * math.sin(tau * f5 + p5),
            breath=math.sin(tau * self._breath_hz),
            gaze_x=gaze_x,
            gaze_y=gaze_y,
        )


@dataclass
class FaceAnimator:
    """Face state at any time: idle motion plus speech (visemes and emphasis).

    Render threads call ``state_at`` while the event loop adds or cuts
    speech: the mouth is a ``MouthCurve`` (safe to read so), and the stresses
    are a tuple replaced whole, never changed in place. What was said before
    the frames being drawn is forgotten (``forget``), so a session of hours
    keeps only its last seconds of speech."""

    fps: float = 25.0
    seed: int = 0
    idle: IdleMotion = field(init=False)
    mouth: MouthCurve = field(init=False)
    _stresses: tuple[float, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.idle = IdleMotion(self.seed)
        self.mouth = MouthCurve(fps=self.fps)
        self._writing = threading.Lock()

    def add_speech(self, phonemes: list[PhonemeSpan]) -> None:
        """Add phonemes already placed on the session clock."""
        self.mouth.extend(viseme_track(phonemes))
        with self._writing:
            self._stresses = (*self._stresses, *(p.start for p in phonemes if p.stressed))

    def cut(self, t: float) -> None:
        """Stop speaking at ``t`` (a barge-in, the moderator's stop)."""
        self.mouth.cut(t)
        with self._writing:
            self._stresses = tuple(s for s in self._stresses if s < t)

    def forget(self, before: float) -> None:
        """Drop the speech that ended before ``before`` (frames are drawn forward)."""
        self.mouth.forget(before)
        with self._writing:
            self._stresses = tuple(s for s in self._stresses if s >= before - 1.0)

    def state_at(self, t: float) -> FaceState:
        idle = self.idle.state_at(t)
        # brows lift briefly on stressed syllables, as speakers do for
        # emphasis, and the head dips a little with them (a nod)
        brow = nod = 0.0
        stresses = self._stresses
        for s in stresses[bisect.bisect_right(stresses, t - 0.6) :]:
            if s > t:
                break
            brow = max(brow, math.exp(-(((t - s - 0.12) / 0.18) ** 2)))
            nod = max(nod, math.exp(-(((t - s - 0.15) / 0.12) ** 2)))
        return FaceState(
            mouth=self.mouth.at(t),
            blink=idle.blink,
            brow=0.6 * brow,
            head_x=idle.head_x,
            head_y=idle.head_y + NOD * nod,
            head_roll=idle.head_roll,
            breath=idle.breath,
            gaze_x=idle.gaze_x,
            gaze_y=idle.gaze_y,
        )
