"""A talking photo: any portrait, animated by warping it.

Face landmarks (MediaPipe, 478 points) are found once per portrait and
cached. The portrait is cropped to head and shoulders; then the mouth's
controls are laid out as moves of the landmarks on a triangle mesh over
them (:func:`~avatar.rigs.portrait.mouth_fields`: the lips part, round and
spread, the jaw drops, the cheeks follow), beside fields that lift the
brows, move the irises and sway the head. Each frame sums the fields, warps
the portrait once, works out near the lips which sheet each pixel shows or
whether the mouth's inside does (painted by :mod:`avatar.rigs.inside`), and
slides the upper lids down to blink.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avatar import landmarks as lm
from avatar.face import FaceState
from avatar.rigs import RigError
from avatar.rigs.inside import MouthInside
from avatar.rigs.paint import Field, HeadWarp, fill, stroke
from avatar.rigs.portrait import OPENING, Mouth, brow_and_gaze_fields, eye_lids, head_mask, mouth_fields

IDLE_SCALE = 0.6  # a photo tolerates less head motion than a drawing
SMILE_OPEN = 0.4  # the openness at which a portrait's open smile shows as it is
BROW_LIFT = 0.04  # how far the brows lift at most, in face heights
JAW_DROP = 0.78  # the jaw's drop, for each pixel the lips part at the middle
ROUND_PARTING = 0.65  # a rounded mouth (o, u, w) parts less at the middle than a spread one


class PhotoRig:
    def __init__(self, portrait: Path, size: int = 512, points: np.ndarray | None = None):
        """``portrait``'s face (its landmarks found, or ``points`` where known), ``size`` square."""
        self.size = size
        if not Path(portrait).is_file():
            raise RigError(f"the portrait {portrait} does not exist")
        bgr = cv2.imread(str(portrait), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RigError(f"cannot read portrait {portrait}: not an image file")
        if points is None:
            try:
                points = lm.find_landmarks(Path(portrait))
            except lm.NoFaceFound as err:
                raise RigError(str(err)) from None
        self.base, self.points = self._crop(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), points)
        self._build_fields()

    def _crop(self, rgb: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Head and shoulders, face centred a little above the middle."""
        oval = points[lm.FACE_OVAL]
        (x0, y0), (x1, y1) = oval.min(0), oval.max(0)
        side = max(x1 - x0, y1 - y0) * 2.1
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.12 * side
        scale = self.size / side
        affine = np.array([[scale, 0, self.size / 2 - cx * scale], [0, scale, self.size / 2 - cy * scale]])
        crop = cv2.warpAffine(
            rgb,
            affine,
            (self.size, self.size),
            flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REPLICATE,
        )
        moved = points @ affine[:, :2].T + affine[:, 2]
        return crop, moved.astype(np.float64)

    def _build_fields(self) -> None:
        """The warp and what the frames paint, laid out from the landmarks."""
        s, p = self.size, self.points
        self.mouth = Mouth.of(p)
        self.eyes = eye_lids(p, self._pixel)
        head, pivot = head_mask(p, s)
        face, self.gaze_reach = brow_and_gaze_fields(p, s)
        mouth, self.lips, self.cut = mouth_fields(p, self.mouth, s)
        self.lower_side = Field(dy=self.cut.lower_side)
        self.warp = HeadWarp(s, head, pivot, {**mouth, **face})
        self.brow_lift = BROW_LIFT * float(np.linalg.norm(p[lm.FOREHEAD] - p[lm.CHIN]))
        self.inside = MouthInside.of(self.base, p, self.mouth)
        pad = int(0.35 * self.mouth.half_width)
        self.mouth_box = (
            int(self.mouth.left[0]) - pad,
            int(p[lm.NOSE_BOTTOM][1]),
            int(self.mouth.right[0]) + pad,
            int(p[lm.CHIN][1]),
        )

    def _pixel(self, x: float, y: float) -> np.ndarray:
        yi = int(np.clip(round(y), 0, self.size - 1))
        xi = int(np.clip(round(x), 0, self.size - 1))
        return self.base[yi, xi].astype(np.float64)

    def draw(self, state: FaceState) -> np.ndarray:
        m = state.mouth
        gap = m.open * 0.5 * self.mouth.half_width  # centre opening in pixels
        # lips that part in the portrait (an open smile) meet at rest and on
        # m, b and p, and open from there: the opening follows the voice
        close = 0.0
        if self.mouth.teeth_shown:
            close = self.mouth.parted * float(np.clip(1 - m.open / SMILE_OPEN + m.press, 0, 1))
        # the jaw drops the lower lip with it, and the upper lip stays; a
        # rounded mouth parts between its pulled-in corners
        jaw = JAW_DROP * gap
        up, down = 0.22 * gap - 1.05 * close + 0.35 * jaw, 0.33 * gap - 0.6 * close + 0.35 * jaw
        r = float(np.clip(m.round, 0, 1))
        moves = {
            "lip_up": up * (1 - r),
            "lip_down": down * (1 - r),
            "lip_up_round": up * r * ROUND_PARTING,
            "lip_down_round": down * r * ROUND_PARTING,
            "jaw": jaw,
            "wide": m.wide,
            "round": m.round,
        }
        dx, dy = state.head_x * self.size * IDLE_SCALE, state.head_y * self.size * IDLE_SCALE
        roll = state.head_roll * IDLE_SCALE
        maps = self.warp.maps(
            dx,
            dy,
            roll,
            **moves,
            brow=state.brow * self.brow_lift,
            gaze_x=state.gaze_x * self.gaze_reach,
            gaze_y=state.gaze_y * self.gaze_reach,
        )
        img = cv2.remap(self.base, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        def T(points):
            x, y = self.warp.point(points[:, 0], points[:, 1], dx, dy, roll)
            return np.stack([x, y], 1)

        if gap > 0.3:
            self._open_mouth(img, maps, m, moves, (dx, dy, roll), T)
        if state.blink > 0.05:
            self._paint_lids(img, state.blink, T)
        return img

    def _paint_lids(self, img, blink: float, T) -> None:
        """Upper lids of skin, shaded towards the lashes, with soft edges."""
        for upper, lower, height, lid_color, lash_color in self.eyes:
            lid = upper + blink * (lower - upper)
            # from a little above the lash line of the open eye, to cover it
            outline = T(np.concatenate([upper - [0, 0.35 * height], lid[::-1]]))
            x0, y0 = np.floor(outline.min(0)).astype(int) - 3
            x1, y1 = np.ceil(outline.max(0)).astype(int) + 4
            roi = img[y0:y1, x0:x1]
            mask = np.zeros(roi.shape[:2], np.float32)
            fill(mask, outline - [x0, y0], (1.0,))
            mask = cv2.GaussianBlur(mask, (0, 0), 1.4)[..., None]
            # each column takes the colour of the skin just above the eye
            above = T(upper - [0, 0.75 * height])
            cols = np.arange(x0, x1)
            rows = np.clip(np.interp(cols, above[:, 0], above[:, 1]).round().astype(int), 0, self.size - 1)
            tone = img[rows, np.clip(cols, 0, self.size - 1)].astype(np.float32)
            tone = cv2.GaussianBlur(tone[None], (0, 0), 2.0)[0] * 0.94
            depth = np.linspace(0.0, 1.0, roi.shape[0], dtype=np.float32)[:, None, None]
            skin = tone[None] * (1.0 - 0.08 * depth)
            roi[:] = (roi * (1 - mask) + skin * mask).astype(np.uint8)
            stroke(img, T(lid), lash_color, max(1, round(0.1 * height)))

    def _open_mouth(self, img, maps, m, moves: dict[str, float], head: tuple[float, float, float], T) -> None:
        """The mouth's opening, worked out for each pixel near the cut: the
        upper sheet shows where it reads the portrait above the cut, the
        lower sheet where it reads below it, and where neither does the
        lips have parted and the inside of the mouth shows (so no sheet is
        ever seen torn at the corners). Its edges are soft and its corners
        taper; inside, it is painted by :class:`~avatar.rigs.inside.MouthInside`."""
        hw = self.mouth.half_width
        corners = self.points[OPENING]
        top = T(corners + sum(amount * self.lips[name].upper for name, amount in moves.items()))
        bottom = T(corners + sum(amount * self.lips[name].lower for name, amount in moves.items()))
        reach = 0.15 * hw + 3
        x0 = max(int(min(top[:, 0].min(), bottom[:, 0].min()) - reach), 0)
        x1 = min(int(max(top[:, 0].max(), bottom[:, 0].max()) + reach) + 1, self.size)
        y0 = max(int(min(top[:, 1].min(), bottom[:, 1].min()) - reach), 0)
        y1 = min(int(max(top[:, 1].max(), bottom[:, 1].max()) + reach) + 1, self.size)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        rows, cols = slice(y0, y1), slice(x0, x1)
        apart = sum(
            amount * self.warp.over(self.cut.parting[name], rows, cols, *head)
            for name, amount in moves.items()
            if amount and name in self.cut.parting
        )
        if np.max(apart) < 0.5:
            return
        below_side = self.warp.over(self.lower_side, rows, cols, *head)
        map_x, map_y = maps[0][rows, cols], maps[1][rows, cols]
        # where each sheet reads the portrait, and the cut there
        upper_read = map_y + below_side * apart
        lower_read = map_y - (1 - below_side) * apart
        line = np.interp(map_x, np.arange(self.size, dtype=np.float32), self.cut.line)
        below, above = upper_read - line, line - lower_read  # into the opening from each edge
        soft = float(np.clip(0.04 * hw, 0.6, 1.6))  # the edges' width (pixels)
        upper_ok = np.clip(0.5 - below / soft, 0, 1)
        lower_ok = np.clip(0.5 - above / soft, 0, 1)
        # a slit a pixel or two wide shows the lips meeting, not a dark line
        thin = np.clip((below + above - 1.0) / 2.0, 0, 1)
        opening = np.clip(np.minimum(below, above) / soft, 0, 1) * thin
        neither = 0.5 * (1 - upper_ok) * (1 - lower_ok) * (1 - thin)
        w_up = upper_ok * (1 - lower_ok * below_side) + neither
        w_low = lower_ok * (1 - upper_ok * (1 - below_side)) + neither
        inside = self.inside.paint(m, below, above, np.arange(x0, x1, dtype=np.float32), top, bottom)
        up_img = cv2.remap(self.base, map_x, upper_read, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        low_img = cv2.remap(self.base, map_x, lower_read, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        total = np.maximum(w_up + w_low + opening, 1e-3)[..., None]
        mixed = (w_up[..., None] * up_img + w_low[..., None] * low_img + opening[..., None] * inside) / total
        img[rows, cols] = np.clip(mixed, 0, 255).astype(np.uint8)


def sample_portrait() -> Path:
    """scikit-image's public-domain astronaut portrait (NASA), as a PNG file."""
    from skimage import data

    path = lm.cache_dir().parent / "astronaut.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.png")
        cv2.imwrite(str(tmp), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
        tmp.replace(path)
    return path


def hopper_portrait() -> Path:
    """Grace Hopper's official US Navy portrait (public domain), with her
    lips closed, as matplotlib ships it in its sample data."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def test_portraits() -> dict[str, Path]:
    """The faces the photo rig is measured on: a smile with teeth (the
    astronaut), closed lips and glasses (Grace Hopper), darker skin and an
    open smile (Barack Obama), an older man with closed lips (Joe Biden);
    see ``avatar/portraits/README.md``."""
    shipped = Path(__file__).resolve().parent.parent / "portraits"
    return {
        "astronaut": sample_portrait(),
        "hopper": hopper_portrait(),
        "obama": shipped / "obama.jpg",
        "biden": shipped / "biden.jpg",
    }
