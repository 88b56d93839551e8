"""Drawing helpers shared by the rigs: anti-aliased masks, compositing and
the per-frame head warp."""

from __future__ import annotations

import cv2
import numpy as np

SUPERSAMPLE = 4
_SHIFT = 4  # fixed-point bits for cv2 polygon vertices


def poly_mask(shape: tuple[int, int], polygons: list[np.ndarray], blur: float = 0.0) -> np.ndarray:
    """A float32 0..1 mask of filled polygons, anti-aliased by supersampling."""
    h, w = shape
    big = np.zeros((h * SUPERSAMPLE, w * SUPERSAMPLE), np.uint8)
    pts = [np.round(np.asarray(p, np.float64) * SUPERSAMPLE * (1 << _SHIFT)).astype(np.int32) for p in polygons]
    cv2.fillPoly(big, pts, 255, cv2.LINE_8, _SHIFT)
    mask = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    if blur > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), blur)
    return mask


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The brightness of each pixel of an RGB image (ITU-R BT.601 weights), float32."""
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def composite(image: np.ndarray, mask: np.ndarray, color) -> None:
    """Paint ``color`` (an RGB triple or an image) over float ``image`` through ``mask``."""
    m = mask[..., None]
    image *= 1.0 - m
    image += m * np.asarray(color, np.float32)


def fill(image: np.ndarray, points: np.ndarray, color, closed: bool = True) -> None:
    """Fill an anti-aliased polygon on a uint8 image, in place (fast: per frame)."""
    pts = np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(image, [pts], tuple(int(c) for c in color), cv2.LINE_AA, _SHIFT)


def stroke(image: np.ndarray, points: np.ndarray, color, thickness: int = 1, closed: bool = False) -> None:
    pts = np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)
    cv2.polylines(image, [pts], closed, tuple(int(c) for c in color), thickness, cv2.LINE_AA, _SHIFT)


class Field:
    """A displacement field (pixels per unit of its amount), kept only over
    the box where it is not zero, so small fields (lips, lids) cost little."""

    def __init__(self, dx: np.ndarray | None = None, dy: np.ndarray | None = None):
        nonzero = sum(np.abs(f) for f in (dx, dy) if f is not None) > 1e-3
        ys, xs = np.nonzero(nonzero)
        if len(ys) == 0:
            self.box = (slice(0, 0), slice(0, 0))
        else:
            self.box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        self.dx = None if dx is None else np.ascontiguousarray(dx[self.box], np.float32)
        self.dy = None if dy is None else np.ascontiguousarray(dy[self.box], np.float32)


class HeadWarp:
    """Moves parts of a still image: the head as a whole (a rigid motion
    that fades out at the neck), plus named fields such as a dropping jaw,
    breathing shoulders or closing lids, each scaled by an amount per frame.

    Fields are built once; a frame costs a few array sums and one remap.
    """

    def __init__(
        self, size: int, head_mask: np.ndarray, pivot: tuple[float, float], fields: dict[str, Field] | None = None
    ):
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        self.grid_x, self.grid_y = xs, ys
        self.pivot = pivot
        self.m = head_mask.astype(np.float32)
        self.mx = self.m * (xs - pivot[0])
        self.my = self.m * (ys - pivot[1])
        self.fields = fields or {}

    def apply(self, image: np.ndarray, dx: float, dy: float, roll: float, **amounts: float) -> np.ndarray:
        return cv2.remap(image, *self.maps(dx, dy, roll, **amounts), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def maps(self, dx: float, dy: float, roll: float, **amounts: float) -> tuple[np.ndarray, np.ndarray]:
        """Where each pixel of the frame reads the still image from (x, y)."""
        c, s = float(np.cos(roll)) - 1.0, float(np.sin(roll))
        # forward displacement D(p); the image at p is read from p - D(p)
        disp_x = c * self.mx - s * self.my + float(dx) * self.m
        disp_y = s * self.mx + c * self.my + float(dy) * self.m
        for name, amount in amounts.items():
            f = self.fields[name]
            if amount:
                box = self._moved(f, dx, dy, roll)
                if f.dx is not None:
                    disp_x[box] += float(amount) * f.dx
                if f.dy is not None:
                    disp_y[box] += float(amount) * f.dy
        disp_x = np.subtract(self.grid_x, disp_x, out=disp_x)
        disp_y = np.subtract(self.grid_y, disp_y, out=disp_y)
        return disp_x, disp_y

    def over(self, f: Field, rows: slice, cols: slice, dx: float, dy: float, roll: float) -> np.ndarray:
        """A vertical field's values over a part of the frame (zero beyond
        its box), where the head has taken it."""
        out = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.float32)
        ys, xs = self._moved(f, dx, dy, roll)
        r0, r1 = max(ys.start, rows.start), min(ys.stop, rows.stop)
        c0, c1 = max(xs.start, cols.start), min(xs.stop, cols.stop)
        if r1 > r0 and c1 > c0:
            out[r0 - rows.start : r1 - rows.start, c0 - cols.start : c1 - cols.start] = f.dy[
                r0 - ys.start : r1 - ys.start, c0 - xs.start : c1 - xs.start
            ]
        return out

    def _moved(self, f: Field, dx: float, dy: float, roll: float) -> tuple[slice, slice]:
        """The field's box where the head has taken it (to the nearest
        pixel): a field is laid out on the still portrait, and must stay on
        the part it moves (a lip's edge) when the whole head moves."""
        ys, xs = f.box
        if ys.stop <= ys.start:
            return f.box
        cx, cy = (xs.start + xs.stop - 1) / 2, (ys.start + ys.stop - 1) / 2
        x, y = self.point(np.array(cx), np.array(cy), dx, dy, roll)
        size = self.grid_x.shape[0]
        shift_x = int(np.clip(round(float(x - cx)), -xs.start, size - xs.stop))
        shift_y = int(np.clip(round(float(y - cy)), -ys.start, size - ys.stop))
        return slice(ys.start + shift_y, ys.stop + shift_y), slice(xs.start + shift_x, xs.stop + shift_x)

    def point(self, x: np.ndarray, y: np.ndarray, dx: float, dy: float, roll: float):
        """Where head points land under the same rigid motion."""
        c, s = np.cos(roll), np.sin(roll)
        px, py = x - self.pivot[0], y - self.pivot[1]
        return self.pivot[0] + c * px - s * py + dx, self.pivot[1] + s * px + c * py + dy


def smooth(points, iterations: int = 3, closed: bool = True) -> np.ndarray:
    """Round a polygon's corners (Chaikin's corner cutting)."""
    p = np.asarray(points, np.float64)
    for _ in range(iterations):
        q = np.roll(p, -1, 0) if closed else p[1:]
        a = p if closed else p[:-1]
        cut = np.empty((len(a) * 2, 2))
        cut[0::2] = 0.75 * a + 0.25 * q
        cut[1::2] = 0.25 * a + 0.75 * q
        p = cut if closed else np.concatenate([p[:1], cut, p[-1:]])
    return p
