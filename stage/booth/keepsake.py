"""A keepsake: the attendee's face saying their line, as an MP4 a phone
plays (H.264 and AAC, ``booth.size`` square, 5 to 10 s), and a card.

The face is the photo rig (avatar/rigs/photo.py) on the checked photo; the
voice one of the shipped voices the booth offers; the video is made as
``fireside say`` makes a clip (stage/offline/clip.py).
"""

from __future__ import annotations

import datetime
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from avatar.rigs.photo import PhotoRig
from stage.booth.card import draw_card
from stage.booth.photo import PhotoError, check_photo
from stage.core.config import BoothSettings
from stage.core.errors import FiresideError
from stage.offline.clip import render_clip
from stage.session.cast import Cast

SHORTEST, LONGEST = 5.0, 10.0  # seconds of video
LONGEST_LINE = 160  # characters: about ten seconds of speech


class KeepsakeError(FiresideError, ValueError):
    """A keepsake that cannot be made as asked (the line, the voice)."""


@dataclass(frozen=True)
class Keepsake:
    video: Path
    card: Path
    line: str  # as said
    seconds: float  # of video
    elapsed: float  # seconds to make it


def filled(line: str, name: str, title: str) -> str:
    """The line with the attendee's name and the event's title in it."""
    name = " ".join(name.split())
    if "{name}" in line and not name:
        raise KeepsakeError("this line says your name: type it in, or choose another line")
    said = " ".join(line.replace("{name}", name).replace("{title}", title).split())
    if not said:
        raise KeepsakeError("there is no line to say")
    if len(said) > LONGEST_LINE:
        raise KeepsakeError(f"the line is {len(said)} characters: at most {LONGEST_LINE} (about ten seconds)")
    return said


def offered(settings: BoothSettings, name: str = "") -> list[str]:
    """The lines an attendee may choose, filled in (those with {name} only once it is given)."""
    return [filled(line, name, settings.title) for line in settings.lines if name.strip() or "{name}" not in line]


def make_keepsake(
    photo: bytes,
    line: str,
    video: Path,
    cast: Cast,
    settings: BoothSettings,
    name: str = "",
    voice: str | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Keepsake:
    """The MP4 ``video`` (and its card, the same name as a PNG) of the face
    in ``photo`` (an image file's bytes) saying ``line`` (``{name}`` and
    ``{title}`` filled in). Raises PhotoError or KeepsakeError, writing nothing."""
    started = time.perf_counter()
    said = filled(line, name, settings.title)
    voice = voice or settings.voices[0]
    if voice not in settings.voices:
        raise KeepsakeError(f"the booth has no voice {voice!r} (it offers {', '.join(settings.voices)})")
    face = check_photo(photo)
    with tempfile.TemporaryDirectory(prefix="fireside-booth-") as scratch:  # the photo is not kept
        portrait = Path(scratch) / "photo"
        portrait.write_bytes(photo)
        try:
            rig = PhotoRig(portrait, settings.size, face.points)
        except FiresideError as err:
            raise PhotoError(str(err)) from None
    video.parent.mkdir(parents=True, exist_ok=True)
    report = render_clip(said, video, cast, voice, rig=rig, at_least=SHORTEST, on_progress=on_progress)
    if report.speech > LONGEST:
        video.unlink(missing_ok=True)
        raise KeepsakeError(f"the line takes {report.speech:.0f} s to say: at most {LONGEST:.0f}, please")
    date = settings.date or datetime.date.today().strftime("%-d %B %Y")
    card = video.with_suffix(".png")
    draw_card(rig.base, said, " ".join(name.split()), date, settings).save(card, optimize=True)
    return Keepsake(video, card, said, report.duration, time.perf_counter() - started)
