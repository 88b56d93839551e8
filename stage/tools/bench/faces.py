"""The avatar measured from outside: each rig speaks a sentence, and the
face mesh (MediaPipe) is run again on the frames it drew. How far the inner
lips part is set against how far the viseme track asks them to open; the
chin's drop and the lips' closure on m, b and p are read the same way."""

from __future__ import annotations

import numpy as np

from avatar import landmarks as lm
from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.rigs.photo import hopper_portrait, sample_portrait
from avatar.visemes import viseme_track
from stage.core.config import FiresideConfig
from stage.timeline.placing import spoken
from stage.tools.bench.common import record
from voices.catalog import VoiceCatalog

SENTENCE = (
    "Good evening, and welcome. Papa Bob made a map of the market, "
    "and we spoke about open banking, payments and the future of money."
)
FPS = 25
LIP_TOP, LIP_BOTTOM = 13, 14  # face mesh indices
EYE_CORNERS = [133, 362]  # the inner corners: what the chin is measured from (brows and lips move neither)
CLOSED = 0.05  # target openness below which the mouth counts as at rest
WIDE = 0.8  # ... and at or above this share of the widest, as fully open


def bench_avatar(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Each rig (and each portrait the photo rig is given) speaking, measured
    on its own frames: the lip gap against the track's openness, the share
    of frames with a face found, the chin's drop and the lips on m/b/p."""
    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    sentence = SENTENCE.split(".")[0] + "." if quick else SENTENCE
    pieces, end = spoken(engine.synthesize(sentence), start=0.3)
    phonemes = [p for piece in pieces for p in piece.phonemes]
    rigs = {
        "stylized": "stylized",
        "photo.astronaut": f"photo:{sample_portrait()}",
        "photo.hopper": f"photo:{hopper_portrait()}",
    }
    records = []
    for label, spec in rigs.items():
        renderer = Renderer(load_rig(spec, config.avatar.size), fps=FPS)
        renderer.add_speech(phonemes)
        count = int((end + 0.3) * FPS)
        frames = np.stack([frame.rgb for frame in renderer.frames_to_count(count)])
        target = np.array([renderer.face.state_at(i / FPS).mouth.open for i in range(count)])
        records += [
            record(f"avatar.{label}.{name}", value, unit) for name, value, unit in measure(frames, target, phonemes)
        ]
    return records


def measure(frames: np.ndarray, target: np.ndarray, phonemes) -> list[tuple[str, float, str]]:
    """The figures of one rig's frames (RGB, one per 1/FPS s) against the
    track's target openness per frame."""
    points = lm.landmarks_of_frames(frames)
    found = ~np.isnan(points[:, 0, 0])
    p = np.nan_to_num(points)
    face_height = np.linalg.norm(p[:, lm.FOREHEAD] - p[:, lm.CHIN], axis=1)
    rest = found & (target < CLOSED)
    height = float(np.median(face_height[rest])) if rest.any() else float(np.median(face_height[found]))
    gap = np.linalg.norm(p[:, LIP_BOTTOM] - p[:, LIP_TOP], axis=1) / height
    chin = np.linalg.norm(p[:, lm.CHIN] - p[:, EYE_CORNERS].mean(1), axis=1) / height
    wide = found & (target >= WIDE * target.max())
    # the frame at the middle of each m, b or p
    middles = (round((v.start + v.end) / 2 * FPS) for v in viseme_track(phonemes) if v.id == "PP")
    closures = [i for i in middles if i < len(frames) and found[i]]
    correlation = float(np.corrcoef(gap[found], target[found])[0, 1]) if found.sum() > 2 else float("nan")
    return [
        ("lip_gap_correlation", correlation, "Pearson r, inner-lip gap / face height against the track's openness"),
        ("face_found", 100 * found.mean(), "% of frames"),
        (
            "chin_drop",
            100 * (np.median(chin[wide]) - np.median(chin[rest])),
            "% of face height, fully open against at rest",
        ),
        ("lip_gap_on_mbp.max", 100 * max((gap[i] for i in closures), default=float("nan")), "% of face height"),
        ("lip_gap_open.p50", 100 * float(np.median(gap[wide])), "% of face height, fully open"),
        ("frames", float(len(frames)), "frames"),
    ]
