"""The keepsake's still card: the attendee's face, their line, the event's
title and date, and the label that says the keepsake was made by AI (as the
stage discloses its avatars), in the organiser's colours and logo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from stage.core.config import BoothSettings
from stage.core.errors import FiresideError

WIDTH, HEIGHT = 1080, 1350  # a phone's portrait post (4:5)
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Latin and Chinese names alike
LABEL = "AI-generated: this face's words and voice were made by AI from a photo"
MARGIN = 64


class CardError(FiresideError, OSError):
    pass


def _font(size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(str(FONT), size)
    except OSError:
        raise CardError(f"{FONT}: no font for the card (apt install fonts-wqy-microhei)") from None


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def draw_card(face: np.ndarray, line: str, name: str, date: str, settings: BoothSettings) -> Image.Image:
    """The card, from ``face`` (the portrait as the video shows it, RGB)."""
    ground, accent = _hex(settings.colour), _hex(settings.accent)
    ink = (255, 255, 255) if sum(ground) < 384 else (20, 20, 20)
    card = Image.new("RGB", (WIDTH, HEIGHT), ground)
    draw = ImageDraw.Draw(card)
    title = _font(58)
    y = MARGIN
    for text in _wrap(draw, settings.title, title, WIDTH - 2 * MARGIN - 160)[:2]:
        draw.text((MARGIN, y), text, font=title, fill=accent)
        y += 70
    if settings.logo:
        logo = ImageOps.contain(Image.open(settings.logo).convert("RGBA"), (140, 140))
        card.paste(logo, (WIDTH - MARGIN - logo.width, MARGIN), logo)
    y = max(y, MARGIN + 150) + 10
    side = 720
    photo = Image.fromarray(face).resize((side, side), Image.LANCZOS)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, side, side), radius=36, fill=255)
    card.paste(photo, ((WIDTH - side) // 2, y), mask)
    y += side + 36
    quote = _font(40)
    for text in _wrap(draw, f"“{line}”", quote, WIDTH - 2 * MARGIN)[:4]:
        draw.text((WIDTH / 2, y), text, font=quote, fill=ink, anchor="ma")
        y += 52
    if name:
        draw.text((WIDTH / 2, y + 8), f"— {name}", font=_font(36), fill=accent, anchor="ma")
    # the foot: a rule, the date, and the label, which nothing covers
    draw.line((MARGIN, HEIGHT - 130, WIDTH - MARGIN, HEIGHT - 130), fill=accent, width=3)
    draw.text((MARGIN, HEIGHT - 112), date, font=_font(32), fill=ink)
    draw.text((MARGIN, HEIGHT - 64), LABEL, font=_font(24), fill=ink)
    return card
