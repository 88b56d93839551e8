"""The avatar measured from outside: each rig speaks a sentence, and the
face mesh (MediaPipe) is run again on the frames it drew. How far the inner
lips part is set against how far the viseme track asks them to open; the
chin's drop and the lips' closure on m, b and p are read the same way."""

from __future__ import annotations

import cv2
import numpy as np

from avatar import landmarks as lm
from avatar.render import Renderer
from avatar.rigs import load_rig
from avatar.rigs.paint import luminance
from avatar.rigs.photo import test_portraits
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
    rigs = {"stylized": "stylized", **{f"photo.{name}": f"photo:{path}" for name, path in test_portraits().items()}}
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
    inside = [_inside(frame, points) for frame, points in zip(frames[wide], p[wide])]
    lower_lip = _lower_lip_area(p) / height**2
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
        (
            "inside.spread",
            _median([spread for spread, _, _ in inside]),
            "luminance p90 - p10 inside the lips, fully open (0-255; a flat slit is near 0)",
        ),
        ("inside.levels", _median([levels for _, levels, _ in inside]), "of 16 luminance levels, fully open"),
        (
            "inside.edge_step",
            100 * _median([step for _, _, step in inside]),
            "% of the rise from the dark inside to the lower lip made in one pixel, fully open (100: a hard edge)",
        ),
        (
            "lower_lip.open",
            100 * float(np.median(lower_lip[wide]) / np.median(lower_lip[rest])),
            "% of its area at rest, fully open (the face mesh's lower lip; a lip covered by the opening shrinks)",
        ),
        ("frames", float(len(frames)), "frames"),
    ]


def _median(values) -> float:
    values = [v for v in values if not np.isnan(v)]
    return float(np.median(values)) if values else float("nan")


def _inside(frame: np.ndarray, points: np.ndarray) -> tuple[float, float, float]:
    """The inside of an open mouth, as the face mesh finds it on the frame:
    how far its luminance spreads (p90 - p10); in how many of 16 levels of
    luminance 2% of it or more lies (a flat slit under a flat band of teeth
    fills two or three); and the largest one-pixel step from its darkest
    point down to the lower lip, as a share of the whole rise there (the
    median over the middle columns: near 1 for a hard edge)."""
    y = luminance(frame)
    outline = np.concatenate([points[lm.LIPS_INNER_UPPER], points[lm.LIPS_INNER_LOWER][::-1]])
    mask = np.zeros(y.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(outline).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    if mask.sum() < 12:
        return float("nan"), float("nan"), float("nan")
    values = y[mask > 0]
    spread = float(np.percentile(values, 90) - np.percentile(values, 10))
    levels = float((np.histogram(values, bins=16, range=(0, 256))[0] >= 0.02 * len(values)).sum())
    steps = []
    left, right = points[lm.LIPS_INNER_LOWER[0]][0], points[lm.LIPS_INNER_LOWER[-1]][0]
    for x in np.linspace(left + 0.3 * (right - left), right - 0.3 * (right - left), 7):
        column = int(round(x))
        top = int(round(np.interp(x, *_by_x(points[lm.LIPS_INNER_UPPER]))))
        bottom = int(round(np.interp(x, *_by_x(points[lm.LIPS_OUTER_LOWER]))))
        if not 0 <= column < y.shape[1] or bottom - top < 6:
            continue
        profile = y[max(top, 0) : min(bottom, y.shape[0]), column]
        profile = profile[int(np.argmin(profile)) :]
        rise = float(profile.max() - profile[0]) if len(profile) > 2 else 0.0
        if rise >= 20:  # a step to measure
            steps.append(float(np.diff(profile).max()) / rise)
    return spread, levels, _median(steps)


def _by_x(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(points[:, 0])
    return points[order, 0], points[order, 1]


def _lower_lip_area(points: np.ndarray) -> np.ndarray:
    """The area of the lower lip (between its inner and outer edges) the
    face mesh finds in each frame, in square pixels."""
    outline = np.concatenate([points[:, lm.LIPS_INNER_LOWER], points[:, lm.LIPS_OUTER_LOWER][:, ::-1]], 1)
    x, y = outline[..., 0], outline[..., 1]
    return 0.5 * np.abs((x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1))
