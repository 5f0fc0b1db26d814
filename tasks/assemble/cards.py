"""Drawing cards and captions: one overlay row, one cut, one format in; an RGBA image and where it goes out.

Text is set with Pillow in the bundled Source Sans Pro (SIL OFL, `fonts/LICENSE.txt`) and reaches
ffmpeg only as pixels (tasks.assemble.graph overlays the PNG), so no text from Rails is ever part
of a filter string. Sizes follow the frame's short side, so a card reads the same on a phone in
every format; a line too wide for the format's safe area is set smaller (down to MIN_SHRINK),
then wrapped. Every card sits on a panel whose opacity is the least that gives the text at least
MIN_CONTRAST (WCAG's ratio for body text) against the brightest and darkest pixels of the frames
it covers, so a white kitchen and a night exterior both stay legible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from db.enums import OverlayKind, OverlayPosition
from db.listing import Brand
from tasks.domain.formats import OutputFormat
from tasks.domain.overlays import Overlay

FONTS = Path(__file__).with_name("fonts")
REGULAR, SEMIBOLD, BOLD = "SourceSansPro-Regular.ttf", "SourceSansPro-Semibold.ttf", "SourceSansPro-Bold.ttf"
MIN_CONTRAST = 4.5
ALPHAS = (0.6, 0.7, 0.8, 0.88, 0.94, 1.0)
MIN_SHRINK = 0.7
MIN_TEXT_PX = 9  # below this nothing is legible, whatever the frame size
LIGHT, DARK = (250, 250, 248), (18, 20, 24)
# Text sizes are shares of the short side, times this: a 16:9 video fills only a phone held
# upright's width, so its text needs the most help; 9:16 and 1:1 fill the screen.
TEXT_SCALE = {"16x9": 1.2, "9x16": 1.1, "1x1": 1.1}
NEUTRAL_PANEL, NEUTRAL_ACCENT = (22, 25, 30), (236, 236, 232)

Rgb = tuple[int, int, int]


def hex_rgb(value: str) -> Rgb:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB colours (..., 3) in 0..255."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


@dataclass(frozen=True)
class Palette:
    panel: Rgb
    accent: Rgb

    @classmethod
    def for_cut(cls, brand: Brand | None, branded: bool) -> Palette:
        """The brand's colours in the branded cut; neutral ones in the unbranded cut, where a
        brokerage's colours would identify it."""
        if branded and brand is not None:
            return cls(hex_rgb(brand.primary) if brand.primary else NEUTRAL_PANEL,
                       hex_rgb(brand.accent) if brand.accent else NEUTRAL_ACCENT)
        return cls(NEUTRAL_PANEL, NEUTRAL_ACCENT)

    @property
    def text(self) -> Rgb:
        """Light or dark text, whichever stands out more from the panel."""
        return LIGHT if contrast(np.array(LIGHT), np.array(self.panel)) >= contrast(np.array(DARK), np.array(self.panel)) else DARK


@dataclass(frozen=True)
class Card:
    """An overlay as drawn: the image, its top-left corner on the frame, the contrast reached."""

    image: Image.Image
    x: int
    y: int
    contrast: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.image.width, self.y + self.image.height


@dataclass(frozen=True)
class Run:
    """One line of text as the card wants it: font file, size as a share of the short side, role."""

    text: str
    font: str
    size: float
    role: str = "text"  # "text", or "tag" (a label on the accent colour)


@cache
def font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), px)


def runs_of(overlay: Overlay) -> list[Run]:
    c = overlay.content
    if overlay.kind is OverlayKind.title:
        address = c.get("address", [])
        runs = [Run(c["status"].upper(), BOLD, 0.034, "tag")] if c.get("status") else []
        runs += [Run(line, BOLD if i == 0 else SEMIBOLD, 0.068 if i == 0 else 0.044) for i, line in enumerate(address)]
        runs += [Run(c["price"], SEMIBOLD, 0.058)] if c.get("price") else []
        runs += [Run(c["facts"], REGULAR, 0.040)] if c.get("facts") else []
        return runs
    if overlay.kind is OverlayKind.room_caption:
        return [Run(c["text"], SEMIBOLD, 0.050)]
    if overlay.kind is OverlayKind.agent_card:
        return [Run(text, name, size, role) for key, name, size, role in (
            ("name", BOLD, 0.060, "text"), ("brokerage", REGULAR, 0.040, "text"), ("phone", SEMIBOLD, 0.046, "text"),
            ("email", REGULAR, 0.036, "text")) if (text := c.get(key))]
    return [Run(c["text"], SEMIBOLD, 0.03)]


@dataclass(frozen=True)
class SetLine:
    text: str
    font: ImageFont.FreeTypeFont
    role: str

    @property
    def width(self) -> int:
        return max(1, round(self.font.getlength(self.text)))

    @property
    def height(self) -> int:
        return round(self.font.size * 1.22)


