"""Is this photo a keepsake's face? One face, near enough, lit, looking at
the camera: otherwise a message the attendee can act on, and nothing kept.

Faces are found with MediaPipe's short- and full-range face detectors, and
the one face's landmarks with its face mesh (``avatar.landmarks.faces_in``);
the checks are measured on its box, landmarks and pixels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar import landmarks as lm
from stage.core.errors import FiresideError

MAX_BYTES = 12 * 1024 * 1024  # a phone's full-size JPEG fits; a 50 MB upload does not
SMALLEST_FACE = 0.15  # the face's box, at least this share of the photo's shorter side high ...
SMALLEST_FACE_PIXELS = 100  # ... and at least this many pixels
DARKEST = 55  # the face's mean brightness (0-255), at least
MOST_TURNED = 0.22  # how far the nose may sit off the eyes' middle, in eye distances
NOSE_TIP = 1
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


class PhotoError(FiresideError, ValueError):
    """A photo that cannot become a keepsake; the message says what to do."""


@dataclass(frozen=True)
class Face:
    points: np.ndarray  # (478, 2) pixel coordinates
    height: float  # forehead to chin, pixels
    brightness: float  # the face's mean brightness, 0-255
    turn: float  # the nose's offset from the eyes' middle, in eye distances (signed)


def check_photo(data: bytes) -> Face:
    """The one face in ``data`` (an image file's bytes), fit to animate; raises PhotoError."""
    if len(data) > MAX_BYTES:
        raise PhotoError(f"the photo is {len(data) / 2**20:.0f} MB: at most {MAX_BYTES // 2**20} MB, please")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise PhotoError("that is not a photo Fireside can read (a JPEG or PNG, please)")
    with tempfile.TemporaryDirectory(prefix="fireside-photo-") as folder:
        path = Path(folder) / "photo.png"
        cv2.imwrite(str(path), image)
        boxes, points = lm.faces_in(path)
    if not len(boxes):
        raise PhotoError("no face was found: look at the camera, in good light, and try again")
    if len(boxes) > 1:
        raise PhotoError(f"{len(boxes)} faces were found: one person at a time, please")
    if boxes[0][3] < max(SMALLEST_FACE * min(image.shape[:2]), SMALLEST_FACE_PIXELS):
        raise PhotoError("the face is too small: come closer to the camera")
    if points is None:
        raise PhotoError("the face is not clear enough: look straight at the camera, in good light")
    face = measure(points, image)
    if face.brightness < DARKEST:
        raise PhotoError("the photo is too dark: face the light, or ask for more of it")
    if abs(face.turn) > MOST_TURNED:
        raise PhotoError("the face is turned away: look straight at the camera")
    return face


def measure(points: np.ndarray, image: np.ndarray) -> Face:
    """The face's size, light and turn, from its landmarks on ``image`` (BGR)."""
    oval = points[lm.FACE_OVAL]
    height = float(points[lm.CHIN, 1] - points[lm.FOREHEAD, 1])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 1)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    brightness = float(gray[mask > 0].mean()) if mask.any() else 0.0
    right, left = points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER]
    across = float(np.linalg.norm(left - right)) or 1.0
    turn = float(points[NOSE_TIP, 0] - (left[0] + right[0]) / 2) / across
    return Face(points, height, brightness, turn)
