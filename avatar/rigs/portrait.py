"""A portrait's moving parts, laid out once from its face landmarks: where
the mouth is, the mouth's controls as moves of the landmarks on a triangle
mesh (the lips part, round and spread, the jaw drops, the cheeks follow),
the fields that lift the brows and move the irises, the colours of the lids
and lashes, and the head that sways. :class:`~avatar.rigs.photo.PhotoRig`
draws frames with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from avatar import landmarks as lm
from avatar.rigs.paint import Field, poly_mask


@dataclass(frozen=True, eq=False)
class Mouth:
    """The portrait's mouth: the inner lips, the corners and its size."""

    upper: np.ndarray  # the inner upper lip, corner to corner
    lower: np.ndarray  # the inner lower lip
    left: np.ndarray
    right: np.ndarray
    centre: np.ndarray
    half_width: float
    parted: float  # how far apart the inner lips are in the portrait, at the middle (pixels)

    @property
    def teeth_shown(self) -> bool:
        """The portrait shows teeth between the lips (an open smile)."""
        return self.parted > 0.08 * self.half_width

    @classmethod
    def of(cls, p: np.ndarray) -> Mouth:
        upper, lower = p[lm.LIPS_INNER_UPPER], p[lm.LIPS_INNER_LOWER]
        left, right = p[61], p[291]
        half_width = float(np.linalg.norm(right - left) / 2)
        parted = float(np.median(lower[3:-3, 1] - upper[3:-3, 1]))
        return cls(upper, lower, left, right, (left + right) / 2, half_width, max(0.0, parted))


class Eye(NamedTuple):
    upper: np.ndarray  # the upper lid's edge
    lower: np.ndarray  # the lower lid's edge, under each point of the upper one
    height: float
    lid: tuple  # the lid's colour: the skin just above the eye
    lash: tuple  # the lashes': the darkest of the rim


def _interp_line(xs: np.ndarray, ys: np.ndarray, grid_x: np.ndarray) -> np.ndarray:
    order = np.argsort(xs)
    return np.interp(grid_x, xs[order], ys[order])


OPENING = [61, *lm.LIPS_INNER_LOWER, 291]  # the cut between the lips, from corner to corner


class LipMoves(NamedTuple):
    """Where a control takes the landmarks of the cut between the lips (the
    inner lower lip, and the corners at its ends: ``OPENING``), per unit of
    it, on each side of the cut: ``upper`` is the edge of what moves with the
    upper lip, ``lower`` the lower lip's edge. The mouth's opening lies
    between them."""

    upper: np.ndarray  # (13, 2)
    lower: np.ndarray


ROUND_IN = 0.34  # how far the corners pull in on a rounded mouth, in half-widths


class Cut(NamedTuple):
    """The cut between the lips, for working out the opening each frame:
    where it runs (its row at each column of the portrait), which pixels
    lie below it, and how far each parting control takes the lower sheet
    beyond the upper one (a vertical field, pixels per unit)."""

    line: np.ndarray  # (size,)
    lower_side: np.ndarray  # (size, size), 1 below the cut, 0 above
    parting: dict[str, Field]


