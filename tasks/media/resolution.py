"""Enough pixels for the output: how far a photo must be enlarged to fill a frame, and what follows.

A shot fills the frame with the photo's largest crop of the frame's aspect (cover), so the
enlargement a format needs is max(frame_w / w, frame_h / h). Past the format's soft limit the
blur starts to show: the photo is used only for short, static-safe shots (a plain 2D push in).
Past the hard limit it is refused for video, with a reason that names its size. A panorama
(width / height at least `panorama_min_aspect`) is shown by a pan across its width, which
needs exactly the cover enlargement, so the same limits apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tasks.domain.formats import get_format
from tasks.settings import Settings


class Fit(StrEnum):
    full = "full"  # any shot
    static_safe = "static_safe"  # between the soft and the hard limit: short plain 2D shots only
    refused = "refused"  # past the hard limit: not in the video


@dataclass(frozen=True)
class ResolutionVerdict:
    fit: Fit
    upscale: float
    reason: str | None  # why the photo is limited or refused; None when it fits


def cover_upscale(width: int, height: int, frame_w: int, frame_h: int) -> float:
    """Enlargement of the photo's frame-filling crop: above 1 means more output than photo pixels."""
    return max(frame_w / width, frame_h / height)


def judge(width: int, height: int, fmt: str, settings: Settings) -> ResolutionVerdict:
    """The photo's fit for the output format `fmt` ("16x9", "9x16", "1x1")."""
    frame_w, frame_h = get_format(fmt).size
    upscale = cover_upscale(width, height, frame_w, frame_h)
    soft, hard = settings.upscale_soft_limit[fmt], settings.upscale_hard_limit[fmt]
    size = f"{width}x{height}"
    if upscale > hard:
        return ResolutionVerdict(
            Fit.refused, upscale,
            f"too small for video: {size} must be enlarged {upscale:.1f}x to fill a {frame_w}x{frame_h} "
            f"({fmt}) frame, over the {hard:g}x limit",
        )
    if upscale > soft:
        return ResolutionVerdict(
            Fit.static_safe, upscale,
            f"low resolution: {size} is enlarged {upscale:.1f}x for {fmt} (soft limit {soft:g}x), "
            f"so only short static-safe shots",
        )
    return ResolutionVerdict(Fit.full, upscale, None)


def is_panorama(width: int, height: int, settings: Settings) -> bool:
    return width / height >= settings.panorama_min_aspect
