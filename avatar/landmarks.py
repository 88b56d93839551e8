"""Face landmarks of a portrait (MediaPipe face mesh, 478 points), found
once per image and cached.

MediaPipe runs in a child process: it is slow to import, holds a graph
runtime we do not want in a live server, and its protobuf needs differ from
the rest of the stack. Run ``python -m avatar.landmarks IMAGE OUT.npy`` to
call it by hand.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from stage.core import paths
from stage.core.errors import FiresideError

# Landmark indices of the MediaPipe face mesh
# fmt: off
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
LIPS_OUTER_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIPS_INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIPS_INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
RIGHT_EYE_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]  # the subject's right: image left
RIGHT_EYE_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
LEFT_EYE_UPPER = [362, 398, 384, 385, 386, 387, 388, 466, 263]
LEFT_EYE_LOWER = [362, 382, 381, 380, 374, 373, 390, 249, 263]
RIGHT_BROW = [70, 63, 105, 66, 107]
LEFT_BROW = [336, 296, 334, 293, 300]
# fmt: on
MESH_POINTS = 468  # the face mesh's own points; the ten after them are the irises'
NOSE_BOTTOM = 2
CHIN = 152
FOREHEAD = 10
RIGHT_IRIS, LEFT_IRIS = 468, 473  # the irises' centres (refined landmarks)
RIGHT_IRIS_RING, LEFT_IRIS_RING = [469, 470, 471, 472], [474, 475, 476, 477]

NO_FACE_EXIT = 3


class NoFaceFound(FiresideError, ValueError):
    pass


def cache_dir() -> Path:
    return paths.cache_dir("landmarks")


def find_landmarks(image_path: Path) -> np.ndarray:
    """(478, 2) pixel coordinates of the face in the image, from the cache
    when this image was seen before. Raises NoFaceFound."""
    digest = hashlib.sha256(Path(image_path).read_bytes()).hexdigest()[:32]
    cached = cache_dir() / f"{digest}.npy"
    if cached.exists():
        return np.load(cached)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.npy")
    returncode = _run_child([str(image_path), str(tmp)], f"face landmarking failed for {image_path}", 120)
    if returncode == NO_FACE_EXIT:
        raise NoFaceFound(f"no face found in {image_path}")
    os.replace(tmp, cached)
    return np.load(cached)


def faces_in(image_path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Every face MediaPipe's detectors see in the image (short- and full-range), as
    (N, 4) boxes (x, y, width, height in pixels, largest first), and the
    largest one's (478, 2) landmarks, None where the mesh cannot place them:
    a booth's photo must hold exactly one face, near enough to animate."""
    with tempfile.TemporaryDirectory(prefix="fireside-faces-") as folder:
        boxes, points = Path(folder) / "boxes.npy", Path(folder) / "points.npy"
        _run_child(["--faces", str(image_path), str(boxes), str(points)], f"cannot look for faces in {image_path}", 120)
        return np.load(boxes), (np.load(points) if points.exists() else None)


def landmarks_of_frames(frames: np.ndarray) -> np.ndarray:
    """(N, 478, 2) pixel coordinates of the face in each of ``frames`` (N, H,
    W, 3 RGB), NaN where no face is found: the face mesh run again on what a
    rig drew, to measure it from outside."""
    with tempfile.TemporaryDirectory(prefix="fireside-frames-") as folder:
        given, found = Path(folder) / "frames.npy", Path(folder) / "points.npy"
        np.save(given, frames)
        _run_child(["--frames", str(given), str(found)], "face landmarking of frames failed", 60 + len(frames))
        return np.load(found)


def _run_child(args: list[str], failure: str, timeout: float) -> int:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).parent.parent), os.environ.get("PYTHONPATH")])),
    )
    run = subprocess.run(
        [sys.executable, "-m", "avatar.landmarks", *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    if run.returncode not in (0, NO_FACE_EXIT):
        last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{failure}: {last}")
    return run.returncode


def _face_mesh():
    os.environ.setdefault("GLOG_minloglevel", "2")
    import mediapipe as mp

    return mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=1, min_detection_confidence=0.5
    )


def _points(mesh, rgb: np.ndarray) -> np.ndarray | None:
    result = mesh.process(rgb)
    if not result.multi_face_landmarks:
        return None
    h, w = rgb.shape[:2]
    return np.array([(p.x * w, p.y * h) for p in result.multi_face_landmarks[0].landmark], np.float32)


def _landmark(image_path: str, out_path: str) -> int:
    import cv2

    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"cannot read image {image_path}", file=sys.stderr)
        return 2
    with _face_mesh() as mesh:
        points = _points(mesh, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if points is None:
        return NO_FACE_EXIT
    np.save(out_path, points)
    return 0


def _faces(image_path: str, boxes_path: str, points_path: str) -> int:
    import cv2
    import mediapipe as mp

    bgr = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"cannot read image {image_path}", file=sys.stderr)
        return 2
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    # the short-range model finds a face close to the camera (a selfie at a
    # kiosk, which the full-range model misses now and then), the full-range
    # one faces up to about five metres away; a face both find is one face,
    # in the larger of its boxes (the short-range model's are tighter)
    boxes: list[tuple[float, float, float, float]] = []
    for model in (0, 1):
        with mp.solutions.face_detection.FaceDetection(model_selection=model, min_detection_confidence=0.5) as detector:
            for found in detector.process(rgb).detections or []:
                b = found.location_data.relative_bounding_box
                box = (b.xmin * w, b.ymin * h, b.width * w, b.height * h)
                same = [i for i, seen in enumerate(boxes) if _overlap(box, seen) >= 0.3]
                if not same:
                    boxes.append(box)
                elif box[2] * box[3] > boxes[same[0]][2] * boxes[same[0]][3]:
                    boxes[same[0]] = box
    boxes.sort(key=lambda box: -box[2] * box[3])
    np.save(boxes_path, np.array(boxes, np.float32).reshape(-1, 4))
    if boxes:
        with _face_mesh() as mesh:
            points = _points(mesh, rgb)
        if points is not None:
            np.save(points_path, points)
    return 0


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Two boxes' (x, y, width, height) intersection over their union."""
    across = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    down = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    both = across * down
    return both / max(a[2] * a[3] + b[2] * b[3] - both, 1e-9)


def _landmark_frames(frames_path: str, out_path: str) -> int:
    frames = np.load(frames_path)
    found = np.full((len(frames), 478, 2), np.nan, np.float32)
    with _face_mesh() as mesh:
        for i, rgb in enumerate(frames):
            points = _points(mesh, np.ascontiguousarray(rgb))
            if points is not None:
                found[i] = points[:478]
    np.save(out_path, found)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--frames":
        sys.exit(_landmark_frames(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "--faces":
        sys.exit(_faces(sys.argv[2], sys.argv[3], sys.argv[4]))
    sys.exit(_landmark(sys.argv[1], sys.argv[2]))