def mouth_fields(p: np.ndarray, mouth: Mouth, size: int) -> tuple[dict[str, Field], dict[str, LipMoves], Cut]:
    """The mouth's controls, each given as moves of the face's landmarks and
    made a field over every pixel on the triangle mesh (piecewise affine).

    The mesh is cut along the inner lower lip, between the corners: what
    lies above the cut (the upper lip, and the teeth of an open smile) moves
    on the upper sheet, what lies below on the lower one. A control moves a
    landmark the same on both sheets but for how far it parts the lips at
    the landmark's column, which is zero beyond the corners: away from the
    mouth the sheets are one, and nothing tears.

    - ``lip_up`` / ``lip_down`` (pixels at the middle): the lips part,
      fading to the corners; the upper lip takes the skin up to the nose,
      the lower lip the skin down towards the chin. ``lip_up_round`` and
      ``lip_down_round`` part a rounded mouth, whose corners have pulled in;
    - ``jaw`` (pixels): the chin drops all the way, the jaw's sides less as
      they near the ears (it turns about them), and the mouth's corners and
      the cheeks above them go down with it: it parts no lips;
    - ``wide`` (0-1): the corners spread outwards and a little up, and the
      cheeks follow;
    - ``round`` (0-1): the corners pull in and the lips pout.
    """
    q = p[: lm.MESH_POINTS]
    cx, hw = float(mouth.centre[0]), mouth.half_width
    cut = mouth.lower  # the inner lower lip, corner to corner
    # each landmark's place about the mouth: u across it (the corners at -1
    # and 1), v below the cut (pixels); the inner lips keep their sides
    u = (q[:, 0] - cx) / hw
    v = q[:, 1] - _interp_line(cut[:, 0], cut[:, 1], q[:, 0])
    v[lm.LIPS_INNER_UPPER[1:-1]] = np.minimum(v[lm.LIPS_INNER_UPPER[1:-1]], -1e-3)
    v[lm.LIPS_INNER_LOWER] = np.maximum(v[lm.LIPS_INNER_LOWER], 0.0)
    middle = float(_interp_line(cut[:, 0], cut[:, 1], np.array([cx]))[0])  # the cut at the mouth's middle
    to_nose = max(4.0, middle - float(p[lm.NOSE_BOTTOM][1]))
    lower_lip = max(4.0, float(p[17][1]) - middle)
    chin = max(4.0, float(p[lm.CHIN][1]) - middle)
    side = np.clip(1 - ((q[:, 0] - cx) / (0.55 * float(np.ptp(p[lm.FACE_OVAL][:, 0])))) ** 2, 0, 1)
    uc = np.clip(u, -1.4, 1.4)

    def across(narrow=1.0):  # how far the lips part at each column: 1 at the middle, 0 at the corners
        return np.clip(1 - (u * narrow) ** 2, 0, 1) ** 0.6

    def lip(v, upper: bool, narrow=1.0):  # one lip, fading to the nose or to the chin
        if upper:
            return 0 * v, np.where(v < 0, -across(narrow) * np.clip(1 + v / (0.85 * to_nose), 0, 1), 0.0)
        # the lower lip goes down whole, and the skin under it less and less to the chin (squeezed
        # under the lip, the lip thinned and vanished)
        whole = np.clip(1 - (v - 0.8 * lower_lip) / max(1.0, chin - 0.8 * lower_lip), 0, 1)
        return 0 * v, np.where(v < 0, 0.0, across(narrow) * whole)

    def around(v, reach, out, lift, pout):  # the corners and the cheeks about them, cut off where small
        fall = np.exp(-((u / reach) ** 2) - (v / np.where(v < 0, 1.4 * to_nose, 2.2 * lower_lip)) ** 2)
        fall = np.clip((fall - 0.03) / 0.97, 0, 1)
        dy = -lift * uc * uc + np.where(v < 0, -pout, pout) * across(1 + ROUND_IN)
        return out * hw * uc * fall, dy * hw * fall

    def jaw(v):
        drop = np.where(v < 0, np.clip(1 + v / (0.85 * to_nose), 0, 1), 1 + (0.65 / 0.35) * np.clip(v / chin, 0, 1))
        return 0 * v, 0.35 * side * drop

    # each control: v -> (dx, dy) at the landmarks, v < 0 above the cut
    controls = {
        "lip_up": lambda v: lip(v, True),
        "lip_down": lambda v: lip(v, False),
        "lip_up_round": lambda v: lip(v, True, 1 + ROUND_IN),
        "lip_down_round": lambda v: lip(v, False, 1 + ROUND_IN),
        "jaw": jaw,
        "wide": lambda v: around(v, 1.6, 0.12, 0.05, 0.0),
        "round": lambda v: around(v, 1.25, -ROUND_IN, 0.0, 0.1),
    }
    mesh = Mesh(p, size)
    rows = np.mgrid[0:size, 0:size][0]
    line = _interp_line(cut[:, 0], cut[:, 1], np.arange(size))
    lower_side = (rows >= line[None, :]).astype(np.float32)  # a pixel below the cut: on the lower sheet
    fields, lips, parting_fields = {}, {}, {}
    for name, move in controls.items():
        own = np.stack(move(v), 1)
        parting = np.stack(move(np.zeros_like(v)), 1) - np.stack(move(np.full_like(v, -1e-6)), 1)
        upper_sheet = np.where((v < 0)[:, None], own, own - parting)
        lower_sheet = np.where((v < 0)[:, None], own + parting, own)
        dense = []
        for k in (0, 1):
            if not (upper_sheet[:, k].any() or lower_sheet[:, k].any()):
                dense.append(None)
            elif not parting[:, k].any():
                dense.append(mesh.field(own[:, k]))
            else:
                upper_field = mesh.field(upper_sheet[:, k])
                apart = mesh.field(lower_sheet[:, k]) - upper_field
                dense.append(upper_field + lower_side * apart)
                if k == 1:  # the lips part up and down
                    parting_fields[name] = Field(dy=apart)
        fields[name] = Field(dx=dense[0], dy=dense[1])
        lips[name] = LipMoves(upper_sheet[OPENING], lower_sheet[OPENING])
    return fields, lips, Cut(line.astype(np.float32), lower_side, parting_fields)


