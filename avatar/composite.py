"""The stage composite: every panelist's face side by side on one frame,
the one speaking highlighted, name lower-thirds, a caption line and an
"AI avatar" label on each face (``fireside rehearse``).

Everything that does not move (the background, the titles, the labels, a
caption once drawn) is drawn once and pasted; a frame costs the faces and a
few array copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (18, 22, 30)
PANEL = (32, 38, 50)
HIGHLIGHT = (236, 178, 62)
TEXT = (240, 240, 240)
MUTED = (170, 178, 190)
LABEL = (200, 40, 60)
SECOND = (245, 213, 138)  # the translated line, as on the stage page
MARGIN = 32
# a font with Chinese characters (Debian's fonts-wqy-microhei): Pillow's own has none
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
CAPTION_BOTTOM = 48  # pixels between the captions and the frame's foot (the lower fifth is theirs)


@dataclass(frozen=True)
class Seat:
    """Where one panelist's face and lower-third go."""

    x: int
    y: int
    size: int


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's own font: no system fonts needed


@lru_cache(maxsize=4)
def _cjk_font(size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(CJK_FONT, size)
    except OSError:
        raise FileNotFoundError(f"{CJK_FONT}: no font for Chinese captions (apt install fonts-wqy-microhei)") from None


def tile_size(panelists: int, width: int, height: int) -> int:
    """The largest face (a multiple of 16 pixels) that fits ``panelists`` across."""
    across = (width - MARGIN * (panelists + 1)) // panelists
    return max(128, min(across, int(height * 0.55)) // 16 * 16)


class StageCompositor:
    def __init__(
        self,
        title: str,
        panelists: list[tuple[str, str]],
        width: int = 1280,
        height: int = 720,
        moderator: str | None = None,
    ):
        """``panelists``: (name, title) of each, left to right."""
        self.width, self.height = width, height
        self.tile = tile_size(len(panelists), width, height)
        gap = (width - self.tile * len(panelists)) // (len(panelists) + 1)
        top = 72
        self.seats = [Seat(gap + i * (self.tile + gap), top, self.tile) for i in range(len(panelists))]
        self.caption_top = top + self.tile + 64
        canvas = Image.new("RGB", (width, height), BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        draw.text((MARGIN, 22), title, font=_font(28), fill=TEXT)
        if moderator:
            note = f"Moderator: {moderator}"
            draw.text((width - MARGIN - _font(20).getlength(note), 28), note, font=_font(20), fill=MUTED)
        for seat in self.seats:
            draw.rectangle([seat.x - 6, seat.y - 6, seat.x + seat.size + 5, seat.y + seat.size + 5], fill=PANEL)
        self.background = np.asarray(canvas).copy()
        self.lower_thirds = [
            (self._lower_third(name, role, False), self._lower_third(name, role, True)) for name, role in panelists
        ]
        self.label = self._label("AI avatar")

    def compose(
        self, faces: list[np.ndarray], speaking: int | None, caption: tuple[str, str, str] | None
    ) -> np.ndarray:
        """One frame: ``faces`` in seat order, the seat ``speaking`` (or none)
        highlighted, and ``caption`` (speaker, words, their translation or "") under them."""
        frame = self.background.copy()
        for i, (seat, face) in enumerate(zip(self.seats, faces)):
            if i == speaking:
                frame[seat.y - 6 : seat.y + seat.size + 6, seat.x - 6 : seat.x + seat.size + 6] = HIGHLIGHT
            frame[seat.y : seat.y + seat.size, seat.x : seat.x + seat.size] = face
            _paste(frame, self.label, seat.x + 10, seat.y + 10)
            third = self.lower_thirds[i][i == speaking]
            _paste(frame, third, seat.x, seat.y + seat.size - third.shape[0])
        if caption is not None:  # subtitles' place: centred, low in the frame
            image = self._caption(*caption)
            top = max(self.caption_top, self.height - CAPTION_BOTTOM - image.shape[0])
            _paste(frame, image, (self.width - image.shape[1]) // 2, top)
        return frame

    def _lower_third(self, name: str, role: str, speaking: bool) -> np.ndarray:
        height = max(48, self.tile // 7)
        image = Image.new("RGB", (self.tile, height), HIGHLIGHT if speaking else (12, 14, 20))
        draw = ImageDraw.Draw(image)
        ink = BACKGROUND if speaking else TEXT
        draw.text((12, 4), name, font=_font(max(16, height * 2 // 5)), fill=ink)
        draw.text((12, 6 + height // 2), role, font=_font(max(12, height // 4)), fill=ink if speaking else MUTED)
        return np.asarray(image)

    @staticmethod
    def _label(text: str) -> np.ndarray:
        font = _font(18)
        width = int(font.getlength(text)) + 16
        image = Image.new("RGB", (width, 28), LABEL)
        ImageDraw.Draw(image).text((8, 4), text, font=font, fill=TEXT)
        return np.asarray(image)

    @lru_cache(maxsize=64)
    def _caption(self, speaker: str, text: str, second: str = "") -> np.ndarray:
        """A cue's lines (``\n`` between them, as stage/timeline/cues.py makes
        them: a turn's first names its speaker), and under them the second
        language's, each centred on a black box as wide as the longest; a line
        too wide for the frame is wrapped."""
        font, width = _font(34), self.width - 2 * MARGIN
        lines = [(line, font, TEXT) for line in _wrapped(text, font, width - 32)[-3:]]
        if second:
            cjk = _cjk_font(34)
            lines += [(line, cjk, SECOND) for line in _wrapped(second, cjk, width - 32)[-2:]]
        box = min(width, int(max(f.getlength(line) for line, f, _ in lines)) + 32)
        image = Image.new("RGB", (box, 16 + 44 * len(lines)), (0, 0, 0))
        draw = ImageDraw.Draw(image)
        for i, (line, f, ink) in enumerate(lines):
            draw.text(((box - f.getlength(line)) / 2, 6 + 44 * i), line, font=f, fill=ink)
        return np.asarray(image)


def _wrapped(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    return [part for line in text.split("\n") for part in _wrap(line, font, width)]


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + [line] if line else lines


def _paste(frame: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    h = min(image.shape[0], frame.shape[0] - y)
    w = min(image.shape[1], frame.shape[1] - x)
    if h > 0 and w > 0:
        frame[y : y + h, x : x + w] = image[:h, :w]
