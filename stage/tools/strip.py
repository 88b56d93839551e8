"""A frame strip of each rig speaking, for the README (``fireside strip``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.rigs.photo import sample_portrait
from avatar.visemes import viseme_for
from stage.core.config import FiresideConfig
from stage.timeline.placing import spoken
from voices.catalog import VoiceCatalog

SENTENCE = "Welcome to the fireside. Let's talk about money, markets and open banking."
TILE = 200


def make_strip(out: Path, config: FiresideConfig, portrait: Path | None = None, columns: int = 8) -> Path:
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    pieces, _ = spoken(engine.synthesize(SENTENCE), start=0.3)
    phonemes = [p for piece in pieces for p in piece.phonemes]
    # frames spread over the speech, each on a sound rather than a pause
    sounds = [p for p in phonemes if p.phoneme]
    picks = [sounds[round(i)] for i in np.linspace(1, len(sounds) - 2, columns)]
    rows = []
    for label, spec in (("stylized", "stylized"), ("photo", f"photo:{portrait or sample_portrait()}")):
        renderer = Renderer(load_rig(spec, config.avatar.size), fps=config.avatar.fps)
        renderer.add_speech(phonemes)
        tiles = []
        for p in picks:
            index = round((p.start + p.end) / 2 * renderer.fps)
            tile = cv2.resize(renderer.frame(index).rgb, (TILE, TILE), interpolation=cv2.INTER_AREA)
            cv2.putText(
                tile,
                f"viseme {viseme_for(p.phoneme)}",
                (8, TILE - 10),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.55,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
            tiles.append(tile)
        row = np.concatenate(tiles, 1)
        cv2.putText(row, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    return out
