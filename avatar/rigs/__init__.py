"""Avatar rigs: each turns a :class:`~avatar.face.FaceState` into an RGB image.

A rig is anything with ``size``, ``mouth_box`` and ``draw(state)``; pick one
with :func:`load_rig` from a spec (``stylized`` or ``photo:PATH``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from avatar.face import FaceState
from stage.core.errors import FiresideError


class Rig(Protocol):
    size: int
    # the mouth region at rest, (x0, y0, x1, y1) in pixels
    mouth_box: tuple[int, int, int, int]

    def draw(self, state: FaceState) -> np.ndarray:
        """An RGB uint8 image of ``size`` x ``size`` pixels."""
        ...


class RigError(FiresideError, ValueError):
    """A rig that cannot be made (bad spec, unreadable portrait, no face)."""


def spec_problem(spec: str) -> str | None:
    """What is wrong with a rig spec, without making the rig (None: nothing)."""
    if spec == "stylized" or spec.startswith("stylized:"):
        from avatar.rigs.presenter import LOOKS

        look = spec.partition(":")[2] or "default"
        return None if look in LOOKS else f"unknown stylized look {look!r}: use one of {', '.join(LOOKS)}"
    if spec.startswith("photo:"):
        path = Path(spec.removeprefix("photo:")).expanduser()
        return None if path.is_file() else f"the portrait {path} does not exist"
    return f"unknown avatar {spec!r}: use 'stylized', 'stylized:LOOK' ({', '.join(looks())}) or 'photo:PATH'"


def looks() -> list[str]:
    """The stylized rig's looks."""
    from avatar.rigs.presenter import LOOKS

    return list(LOOKS)


def load_rig(spec: str, size: int = 512) -> Rig:
    """``stylized``, ``stylized:LOOK`` (default, silver, auburn) or ``photo:PATH``."""
    # the rigs are imported here, not at the top: each rig's module imports this package (RigError)
    if spec == "stylized" or spec.startswith("stylized:"):
        from avatar.rigs.stylized import StylizedRig

        return StylizedRig(size, spec.partition(":")[2] or "default")
    if spec.startswith("photo:"):
        from avatar.rigs.photo import PhotoRig

        return PhotoRig(Path(spec.removeprefix("photo:")).expanduser(), size)
    raise RigError(f"unknown avatar {spec!r}: use 'stylized', 'stylized:LOOK' or 'photo:PATH'")
