"""Each rig speaking, for the README (``fireside strip``): a strip of
frames, a short video of both rigs side by side with the voice, and the
photo rig's mouth close up on each test portrait, sound by sound."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avatar.face import FaceState
from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.rigs.photo import PhotoRig, sample_portrait, test_portraits
from avatar.visemes import REST, SHAPES, viseme_for
from stage.core.config import FiresideConfig
from stage.core.events import Frame
from stage.offline.recording import Mp4Writer
from stage.timeline.placing import spoken
from voices.catalog import VoiceCatalog

SENTENCE = "Welcome to the fireside. Let's talk about money, markets and open banking."
TILE = 200


def _speaking(config: FiresideConfig, portrait: Path | None):
    """``SENTENCE`` spoken: its pieces of speech, where it ends, its
    phonemes, and a renderer of each rig saying it, by label."""
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    pieces, end = spoken(engine.synthesize(SENTENCE), start=0.3)
    phonemes = [p for piece in pieces for p in piece.phonemes]
    renderers = []
    for label, spec in (("stylized", "stylized"), ("photo", f"photo:{portrait or sample_portrait()}")):
        renderer = Renderer(load_rig(spec, config.avatar.size), fps=config.avatar.fps)
        renderer.add_speech(phonemes)
        renderers.append((label, renderer))
    return pieces, end, phonemes, renderers


def make_side_by_side(out: Path, config: FiresideConfig, portrait: Path | None = None) -> Path:
    """Both rigs saying ``SENTENCE`` side by side, with its voice, as an MP4."""
    pieces, end, _, renderers = _speaking(config, portrait)
    size, fps = config.avatar.size, config.avatar.fps
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with Mp4Writer(out, (2 * size, size), fps, pieces[0].audio.sample_rate) as video:
        for piece in pieces:
            video.write_audio(piece.audio)
        for index in range(round((end + 0.5) * fps)):
            frame = np.concatenate([renderer.frame(index).rgb for _, renderer in renderers], 1)
            video.write_frame(Frame(frame, index / fps))
        video.pad_audio_to(end + 0.5)
    return out


def make_strip(out: Path, config: FiresideConfig, portrait: Path | None = None, columns: int = 8) -> Path:
    _, _, phonemes, renderers = _speaking(config, portrait)
    # frames spread over the speech, each on a sound rather than a pause
    sounds = [p for p in phonemes if p.phoneme]
    picks = [sounds[round(i)] for i in np.linspace(1, len(sounds) - 2, columns)]
    rows = []
    for label, renderer in renderers:
        tiles = []
        for p in picks:
            index = round((p.start + p.end) / 2 * renderer.fps)
            tile = cv2.resize(renderer.frame(index).rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)
            tiles.append(_labelled(tile, f"viseme {viseme_for(p.phoneme)}", (8, TILE - 10), 0.55))
        rows.append(_labelled(np.concatenate(tiles, 1), label, (8, 22), 0.6))
    return _save(out, rows)


def _labelled(image: np.ndarray, text: str, at: tuple[int, int], scale: float) -> np.ndarray:
    """``image`` with ``text`` written on it in white, at ``at``."""
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def _save(out: Path, rows: list[np.ndarray]) -> Path:
    """The rows (RGB) one under another, as an image file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    return out


# each column: a label, and the mouth's pose (a viseme, or the first quarter of "ah" as it opens)
MOUTHS = [
    ("rest", REST),
    ("m b p", SHAPES["PP"]),
    ("ah, opening", REST.blend(SHAPES["aa"], 0.25)),
    ("ah", SHAPES["aa"]),
    ("eh", SHAPES["E"]),
    ("ee", SHAPES["ih"]),
    ("oh", SHAPES["oh"]),
    ("oo", SHAPES["ou"]),
    ("t d", SHAPES["DD"]),
    ("n l", SHAPES["nn"]),
    ("f v", SHAPES["FF"]),
]
MOUTH_TILE = (176, 112)  # width, height


def make_mouths(out: Path, size: int = 512) -> Path:
    """The photo rig's mouth close up, a row per test portrait and a
    column per pose, drawn at ``size`` and enlarged (cubic) to be seen."""
    rows = []
    for name, portrait in test_portraits().items():
        rig = PhotoRig(portrait, size)
        (cx, cy), hw = rig.mouth.centre, rig.mouth.half_width
        w, h = 1.6 * hw, 1.6 * hw * MOUTH_TILE[1] / MOUTH_TILE[0]
        x0, y0 = int(round(cx - w)), int(round(cy - 0.8 * h))
        tiles = []
        for label, shape in MOUTHS:
            frame = rig.draw(FaceState(mouth=shape))
            crop = frame[max(y0, 0) : y0 + int(2 * h), max(x0, 0) : x0 + int(2 * w)]
            tile = cv2.resize(crop, MOUTH_TILE, interpolation=cv2.INTER_CUBIC)
            tiles.append(_labelled(tile, label, (6, MOUTH_TILE[1] - 8), 0.45))
        rows.append(_labelled(np.concatenate(tiles, 1), name, (6, 16), 0.5))
    return _save(out, rows)
