"""The stylized presenter's design: its looks (the colours that tell one
panelist from another), its layout on a 512 px canvas, and the painting of
its still parts (backdrop, body, shaded head, hair, ears, nose), done once
per rig, anti-aliased by supersampling and lit from the upper left.

The moving parts are drawn each frame by :mod:`avatar.rigs.stylized`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from avatar.rigs.paint import composite, poly_mask, smooth

SHIRT = np.array([236, 239, 243], np.float32)


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


def face_outline(n: int = 120) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = np.sin(t), -np.cos(t)
    lower = np.clip(y, 0, None)
    x = x * (1.0 - 0.30 * lower**1.8)  # narrower jaw and chin
    y = np.where(y > 0, y * 1.02, y)
    return np.stack([FACE_C[0] + FACE_A * x, FACE_C[1] + FACE_B * y], 1)


class StillPainter:
    """Paints the presenter's still parts at ``size`` pixels, back to front,
    on a float image; ``paint`` gives the image and the mask of the head
    (the part of it that sways with the head)."""

    def __init__(self, size: int, look: Look):
        self.look = look
        self.size, self.k = size, size / 512.0
        self.shape = (size, size)
        # pixel coordinates on the 512 px canvas
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float32) / self.k

    def P(self, points) -> np.ndarray:
        """Canvas points, in pixels."""
        return np.asarray(points, np.float64) * self.k

    def paint(self) -> tuple[np.ndarray, np.ndarray]:
        img = self._backdrop()
        self._body(img)
        neck = self._neck(img)
        self._ears(img)
        face = self._face(img)
        self._features(img)
        hair = self._hair(img)
        return np.clip(img, 0, 255).astype(np.uint8), self._head_mask(face, hair, neck)

    def _backdrop(self) -> np.ndarray:
        """Deep blue, a warm spotlight behind the head, a vignette."""
        s, yy, xx = self.size, self.yy, self.xx
        img = np.empty((s, s, 3), np.float32)
        top, bottom = np.array([22, 38, 62], np.float32), np.array([12, 20, 34], np.float32)
        img[:] = top + (bottom - top) * (yy / 512.0)[..., None]
        spot = np.exp(-(((xx - 256) / 210) ** 2 + ((yy - 230) / 190) ** 2))[..., None]
        img += spot * np.array([46, 52, 60], np.float32)
        return img

    def _body(self, img: np.ndarray) -> None:
        """Jacket, shirt, collar."""
        k, shape, yy, xx, P = self.k, self.shape, self.yy, self.xx, self.P
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
            stroke_mask = poly_mask(
                shape,
                [P([(256 + side * 4, 446), (256 + side * 24, 452), (256 + side * 23, 454), (256 + side * 4, 448)])],
            )
            composite(img, stroke_mask, SHIRT * 0.7)

    def _neck(self, img: np.ndarray) -> np.ndarray:
        """A shaded cylinder, darker under the chin; its outline."""
        yy, xx = self.yy, self.xx
        neck = self.P([(214, 330), (298, 330), (302, 418), (256, 446), (210, 418)])
        nm = poly_mask(self.shape, [neck], blur=0.5 * self.k)
        neck_shade = 0.78 + 0.16 * (1 - ((xx - 250) / 52) ** 2).clip(0, 1)
        neck_shade *= 1 - 0.28 * np.exp(-(((yy - 384) / 16) ** 2))
        composite(img, nm, self.look.skin * neck_shade[..., None])
        return neck

    def _ears(self, img: np.ndarray) -> None:
        """Behind the face."""
        k, shape, P = self.k, self.shape, self.P
        for side in (-1, 1):
            ex = FACE_C[0] + side * (FACE_A - 6)
            ear = cv2.ellipse2Poly((int(ex), 250), (16, 30), int(side * -8), 0, 360, 6)
            composite(img, poly_mask(shape, [P(ear)], blur=0.4 * k), self.look.skin * 0.86)
            inner = cv2.ellipse2Poly((int(ex + side * 4), 252), (7, 18), int(side * -8), 0, 360, 10)
            composite(img, poly_mask(shape, [P(inner)], blur=2.0 * k), self.look.skin_shadow * 0.95)

    def _face(self, img: np.ndarray) -> np.ndarray:
        """Lit like a sphere from the upper left; its mask."""
        yy, xx = self.yy, self.xx
        fm = poly_mask(self.shape, [self.P(face_outline())])
        nx, ny = (xx - FACE_C[0]) / (FACE_A * 1.15), (yy - FACE_C[1]) / (FACE_B * 1.15)
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        light = np.array([-0.38, -0.42, 0.82])
        light /= np.linalg.norm(light)
        diffuse = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
        lit = self.look.skin_shadow + (self.look.skin - self.look.skin_shadow) * (0.25 + 0.85 * diffuse)[..., None]
        lit = np.minimum(lit, 255)
        composite(img, fm, lit)
        rim = fm - cv2.GaussianBlur(fm, (0, 0), 7 * self.k).clip(0, 1)
        composite(img, np.clip(rim * 1.2, 0, 1) * 0.5, self.look.skin_shadow * 0.8)
        return fm

    def _features(self, img: np.ndarray) -> None:
        """Cheeks, nose, eye sockets, lid creases, chin shadow."""
        k, shape, P, look = self.k, self.shape, self.P, self.look
        for side in (-1, 1):
            cheek = cv2.ellipse2Poly((int(256 + side * 66), 292), (22, 13), 0, 0, 360, 10)
            composite(img, poly_mask(shape, [P(cheek)], blur=9 * k) * 0.35, (226, 128, 120))
            ex, ey = EYES[0 if side < 0 else 1]
            socket = cv2.ellipse2Poly((int(ex), int(ey - 2)), (32, 20), 0, 0, 360, 10)
            composite(img, poly_mask(shape, [P(socket)], blur=6 * k) * 0.22, look.skin_shadow)
        nose_shadow = P(
            [(246, 250), (252, 250), (250, 292), (262, 300), (276, 296), (270, 306), (248, 306), (238, 296)]
        )
        composite(img, poly_mask(shape, [nose_shadow], blur=3.5 * k) * 0.45, look.skin_shadow)
        nose_light = cv2.ellipse2Poly((252, 286), (7, 6), 0, 0, 360, 20)
        composite(img, poly_mask(shape, [P(nose_light)], blur=3 * k) * 0.5, np.minimum(look.skin * 1.1, 255))
        for side in (-1, 1):
            nostril = cv2.ellipse2Poly((int(256 + side * 9), 302), (5, 2), side * 20, 0, 360, 20)
            composite(img, poly_mask(shape, [P(nostril)], blur=0.8 * k) * 0.7, (120, 70, 62))
        chin_shadow = cv2.ellipse2Poly((256, 362), (22, 6), 0, 0, 360, 10)
        composite(img, poly_mask(shape, [P(chin_shadow)], blur=4 * k) * 0.25, look.skin_shadow)

    def _hair(self, img: np.ndarray) -> np.ndarray:
        """A cap over the forehead with a side parting and a soft sheen; its mask."""
        k, shape, yy, xx, P = self.k, self.shape, self.yy, self.xx, self.P
        # fmt: off
        hair_pts = [(146, 262), (134, 214), (138, 158), (160, 114), (200, 86), (256, 76), (314, 84),
                    (356, 112), (378, 160), (380, 214), (368, 262), (358, 232), (352, 196), (338, 166),
                    (304, 152), (252, 150), (214, 160), (186, 176), (168, 200), (160, 232)]
        # fmt: on
        hair_pts = smooth(hair_pts, 3)
        hm = poly_mask(shape, [P(hair_pts)], blur=0.7 * k)
        sheen = np.exp(-(((xx - 220) / 70) ** 2 + ((yy - 110) / 22) ** 2))
        hair_tone = self.look.hair * (0.85 + 0.15 * (1 - yy / 512))[..., None] + sheen[..., None] * 40
        composite(img, hm, hair_tone)
        part = P([(226, 84), (232, 86), (218, 150), (214, 150)])
        composite(img, poly_mask(shape, [part], blur=1.5 * k) * 0.5, self.look.hair * 0.5)
        # fmt: off
        hairline_shadow = P(smooth([(166, 206), (190, 172), (250, 156), (304, 158), (340, 172), (354, 206),
                                    (338, 186), (300, 170), (250, 168), (196, 184)], 2))
        # fmt: on
        composite(img, poly_mask(shape, [hairline_shadow], blur=4 * k) * 0.35, self.look.skin_shadow)
        return hm

    def _head_mask(self, face: np.ndarray, hair: np.ndarray, neck: np.ndarray) -> np.ndarray:
        """What moves with the head: face, hair, ears and the top of the neck, softened."""
        shape, P = self.shape, self.P
        head = np.clip(face + hair + poly_mask(shape, [neck]) * np.clip((420 - self.yy) / 60, 0, 1), 0, 1)
        ears = np.zeros(shape, np.float32)
        for side in (-1, 1):
            ear = cv2.ellipse2Poly((int(FACE_C[0] + side * (FACE_A - 6)), 250), (18, 32), 0, 0, 360, 6)
            ears = np.maximum(ears, poly_mask(shape, [P(ear)]))
        head_mask = cv2.GaussianBlur(np.maximum(head, ears), (0, 0), 10 * self.k)
        return np.clip(head_mask * 1.6, 0, 1)