def set_lines(runs: Sequence[Run], short_side: int, width: int) -> list[SetLine]:
    """Each run at its size, or smaller until it fits `width`, or wrapped at the smallest size."""
    lines = []
    for run in runs:
        nominal = max(MIN_TEXT_PX, round(run.size * short_side))
        px = nominal
        while font(run.font, px).getlength(run.text) > width and px > max(MIN_TEXT_PX, nominal * MIN_SHRINK):
            px -= 1
        face = font(run.font, px)
        current = ""
        for word in run.text.split(" "):
            trial = f"{current} {word}".strip()
            if current and face.getlength(trial) > width:
                lines.append(SetLine(current, face, run.role))
                current = word
            else:
                current = trial
        lines.append(SetLine(current, face, run.role))
    return lines


def panel_alpha(palette: Palette, text: Rgb, background: np.ndarray | None) -> tuple[float, float]:
    """The least panel opacity whose blend with every covered pixel keeps MIN_CONTRAST to the
    text, and the contrast it gives (worst pixel). Without frames to check, the panel is opaque."""
    panel = np.array(palette.panel, dtype=np.float64)
    if background is None or background.size == 0:
        return 1.0, float(contrast(np.array(text), panel))
    pixels = background.reshape(-1, 3).astype(np.float64)
    lum = luminance(pixels)
    order = np.argsort(lum)
    extremes = pixels[order[[0, len(order) // 50, len(order) // 2, len(order) - 1 - len(order) // 50, -1]]]
    for alpha in ALPHAS:
        worst = float(contrast(np.array(text, dtype=np.float64), alpha * panel + (1 - alpha) * extremes).min())
        if worst >= MIN_CONTRAST:
            return alpha, worst
    return 1.0, float(contrast(np.array(text), panel))


def draw_card(
    overlay: Overlay, fmt: OutputFormat, palette: Palette, background: np.ndarray | None = None,
    images: Mapping[str, Image.Image] | None = None,
) -> Card:
    """The overlay as an RGBA image inside the format's safe area.

    `background` is the frames it will cover (H x W x 3, at the format's size; any number
    stacked), for the contrast check; `images` are the logo and headshot by URI.
    """
    images = images or {}
    left, top, right, bottom = fmt.safe_box
    short = round(min(fmt.width, fmt.height) * TEXT_SCALE[fmt.aspect])
    pad = max(3, round(0.024 * short))
    gap = max(2, round(0.008 * short))
    headshot = images.get(overlay.content.get("headshot_uri", "")) if overlay.kind is OverlayKind.agent_card else None
    logo = images.get(overlay.content.get("logo_uri", "")) if overlay.kind is OverlayKind.agent_card else None
    side = round(0.2 * short) if headshot is not None else 0
    text_width = right - left - 2 * pad - (side + pad if side else 0)
    lines = set_lines(runs_of(overlay), short, text_width)
    logo_img = None
    if logo is not None:
        scale = min(0.08 * short / logo.height, text_width / logo.width)  # its own aspect, never wider than the text
        logo_img = logo.convert("RGBA").resize((max(1, round(logo.width * scale)), max(1, round(logo.height * scale))))
    text_h = sum(line.height for line in lines) + (gap + logo_img.height if logo_img else 0)
    content_w = max([line.width for line in lines] + [logo_img.width if logo_img else 0])
    width = min(right - left, content_w + 2 * pad + (side + pad if side else 0))
    height = min(bottom - top, max(text_h, side) + 2 * pad)

    text_colour = palette.text
    x = left if overlay.kind in (OverlayKind.room_caption, OverlayKind.disclosure) else left + (right - left - width) // 2
    y = {OverlayPosition.top: top, OverlayPosition.middle: top + (bottom - top - height) // 2,
         OverlayPosition.bottom: bottom - height}[overlay.position]
    covered = background[:, y : y + height, x : x + width] if background is not None else None
    alpha, reached = panel_alpha(palette, text_colour, covered)

    card = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=max(2, round(0.014 * short)),
                           fill=(*palette.panel, round(alpha * 255)))
    if overlay.kind in (OverlayKind.room_caption, OverlayKind.agent_card):  # the accent rule down the left edge
        draw.rectangle((0, pad // 2, max(1, pad // 4), height - 1 - pad // 2), fill=(*palette.accent, 255))
    tx = pad + (side + pad if side else 0)
    if headshot is not None:
        face = headshot.convert("RGBA").resize((side, side))
        mask = Image.new("L", (side, side), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
        card.paste(face, (pad, (height - side) // 2), mask)
    ty = pad + max(0, (side - text_h) // 2)
    for line in lines:
        colour = text_colour
        if line.role == "tag":
            tag_colour = palette.accent
            draw.rounded_rectangle((tx - gap, ty, tx + line.width + gap, ty + line.height - gap // 2),
                                   radius=gap, fill=(*tag_colour, 255))
            colour = LIGHT if contrast(np.array(LIGHT), np.array(tag_colour)) >= contrast(np.array(DARK), np.array(tag_colour)) else DARK
        draw.text((tx, ty + line.height // 2), line.text, font=line.font, fill=(*colour, 255), anchor="lm")
        ty += line.height
    if logo_img is not None:
        card.alpha_composite(logo_img, (tx, ty + gap))
    return Card(card, x, y, round(reached, 2))
