"""The inside of the photo rig's mouth, painted where its lips have parted:
dark at the back and in the corners, the lips' wet inner edges shading into
it, upper teeth under the upper lip where the portrait shows none, and the
tongue at the floor, its tip raised on l, t, d and n. Its colours take the
portrait's own: its lips' and the light about its mouth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar import landmarks as lm
from avatar.rigs.paint import luminance, poly_mask
from avatar.rigs.portrait import Mouth

SHADOW = np.array([28, 8, 12], np.float32)  # deep in the mouth, under the upper teeth
CAVITY = np.array([74, 26, 32], np.float32)  # lower in it, lit from the front
TONGUE = np.array([176, 84, 90], np.float32)
TEETH = np.array([232, 222, 200], np.float32)  # ivory
TOOTH_EDGES = (0.0, 0.34, 0.58, 0.78)  # between the upper teeth, in half-widths of the mouth from its middle


@dataclass(frozen=True, eq=False)
class MouthInside:
    mouth: Mouth
    lip_inside: np.ndarray  # the lips' wet inner side, in shade
    light: float  # how the portrait is lit about the mouth (1: fully)

    @classmethod
    def of(cls, base: np.ndarray, p: np.ndarray, mouth: Mouth) -> MouthInside:
        """Read from the portrait ``base`` (RGB) and its landmarks ``p``."""
        size = base.shape[0]
        lower_lip = poly_mask((size, size), [np.concatenate([p[lm.LIPS_INNER_LOWER], p[lm.LIPS_OUTER_LOWER][::-1]])])
        lip = np.median(base[lower_lip > 0.5], 0) if (lower_lip > 0.5).any() else np.array([150.0, 90, 90])
        x0, x1 = max(int(mouth.left[0]), 0), max(int(mouth.right[0]), 1)
        around = base[int(p[lm.NOSE_BOTTOM][1]) : int(p[lm.CHIN][1]), x0:x1]
        level = float(np.median(luminance(around))) if around.size else 160.0
        return cls(mouth, (0.5 * lip).astype(np.float32), float(np.clip(level / 165.0, 0.5, 1.0)))

    def paint(self, m, below, above, cols, top, bottom) -> np.ndarray:
        """The inside of the mouth at each pixel, given how far it lies
        below the upper lip's edge and above the lower lip's: dark at the
        back and in the corners, the lips' wet inner edges shading into it,
        the upper teeth under the upper lip, the tongue at the floor (its
        tip raised on l, t, d and n)."""
        hw = self.mouth.half_width
        gap = np.maximum(below + above, 1.0)
        depth = np.clip(below / gap, 0, 1)  # 0 under the upper lip, 1 on the lower
        left, right = float(min(top[0, 0], bottom[0, 0])), float(max(top[-1, 0], bottom[-1, 0]))
        middle_x, half = (left + right) / 2, max(2.0, (right - left) / 2)
        side = np.clip(np.abs(cols - middle_x) / half, 0, 1)[None, :]  # 0 in the middle, 1 at a corner
        # the cavity: darkest at the back, under the upper teeth
        paint = SHADOW + (CAVITY - SHADOW) * np.clip(depth / 0.7, 0, 1)[..., None] ** 1.5
        # the tongue: its back a low dome on the floor, its tip raised towards the teeth
        dome = 0.78 - 0.22 * m.open - 0.45 * m.tongue * np.clip(1 - (side / 0.45) ** 2, 0, 1) + 0.3 * side**2
        tongue = np.clip((depth - dome) / 0.12, 0, 1)
        lit = np.clip((depth - dome) / np.maximum(1 - dome, 0.05), 0, 1)
        paint += (TONGUE * self.light * (0.7 + 0.4 * lit[..., None]) - paint) * tongue[..., None]
        # the lips' wet inner edges, shading into the dark
        rim = np.exp(-np.maximum(np.minimum(below, above), 0) / max(0.8, 0.06 * hw))
        paint += (self.lip_inside - paint) * (0.55 * rim)[..., None]
        if not self.mouth.teeth_shown:  # a closed-mouth portrait: the upper teeth, painted
            self._teeth(paint, m, below, gap, side, cols)
        # a slit is in the lips' shade; the corners lie in the cheeks'
        slit = np.clip(gap / 3.0, 0, 1)[..., None]
        paint = self.lip_inside + (paint - self.lip_inside) * slit
        return paint * (1 - 0.55 * side**2)[..., None]

    def _teeth(self, paint, m, below, gap, side, cols) -> None:
        """Upper teeth under the upper lip: more of the gap when it is
        narrow (as it opens, teeth show first), shaded towards the corners,
        a faint line between each, the biting edge soft and rising to the
        sides."""
        hw = self.mouth.half_width
        reach = np.minimum(0.62 * gap, 0.2 * hw * (0.45 + 0.55 * m.teeth)) * (1 - 0.4 * side**2)
        teeth = np.clip((reach - below) / 0.9 + 0.5, 0, 1) * np.clip((0.92 - side) / 0.12, 0, 1)
        x = np.abs(cols - float(self.mouth.centre[0])) / hw  # across the face, not the opening
        seams = sum(np.exp(-(((x - at) * hw / 0.6) ** 2)) for at in TOOTH_EDGES)
        tone = (1 - 0.5 * side**2) * (1 - 0.08 * seams) * (0.86 + 0.14 * np.clip(below / 2.0, 0, 1))
        paint += (TEETH * self.light * tone[..., None] - paint) * teeth[..., None]
