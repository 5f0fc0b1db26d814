"""Output formats: the one place that says what a listing video ships as.

Each format is a name ("16x9", "9x16", "1x1": also the artifact key's format part and the
`jobs.formats` value), its pixel size and frame rate, and its safe area for cards and captions.
Phase 1 plans a crop window per format (tasks.analyze.framing), Phase 2 renders each clip at
every planned format's size, Phase 3's templates name their format, Phase 4 delivers them and
draws inside `safe_box`. Changing a format's size or safe area is an edit here only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

FormatName = Literal["16x9", "9x16", "1x1"]  # a flow parameter of this type is a dropdown in the UI
PRIMARY: FormatName = "16x9"
"""Every job gets it: the walk-through every clip row is rendered at (`clips.width/height`)."""
ALL = "all"
"""What a job may ask for instead of listing formats: every one of them."""
PREVIEW_SUFFIX = "-preview"


@dataclass(frozen=True)
class Format:
    name: FormatName
    width: int
    height: int
    fps: int
    # Where cards and captions may go, as shares of the frame kept clear (left, top, right, bottom).
    safe_margins: tuple[float, float, float, float]

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def aspect(self) -> float:
        return self.width / self.height


# 16:9 and 1:1 keep the classic 5 % title-safe margin; 9:16 keeps clear of what the phone apps
# draw over a vertical video: the top bar (~14 %), the caption, music and account lines at the
# bottom (~22 %), and the like/comment/share column on the right (~14 %).
FORMATS: dict[FormatName, Format] = {
    f.name: f
    for f in (
        Format("16x9", 1920, 1080, 30, (0.05, 0.05, 0.05, 0.05)),
        Format("9x16", 1080, 1920, 30, (0.06, 0.14, 0.14, 0.22)),
        Format("1x1", 1080, 1080, 30, (0.05, 0.05, 0.05, 0.05)),
    )
}


@dataclass(frozen=True)
class OutputFormat:
    """One rendering of a format: full size, or a preview with its short side scaled down."""

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
        left, top, right, bottom = FORMATS[self.aspect].safe_margins  # type: ignore[index]
        w, h = self.width, self.height
        return round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)


def get_format(name: str) -> Format:
    try:
        return FORMATS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(f"unknown output format {name!r}; expected one of {', '.join(FORMATS)}") from None


def format_for_size(width: int, height: int) -> FormatName:
    """The format whose aspect is nearest to width:height (what the template asked for)."""
    aspect = width / height
    return min(FORMATS, key=lambda name: abs(FORMATS[name].aspect - aspect))


def expand(names: Iterable[str]) -> tuple[str, ...]:
    """`all` stands for every format; order kept, repeats dropped."""
    out: list[str] = []
    for name in names:
        for n in (FORMATS if name == ALL else (name,)):
            if n not in out:
                out.append(n)
    return tuple(out)


def planned_formats(job_formats: Sequence[str] | None, template_format: str) -> tuple[FormatName, ...]:
    """The formats Phase 1 frames and Phase 2 renders: 16:9 always, then those the job asks
    for (`jobs.formats`; none given: the template's)."""
    wanted = expand([PRIMARY, *(job_formats or [template_format])])
    return tuple(get_format(n).name for n in wanted)


def resolve_format(
    name: str | None, timeline_width: int, timeline_height: int, *, preview: bool, preview_short_side: int
) -> OutputFormat:
    """The format asked for by name, else the timeline's; preview scales its short side down."""
    fmt = get_format(name or format_for_size(timeline_width, timeline_height))
    if not preview:
        return OutputFormat(fmt.name, fmt.width, fmt.height)
    scale = preview_short_side / min(fmt.width, fmt.height)
    return OutputFormat(fmt.name + PREVIEW_SUFFIX, even(fmt.width * scale), even(fmt.height * scale), preview=True)


def even(value: float) -> int:
    """yuv420p needs even sizes."""
    return max(2, round(value / 2) * 2)


def source_pixels_per_output_pixel(src_width: int, src_height: int, out_width: int, out_height: int,
                                   fit: str = "cover") -> float:
    """Linear source pixels behind each output pixel when a src frame is scaled to the output
    (`cover`: fill and crop the overflow; `contain`: fit inside): below 1 it is upscaled."""
    ratios = (src_width / out_width, src_height / out_height)
    return min(ratios) if fit == "cover" else max(ratios)


Window = tuple[float, float, float, float]
"""A crop window: (x, y, w, h) as shares of the photo's width and height (Phase 1 plans them)."""


def window_box(window: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A share window on a width x height image: (left, top, right, bottom) in pixels."""
    x, y, w, h = window
    left, top = round(x * width), round(y * height)
    return left, top, min(width, left + max(1, round(w * width))), min(height, top + max(1, round(h * height)))


def clip_size(name: str, primary_width: int | None = None, primary_height: int | None = None) -> tuple[int, int]:
    """The size a clip of format `name` is rendered at: the format's own, or, where the 16:9
    render is set smaller (tests, dry runs), shrunk by the same factor."""
    fmt = get_format(name)
    primary = FORMATS[PRIMARY]
    if name == PRIMARY:
        return primary_width or primary.width, primary_height or primary.height
    scales = [v / full for v, full in ((primary_width, primary.width), (primary_height, primary.height)) if v]
    scale = min(scales, default=1.0)
    return (even(fmt.width * scale), even(fmt.height * scale)) if scale < 1 else fmt.size
