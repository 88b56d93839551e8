"""Keepsakes waiting to be taken home: each in a folder named by an
unguessable token (the link on the QR code), deleted ``keep_hours`` after
it was made, or when its attendee or the organiser asks. Nothing else is
kept: not the photo, not the address it came from.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from stage.core import paths

TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")  # secrets.token_urlsafe(16)
VIDEO, CARD, ABOUT = "keepsake.mp4", "keepsake.png", "about.json"


@dataclass(frozen=True)
class Kept:
    token: str
    line: str
    name: str
    voice: str
    made: float  # seconds since the epoch (the store's clock)
    seconds: float  # of video

    def expires(self, keep_hours: float) -> float:
        return self.made + keep_hours * 3600


class Keepsakes:
    def __init__(self, folder: Path | None, keep_hours: float, clock: Callable[[], float] = time.time):
        self.folder = Path(folder) if folder else paths.data_dir("booth")
        self.keep_hours, self.clock = keep_hours, clock
        self.folder.mkdir(parents=True, exist_ok=True)

    def new(self) -> tuple[str, Path]:
        """A token for a keepsake about to be made, and where its video goes."""
        token = secrets.token_urlsafe(16)
        return token, self.folder / token / VIDEO

    def keep(self, token: str, line: str, name: str, voice: str, seconds: float) -> Kept:
        """The keepsake made at ``new``'s path is ready to be taken."""
        kept = Kept(token, line, name, voice, self.clock(), seconds)
        (self.folder / token / ABOUT).write_text(json.dumps(asdict(kept)), "utf-8")
        return kept

    def get(self, token: str) -> Kept | None:
        """The keepsake with this token, if it is ready and not yet expired."""
        if not TOKEN.match(token):
            return None
        try:
            kept = Kept(**json.loads((self.folder / token / ABOUT).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None
        return kept if self.clock() < kept.expires(self.keep_hours) else None

    def file(self, token: str, name: str) -> Path | None:
        return self.folder / token / name if name in (VIDEO, CARD) and self.get(token) else None

    def all(self) -> list[Kept]:
        """Every keepsake still kept, newest first."""
        kept = (self.get(path.name) for path in self.folder.iterdir() if path.is_dir())
        return sorted((k for k in kept if k is not None), key=lambda k: -k.made)

    def delete(self, token: str) -> bool:
        if not TOKEN.match(token) or not (self.folder / token).is_dir():
            return False
        shutil.rmtree(self.folder / token, ignore_errors=True)
        return True

    def expire(self) -> int:
        """Delete what has been kept long enough (and what was never finished, after
        the same time); how many went."""
        gone = 0
        for path in self.folder.iterdir():
            if not path.is_dir() or not TOKEN.match(path.name):
                continue
            about = path / ABOUT
            try:
                made = json.loads(about.read_text("utf-8"))["made"]
            except (OSError, ValueError, KeyError):
                made = path.stat().st_mtime
            if self.clock() >= made + self.keep_hours * 3600:
                shutil.rmtree(path, ignore_errors=True)
                gone += 1
        return gone
