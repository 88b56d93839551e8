"""The default avatar: a stylized presenter drawn procedurally, no image assets.

The still parts are painted once (:mod:`avatar.rigs.presenter`). Each frame
warps that painting for head sway, breathing and the jaw, then draws the
moving parts (eyes, lids, brows, mouth) on top with anti-aliased polygons.
All geometry is laid out on a 512 px canvas and scaled to ``size``.
"""

from __future__ import annotations

import cv2
import numpy as np

from avatar.face import FaceState
from avatar.rigs import RigError
from avatar.rigs.paint import Field, HeadWarp, fill, stroke
from avatar.rigs.presenter import EYE_DOWN, EYE_UP, EYE_W, EYES, LOOKS, MOUTH, MOUTH_W, PIVOT, StillPainter

LIP_UPPER = (168, 86, 84)
LIP_LOWER = (190, 102, 98)
LIP_SHINE = (214, 140, 136)
MOUTH_INSIDE = (72, 22, 30)
TEETH = (246, 243, 236)
TONGUE = (196, 92, 98)
EYE_WHITE = (246, 243, 240)
IRIS = (72, 112, 142)
IRIS_DARK = (36, 58, 80)
PUPIL = (18, 18, 24)
LASH = (42, 30, 28)


def _curve(u: np.ndarray, exponent: float) -> np.ndarray:
    return np.clip(1.0 - u * u, 0.0, 1.0) ** exponent