class Mesh:
    """The face's landmarks as a triangle mesh (Delaunay), with a ring of
    still points around the face and along the frame's border: a motion
    given at the landmarks becomes a field over every pixel, affine inside
    each triangle (a piecewise-affine warp), zero beyond the ring."""

    RING = 1.45  # the still ring, in face-outline sizes about its middle

    def __init__(self, p: np.ndarray, size: int):
        from scipy.spatial import Delaunay

        oval = p[lm.FACE_OVAL]
        centre = oval.mean(0)
        edge = np.linspace(0, size - 1, 9)
        border = [(x, y) for x in edge for y in (0, size - 1)] + [(x, y) for y in edge for x in (0, size - 1)]
        self.points = np.concatenate([p[: lm.MESH_POINTS], centre + (oval - centre) * self.RING, border])
        mesh = Delaunay(self.points)
        ys, xs = np.mgrid[0:size, 0:size]
        pixels = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        found = mesh.find_simplex(pixels)
        affine = mesh.transform[found]
        near = np.einsum("nij,nj->ni", affine[:, :2], pixels - affine[:, 2])
        self._weights = np.c_[near, 1 - near.sum(1)] * (found >= 0)[:, None]
        self._corners = mesh.simplices[found]
        self.size = size

    def field(self, at_landmarks: np.ndarray) -> np.ndarray:
        """The (size, size) field whose value at each landmark is ``at_landmarks``."""
        values = np.zeros(len(self.points))
        values[: lm.MESH_POINTS] = at_landmarks
        dense = (self._weights * values[self._corners]).sum(1)
        return dense.reshape(self.size, self.size).astype(np.float32)


def eye_lids(p: np.ndarray, pixel: Callable[[float, float], np.ndarray]) -> list[Eye]:
    """Both eyes' lids, with colours read from the portrait (``pixel(x, y)``)."""
    found = []
    for up_idx, lo_idx in ((lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER), (lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER)):
        eu = p[up_idx]
        el = np.stack([eu[:, 0], np.interp(eu[:, 0], *zip(*sorted(p[lo_idx].tolist())))], 1)
        height = float(np.max(el[:, 1] - eu[:, 1]))
        band = np.array([pixel(x, y - f * height) for x, y in eu[2:-2] for f in (0.3, 0.5, 0.7)])
        rim = [pixel(x, y + 0.5) for x, y in eu[1:-1]]
        lid = np.median(band, 0)
        lash = np.min(rim, 0) * 0.7 + lid * 0.2
        found.append(Eye(eu, el, height, tuple(lid), tuple(lash)))
    return found


def head_mask(p: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The mask of the head (the face and hair, fading out down the neck) and
    the pivot it sways about."""
    yy = np.mgrid[0:size, 0:size].astype(np.float32)[0]
    shape = (size, size)
    chin = p[lm.CHIN]
    oval = p[lm.FACE_OVAL]
    centre = oval.mean(0)
    face_h = float(np.ptp(oval[:, 1]))
    grown = centre + (oval - centre) * np.array([1.25, 1.3]) - np.array([0, 0.08 * face_h])
    mask = poly_mask(shape, [grown], blur=0.06 * size)
    neck = np.clip((chin[1] + 0.35 * face_h - yy) / (0.3 * face_h), 0, 1)
    mask = np.maximum(mask, poly_mask(shape, [oval], blur=0.02 * size) * neck)
    return mask, (float(chin[0]), float(chin[1] + 0.25 * face_h))


def brow_and_gaze_fields(p: np.ndarray, size: int) -> tuple[dict[str, Field], float]:
    """The brows lift (a soft blob over each, which takes the upper lids a
    little with it) and the irises move inside the eyes' openings (a blob on
    each iris, cut at the lids); and how far an iris may move (pixels)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    brows = np.zeros((size, size), np.float32)
    for brow in (p[lm.RIGHT_BROW], p[lm.LEFT_BROW]):
        centre, width = brow.mean(0), max(4.0, float(np.ptp(brow[:, 0])))
        brows += np.exp(-(((xx - centre[0]) / (0.75 * width)) ** 2 + ((yy - centre[1]) / (0.4 * width)) ** 2))
    irises, radii = np.zeros((size, size), np.float32), []
    for centre, ring, upper, lower in (
        (lm.RIGHT_IRIS, lm.RIGHT_IRIS_RING, lm.RIGHT_EYE_UPPER, lm.RIGHT_EYE_LOWER),
        (lm.LEFT_IRIS, lm.LEFT_IRIS_RING, lm.LEFT_EYE_UPPER, lm.LEFT_EYE_LOWER),
    ):
        c = p[centre]
        radius = max(1.5, float(np.linalg.norm(p[ring] - c, axis=1).mean()))
        opening = poly_mask((size, size), [np.concatenate([p[upper], p[lower][::-1]])], blur=0.6)
        irises += np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (1.7 * radius) ** 2) * opening
        radii.append(radius)
    fields = {"brow": Field(dy=-brows), "gaze_x": Field(dx=irises), "gaze_y": Field(dy=irises)}
    return fields, 0.5 * float(np.mean(radii))
