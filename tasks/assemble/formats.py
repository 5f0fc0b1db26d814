"""Output formats: the three aspects a listing video ships in, and their preview sizes.

The template picks the aspect by the size it writes on the timeline row; a flag can ask for
another. The name is also the artifact key's format part (`keys.final`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FormatName = Literal["16x9", "9x16", "1x1"]  # a flow parameter of this type is a dropdown in the UI
FORMATS: dict[FormatName, tuple[int, int]] = {
    "16x9": (1920, 1080),
    "9x16": (1080, 1920),
    "1x1": (1080, 1080),
}
PREVIEW_SUFFIX = "-preview"

# Where cards and captions may go, as shares of the frame kept clear (left, top, right, bottom).
# 16:9 and 1:1 keep the classic 5 % title-safe margin; 9:16 keeps clear of what the phone apps
# draw over a vertical video: the top bar (~14 %), the caption, music and account lines at the
# bottom (~22 %), and the like/comment/share column on the right (~14 %).
SAFE_MARGINS: dict[str, tuple[float, float, float, float]] = {
    "16x9": (0.05, 0.05, 0.05, 0.05),
    "9x16": (0.06, 0.14, 0.14, 0.22),
    "1x1": (0.05, 0.05, 0.05, 0.05),
}


@dataclass(frozen=True)
class OutputFormat:
    name: str  # "16x9", or "16x9-preview" for a preview render
    width: int
    height: int
    preview: bool = False

    @property
    def aspect(self) -> str:
        """The format's name without the preview suffix: "16x9", "9x16" or "1x1"."""
        return self.name.removesuffix(PREVIEW_SUFFIX)

    @property
    def safe_box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels: the area overlays must stay inside."""
        left, top, right, bottom = SAFE_MARGINS[self.aspect]
        w, h = self.width, self.height
        return round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)


def format_for_size(width: int, height: int) -> str:
    """The format whose aspect is nearest to width:height (what the template asked for)."""
    aspect = width / height
    return min(FORMATS, key=lambda name: abs(FORMATS[name][0] / FORMATS[name][1] - aspect))


def resolve_format(
    name: str | None, timeline_width: int, timeline_height: int, *, preview: bool, preview_short_side: int
) -> OutputFormat:
    """The format asked for by name, else the timeline's; preview scales its short side down."""
    name = name or format_for_size(timeline_width, timeline_height)
    if name not in FORMATS:
        raise ValueError(f"unknown output format {name!r}; expected one of {', '.join(FORMATS)}")
    width, height = FORMATS[name]
    if not preview:
        return OutputFormat(name, width, height)
    scale = preview_short_side / min(width, height)
    return OutputFormat(
        name + PREVIEW_SUFFIX, even(width * scale), even(height * scale), preview=True
    )


def even(value: float) -> int:
    """yuv420p needs even sizes."""
    return max(2, round(value / 2) * 2)