class StylizedRig:
    def __init__(self, size: int = 512, look: str = "default"):
        if look not in LOOKS:
            raise RigError(f"unknown stylized look {look!r}: use one of {', '.join(LOOKS)}")
        self.look = LOOKS[look]
        self.size = size
        self.k = size / 512.0
        base, head_mask = StillPainter(size, self.look).paint()
        self.base = base
        k = self.k
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / k
        # the jaw field: the chin drops below the mouth, fading at the cheeks
        jaw = np.clip((yy - (MOUTH[1] + 6)) / 22.0, 0, 1) * np.clip(1 - (yy - 395) / 40.0, 0, 1)
        jaw *= np.clip(1 - (np.abs(xx - 256) - 62) / 40.0, 0, 1)
        jaw *= head_mask
        breath = np.clip((yy - 395) / 60.0, 0, 1)
        self.warp = HeadWarp(
            size, head_mask, (PIVOT[0] * k, PIVOT[1] * k), {"jaw": Field(dy=jaw), "breath": Field(dy=breath)}
        )
        self.mouth_box = self.mouth_box_at(size)

    @staticmethod
    def mouth_box_at(size: int) -> tuple[int, int, int, int]:
        k = size / 512.0
        return tuple(int(v * k) for v in (MOUTH[0] - 56, MOUTH[1] - 30, MOUTH[0] + 56, MOUTH[1] + 52))

    # -- each frame --------------------------------------------------------
    def draw(self, state: FaceState) -> np.ndarray:
        k = self.k
        m = state.mouth
        dx, dy, roll = state.head_x * self.size, (state.head_y + 0.002 * state.breath) * self.size, state.head_roll
        jaw_drop = 15.0 * m.open * k
        img = self.warp.apply(self.base, dx, dy, roll, jaw=jaw_drop, breath=-1.6 * k * state.breath)

        def T(points: np.ndarray) -> np.ndarray:
            x, y = self.warp.point(points[:, 0] * k, points[:, 1] * k, dx, dy, roll)
            return np.stack([x, y], 1)

        for i, (ex, ey) in enumerate(EYES):
            self._draw_eye(img, ex, ey, state, T, mirror=i == 1)
            self._draw_brow(img, ex, ey, state, T, mirror=i == 1)
        self._draw_mouth(img, state, T)
        return img

    def _draw_eye(self, img, ex, ey, state, T, mirror: bool) -> None:
        u = np.linspace(-1, 1, 15)
        tilt = (-1 if mirror else 1) * 1.5 * u  # inner corners a little lower
        upper = np.stack([ex + EYE_W * u, ey - EYE_UP * _curve(u, 0.75) + tilt], 1)
        lower = np.stack([ex + EYE_W * u, ey + EYE_DOWN * _curve(u, 0.9) + tilt * 0.5], 1)
        eye = T(np.concatenate([upper, lower[::-1]]))
        x0, y0 = np.floor(eye.min(0)).astype(int) - 2
        x1, y1 = np.ceil(eye.max(0)).astype(int) + 3
        roi = img[y0:y1, x0:x1]
        patch = roi.copy()
        origin = np.array([x0, y0], np.float64)
        fill(patch, eye - origin, EYE_WHITE)
        k = self.k
        iris_c = T(np.array([[ex + state.gaze_x * 6, ey + 0.5 + state.gaze_y * 3]]))[0] - origin
        r = 10.5 * k
        center = tuple(int(v * 16) for v in iris_c)
        cv2.circle(patch, center, int(r * 16), IRIS_DARK, -1, cv2.LINE_AA, 4)
        cv2.circle(patch, center, int(r * 0.82 * 16), IRIS, -1, cv2.LINE_AA, 4)
        cv2.circle(patch, center, int(r * 0.42 * 16), PUPIL, -1, cv2.LINE_AA, 4)
        hl = (int((iris_c[0] - 3.5 * k) * 16), int((iris_c[1] - 3.5 * k) * 16))
        cv2.circle(patch, hl, int(2.2 * k * 16), (255, 255, 255), -1, cv2.LINE_AA, 4)
        # keep only what lies inside the eye's outline; the upper lid shades it
        mask = np.zeros(patch.shape[:2], np.uint8)
        fill(mask, eye - origin, (255,))
        shade = np.clip((np.arange(patch.shape[0]) - (ey * k - y0 - EYE_UP * k)) / (EYE_UP * k), 0.55, 1.0)
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        patch = patch.astype(np.float32) * (0.75 + 0.25 * shade)[:, None, None]
        roi[:] = (roi * (1 - alpha) + patch * alpha).astype(np.uint8)
        # the upper lid comes down as the eye blinks
        b = state.blink
        lid = upper + b * (np.stack([upper[:, 0], lower[:, 1] + 1.0], 1) - upper) * np.array([0, 1])
        if b > 0.02:
            fill(img, T(np.concatenate([upper - [0, 1.5], lid[::-1]])), self.look.lid)
        stroke(img, T(lid), LASH, max(2, round(2.4 * k)))
        stroke(img, T(lower[2:-2]), (160, 108, 92), max(1, round(k)))
        corner = lid[-1] if not mirror else lid[0]
        flick = np.array([corner, corner + [(6 if not mirror else -6) * 1.0, -3]])
        stroke(img, T(flick), LASH, max(1, round(1.6 * k)))

    def _draw_brow(self, img, ex, ey, state, T, mirror: bool) -> None:
        u = np.linspace(-1, 1, 12)
        side = 1 if mirror else -1
        lift = 7.0 * state.brow
        # thick at the inner end, thin at the outer end
        outer_end = u * side  # 1 at the outer end
        thick = 6.5 - 3.0 * (outer_end + 1) / 2
        cx, cy = ex + side * 2, ey - 34 - lift
        top = np.stack([cx + 28 * u, cy - 6 * _curve(u, 1.0) - thick / 2 + 2.0 * outer_end], 1)
        bottom = np.stack([cx + 28 * u, cy - 6 * _curve(u, 1.0) + thick / 2 + 2.0 * outer_end], 1)
        fill(img, T(np.concatenate([top, bottom[::-1]])), self.look.brow)

    def _draw_mouth(self, img, state: FaceState, T) -> None:
        m = state.mouth
        cx, cy = MOUTH
        u = np.linspace(-1, 1, 21)
        w = MOUTH_W * (1 + 0.22 * m.wide - 0.34 * m.round) * (1 - 0.06 * m.press)
        h = 30.0 * m.open
        prof = _curve(u, 0.45 + 0.45 * (1 - m.round))
        smile = -2.5 * u * u * (1 + 0.6 * m.wide - m.round)
        x = cx + w * u
        in_up = cy - 0.22 * h * prof + smile
        in_lo = cy + 0.78 * h * prof + smile
        t_up = (6.0 + 3.0 * m.round - 2.5 * m.press) * _curve(u, 0.35)
        bow = 1.6 * np.exp(-((u / 0.14) ** 2)) - 1.2 * np.exp(-(((np.abs(u) - 0.3) / 0.14) ** 2))
        out_up = in_up - t_up + bow * _curve(u, 1)
        t_lo = (8.5 + 3.5 * m.round - 2.5 * m.press) * _curve(u, 0.5)
        out_lo = in_lo + t_lo
        pt = lambda ys: np.stack([x, ys], 1)  # noqa: E731

        if h > 0.6:
            inside = T(np.concatenate([pt(in_up), pt(in_lo)[::-1]]))
            fill(img, inside, MOUTH_INSIDE)
            gap = in_lo - in_up
            if m.tongue > 0.05 or h > 8:
                tongue_top = in_lo - gap * (0.25 + 0.3 * m.tongue) * _curve(u * 1.15, 0.5)
                fill(img, T(np.concatenate([pt(tongue_top), pt(in_lo)[::-1]])), TONGUE)
            teeth_h = np.minimum(gap * 0.42, 6.5) * m.teeth * _curve(u * 1.1, 0.3)
            if m.teeth > 0.05:
                fill(img, T(np.concatenate([pt(in_up), pt(in_up + teeth_h)[::-1]])), TEETH)
            low_teeth = np.minimum(gap * 0.16, 3.0) * m.teeth * _curve(u * 1.25, 0.3)
            if h > 10:
                fill(img, T(np.concatenate([pt(in_lo - low_teeth), pt(in_lo)[::-1]])), (226, 222, 214))
        fill(img, T(np.concatenate([pt(out_up), pt(in_up)[::-1]])), LIP_UPPER)
        fill(img, T(np.concatenate([pt(in_lo), pt(out_lo)[::-1]])), LIP_LOWER)
        shine = np.abs(u) < 0.45
        shine_y = in_lo[shine] + t_lo[shine] * 0.42
        stroke(img, T(np.stack([x[shine], shine_y], 1)), LIP_SHINE, max(1, round(2 * self.k)))
        stroke(img, T(pt(in_up)), (110, 46, 50), max(1, round(1.5 * self.k)))
        if h <= 0.6:
            stroke(img, T(pt(in_up)[[0, 1]]), (120, 60, 58), max(1, round(1.5 * self.k)))
