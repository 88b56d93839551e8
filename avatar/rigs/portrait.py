"""A portrait's moving parts, laid out once from its face landmarks: where
the mouth is, the displacement fields that part the lips, drop the jaw (on
a triangle mesh over the landmarks) and spread the corners, lift the brows
and move the irises, the colours of the lids and lashes, and the head that
sways. :class:`~avatar.rigs.photo.PhotoRig` draws frames with them.
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


def mouth_fields(p: np.ndarray, mouth: Mouth, size: int) -> dict[str, Field]:
    """The lips part (upper lip up, lower lip and jaw down) and the corners
    spread outwards or pull in to round."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # the split runs along the inner lower lip: what shows between the
    # lips in the portrait (teeth of a smile) stays with the upper jaw
    line = _interp_line(mouth.lower[:, 0], mouth.lower[:, 1], xx[0])[None, :]
    u = (xx - mouth.centre[0]) / mouth.half_width
    across = np.clip(1 - u * u, 0, 1) ** 0.6  # 1 at the middle, 0 at the corners
    v = yy - line  # signed distance below the line between the lips
    to_nose = max(4.0, float(line[0, int(mouth.centre[0])] - p[lm.NOSE_BOTTOM][1]))
    lower_lip = max(4.0, float(p[17][1] - line[0, int(mouth.centre[0])]))
    upper = across * (v < 0) * np.clip(1 + v / (0.85 * to_nose), 0, 1)
    lower = across * (v >= 0) * np.clip(1 - v / (1.8 * lower_lip), 0, 1)
    jaw = _jaw(p, mouth, v, Mesh(p, size))
    # corners: spread outwards or pull in to round
    around = np.exp(-(((xx - mouth.centre[0]) / (1.6 * mouth.half_width)) ** 2 + (v / (2.2 * lower_lip)) ** 2))
    spread = np.clip(u, -1.4, 1.4) * around
    return {
        "lip_up": Field(dy=-upper),
        "lip_down": Field(dy=lower),
        "jaw": Field(dy=jaw),
        "spread": Field(dx=spread * mouth.half_width),
    }


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


def _jaw(p: np.ndarray, mouth: Mouth, v: np.ndarray, mesh: Mesh) -> np.ndarray:
    """Everything of the lower face below the lips, moved on the mesh: the
    chin all the way, the jaw's sides less as they near the ears (the jaw
    turns about them), the upper jaw not at all."""
    q = p[: lm.MESH_POINTS]
    order = np.argsort(mouth.lower[:, 0])
    line = np.interp(q[:, 0], mouth.lower[order, 0], mouth.lower[order, 1])
    oval = p[lm.FACE_OVAL]
    down = np.clip((q[:, 1] - line) / max(4.0, float(p[lm.CHIN][1] - mouth.centre[1])), 0, 1)
    side = np.clip(1 - ((q[:, 0] - mouth.centre[0]) / (0.55 * float(np.ptp(oval[:, 0])))) ** 2, 0, 1)
    moves = np.where(q[:, 1] < line, 0.0, (0.35 + 0.65 * down) * side)
    return mesh.field(moves) * (v >= 0)


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
