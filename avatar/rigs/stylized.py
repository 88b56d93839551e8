"""The default avatar: a stylized presenter drawn procedurally, no image assets.

The still parts (backdrop, body, shaded head, hair, ears, nose) are painted
once, anti-aliased by supersampling and lit from the upper left. Each frame
warps that painting for head sway, breathing and the jaw, then draws the
moving parts (eyes, lids, brows, mouth) on top with anti-aliased polygons.
All geometry is laid out on a 512 px canvas and scaled to ``size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.face import FaceState
from avatar.rigs.paint import Field, HeadWarp, composite, fill, poly_mask, smooth, stroke

SHIRT = np.array([236, 239, 243], np.float32)
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


@dataclass(frozen=True)
class Look:
    """The colours that tell one stylized panelist from another."""

    skin: np.ndarray
    skin_shadow: np.ndarray
    hair: np.ndarray
    jacket: np.ndarray
    lid: tuple[int, int, int]
    brow: tuple[int, int, int]


def _look(skin, shadow, hair, jacket, lid, brow) -> Look:
    return Look(*(np.array(c, np.float32) for c in (skin, shadow, hair, jacket)), lid, brow)


LOOKS = {
    "default": _look((226, 176, 146), (176, 116, 92), (58, 40, 32), (38, 52, 82), (214, 160, 132), (70, 48, 38)),
    "silver": _look((176, 122, 92), (122, 78, 56), (150, 150, 156), (40, 70, 58), (160, 108, 82), (96, 92, 92)),
    "auburn": _look((240, 200, 178), (196, 140, 118), (128, 52, 30), (92, 52, 70), (226, 182, 160), (110, 56, 40)),
}

FACE_C = (256.0, 238.0)
FACE_A, FACE_B = 112.0, 148.0  # half width, half height
EYES = ((206.0, 232.0), (306.0, 232.0))
EYE_W, EYE_UP, EYE_DOWN = 24.0, 12.5, 8.0
MOUTH = (256.0, 334.0)
MOUTH_W = 36.0
PIVOT = (256.0, 420.0)


def _curve(u: np.ndarray, exponent: float) -> np.ndarray:
    return np.clip(1.0 - u * u, 0.0, 1.0) ** exponent


def face_outline(n: int = 120) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = np.sin(t), -np.cos(t)
    lower = np.clip(y, 0, None)
    x = x * (1.0 - 0.30 * lower ** 1.8)  # narrower jaw and chin
    y = np.where(y > 0, y * 1.02, y)
    return np.stack([FACE_C[0] + FACE_A * x, FACE_C[1] + FACE_B * y], 1)


class StylizedRig:
    def __init__(self, size: int = 512, look: str = "default"):
        if look not in LOOKS:
            from avatar.rigs import RigError

            raise RigError(f"unknown stylized look {look!r}: use one of {', '.join(LOOKS)}")
        self.look = LOOKS[look]
        self.size = size
        self.k = size / 512.0
        base, head_mask = self._paint_base()
        self.base = base
        k = self.k
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / k
        # the jaw field: the chin drops below the mouth, fading at the cheeks
        jaw = np.clip((yy - (MOUTH[1] + 6)) / 22.0, 0, 1) * np.clip(1 - (yy - 395) / 40.0, 0, 1)
        jaw *= np.clip(1 - (np.abs(xx - 256) - 62) / 40.0, 0, 1)
        jaw *= head_mask
        breath = np.clip((yy - 395) / 60.0, 0, 1)
        self.warp = HeadWarp(size, head_mask, (PIVOT[0] * k, PIVOT[1] * k),
                             {"jaw": Field(dy=jaw), "breath": Field(dy=breath)})
        self.mouth_box = self.mouth_box_at(size)

    @staticmethod
    def mouth_box_at(size: int) -> tuple[int, int, int, int]:
        k = size / 512.0
        return tuple(int(v * k) for v in (MOUTH[0] - 56, MOUTH[1] - 30, MOUTH[0] + 56, MOUTH[1] + 52))

    # -- the still painting ---------------------------------------------
    def _paint_base(self) -> tuple[np.ndarray, np.ndarray]:
        s, k = self.size, self.k
        shape = (s, s)
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / k

        # backdrop: deep blue, a warm spotlight behind the head, a vignette
        img = np.empty((s, s, 3), np.float32)
        top, bottom = np.array([22, 38, 62], np.float32), np.array([12, 20, 34], np.float32)
        img[:] = top + (bottom - top) * (yy / 512.0)[..., None]
        spot = np.exp(-(((xx - 256) / 210) ** 2 + ((yy - 230) / 190) ** 2))[..., None]
        img += spot * np.array([46, 52, 60], np.float32)

        def P(points) -> np.ndarray:
            return np.asarray(points, np.float64) * k

        # body: jacket, shirt, collar
        jacket = P([(10, 512), (30, 462), (120, 428), (200, 410), (312, 410), (392, 428), (482, 462), (502, 512)])
        jm = poly_mask(shape, [jacket], blur=0.6 * k)
        jacket_tone = self.look.jacket * (1.08 - 0.25 * np.clip((yy - 410) / 100, 0, 1))[..., None]
        jacket_tone = jacket_tone * (1 - 0.18 * (np.abs(xx - 256) / 256) ** 2)[..., None]
        composite(img, jm, jacket_tone)
        shirt = P([(208, 410), (304, 410), (282, 512), (230, 512)])
        composite(img, poly_mask(shape, [shirt]), SHIRT * (1 - 0.1 * np.clip((yy - 410) / 100, 0, 1))[..., None])
        for side in (-1, 1):  # lapels and collar points
            lapel = P([(256 + side * 50, 408), (256 + side * 90, 430), (256 + side * 38, 512), (256 + side * 22, 512)])
            composite(img, poly_mask(shape, [lapel]), self.look.jacket * 0.78)
            collar = P([(256 + side * 46, 400), (256 + side * 4, 446), (256 + side * 24, 452), (256 + side * 54, 416)])
            composite(img, poly_mask(shape, [collar]), SHIRT * 0.96)
            stroke_mask = poly_mask(shape, [P([(256 + side * 4, 446), (256 + side * 24, 452), (256 + side * 23, 454), (256 + side * 4, 448)])])
            composite(img, stroke_mask, SHIRT * 0.7)

        # neck: a shaded cylinder, darker under the chin
        neck = P([(214, 330), (298, 330), (302, 418), (256, 446), (210, 418)])
        nm = poly_mask(shape, [neck], blur=0.5 * k)
        neck_shade = 0.78 + 0.16 * (1 - ((xx - 250) / 52) ** 2).clip(0, 1)
        neck_shade *= 1 - 0.28 * np.exp(-((yy - 384) / 16) ** 2)
        composite(img, nm, self.look.skin * neck_shade[..., None])

        # ears, behind the face
        for side in (-1, 1):
            ex = FACE_C[0] + side * (FACE_A - 6)
            ear = cv2.ellipse2Poly((int(ex), 250), (16, 30), int(side * -8), 0, 360, 6)
            composite(img, poly_mask(shape, [P(ear)], blur=0.4 * k), self.look.skin * 0.86)
            inner = cv2.ellipse2Poly((int(ex + side * 4), 252), (7, 18), int(side * -8), 0, 360, 10)
            composite(img, poly_mask(shape, [P(inner)], blur=2.0 * k), self.look.skin_shadow * 0.95)

        # face: lit like a sphere from the upper left
        outline = P(face_outline())
        fm = poly_mask(shape, [outline])
        nx, ny = (xx - FACE_C[0]) / (FACE_A * 1.15), (yy - FACE_C[1]) / (FACE_B * 1.15)
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        light = np.array([-0.38, -0.42, 0.82])
        light /= np.linalg.norm(light)
        diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        lit = self.look.skin_shadow + (self.look.skin - self.look.skin_shadow) * (0.25 + 0.85 * diffuse)[..., None]
        lit = np.minimum(lit, 255)
        composite(img, fm, lit)
        rim = fm - cv2.GaussianBlur(fm, (0, 0), 7 * k).clip(0, 1)
        composite(img, np.clip(rim * 1.2, 0, 1) * 0.5, self.look.skin_shadow * 0.8)

        # cheeks, nose, eye sockets, lid creases, chin shadow
        for side in (-1, 1):
            cheek = cv2.ellipse2Poly((int(256 + side * 66), 292), (22, 13), 0, 0, 360, 10)
            composite(img, poly_mask(shape, [P(cheek)], blur=9 * k) * 0.35, (226, 128, 120))
            ex, ey = EYES[0 if side < 0 else 1]
            socket = cv2.ellipse2Poly((int(ex), int(ey - 2)), (32, 20), 0, 0, 360, 10)
            composite(img, poly_mask(shape, [P(socket)], blur=6 * k) * 0.22, self.look.skin_shadow)
        nose_shadow = P([(246, 250), (252, 250), (250, 292), (262, 300), (276, 296), (270, 306), (248, 306), (238, 296)])
        composite(img, poly_mask(shape, [nose_shadow], blur=3.5 * k) * 0.45, self.look.skin_shadow)
        nose_light = cv2.ellipse2Poly((252, 286), (7, 6), 0, 0, 360, 20)
        composite(img, poly_mask(shape, [P(nose_light)], blur=3 * k) * 0.5, np.minimum(self.look.skin * 1.1, 255))
        for side in (-1, 1):
            nostril = cv2.ellipse2Poly((int(256 + side * 9), 302), (5, 2), side * 20, 0, 360, 20)
            composite(img, poly_mask(shape, [P(nostril)], blur=0.8 * k) * 0.7, (120, 70, 62))
        chin_shadow = cv2.ellipse2Poly((256, 362), (22, 6), 0, 0, 360, 10)
        composite(img, poly_mask(shape, [P(chin_shadow)], blur=4 * k) * 0.25, self.look.skin_shadow)

        # hair: a cap over the forehead with a side parting and a soft sheen
        hair_pts = [(146, 262), (134, 214), (138, 158), (160, 114), (200, 86), (256, 76), (314, 84),
                     (356, 112), (378, 160), (380, 214), (368, 262), (358, 232), (352, 196), (338, 166),
                     (304, 152), (252, 150), (214, 160), (186, 176), (168, 200), (160, 232)]
        hair_pts = smooth(hair_pts, 3)
        hm = poly_mask(shape, [P(hair_pts)], blur=0.7 * k)
        sheen = np.exp(-(((xx - 220) / 70) ** 2 + ((yy - 110) / 22) ** 2))
        hair_tone = self.look.hair * (0.85 + 0.15 * (1 - yy / 512))[..., None] + sheen[..., None] * 40
        composite(img, hm, hair_tone)
        part = P([(226, 84), (232, 86), (218, 150), (214, 150)])
        composite(img, poly_mask(shape, [part], blur=1.5 * k) * 0.5, self.look.hair * 0.5)
        hairline_shadow = P(smooth([(166, 206), (190, 172), (250, 156), (304, 158), (340, 172), (354, 206),
                                    (338, 186), (300, 170), (250, 168), (196, 184)], 2))
        composite(img, poly_mask(shape, [hairline_shadow], blur=4 * k) * 0.35, self.look.skin_shadow)

        head = np.clip(fm + hm + poly_mask(shape, [neck]) * np.clip((420 - yy) / 60, 0, 1), 0, 1)
        ears = np.zeros(shape, np.float32)
        for side in (-1, 1):
            ear = cv2.ellipse2Poly((int(FACE_C[0] + side * (FACE_A - 6)), 250), (18, 32), 0, 0, 360, 6)
            ears = np.maximum(ears, poly_mask(shape, [P(ear)]))
        head_mask = cv2.GaussianBlur(np.maximum(head, ears), (0, 0), 10 * k)
        head_mask = np.clip(head_mask * 1.6, 0, 1)
        return np.clip(img, 0, 255).astype(np.uint8), head_mask

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
        bow = 1.6 * np.exp(-(u / 0.14) ** 2) - 1.2 * np.exp(-((np.abs(u) - 0.3) / 0.14) ** 2)
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
        stroke(img, T(np.stack([x[shine], shine_y], 1)), LIP_SHINE,
               max(1, round(2 * self.k)))
        stroke(img, T(pt(in_up)), (110, 46, 50), max(1, round(1.5 * self.k)))
        if h <= 0.6:
            stroke(img, T(pt(in_up)[[0, 1]]), (120, 60, 58), max(1, round(1.5 * self.k)))
