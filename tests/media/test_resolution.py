"""Enough pixels for the output, per format."""

from __future__ import annotations

import pytest

from tasks.media.resolution import Fit, cover_upscale, is_panorama, judge
from tasks.settings import Settings


@pytest.mark.parametrize(
    "size,fmt,fit",
    [
        ((8, 8), "16x9", Fit.refused),
        ((4000, 3000), "16x9", Fit.full),
        ((900, 600), "16x9", Fit.full),  # a typical published listing photo: 2.1x
        ((640, 361), "16x9", Fit.static_safe),  # 3.0x
        ((338, 479), "16x9", Fit.refused),  # a narrow portrait: 5.7x to fill 16:9 ...
        ((1080, 1920), "9x16", Fit.full),  # ... but a portrait fits a portrait format
        ((900, 600), "9x16", Fit.static_safe),
        ((6000, 700), "16x9", Fit.full),  # a panorama: 1.5x, height-bound
    ],
)
def test_fit_per_format(size: tuple[int, int], fmt: str, fit: Fit) -> None:
    verdict = judge(*size, fmt, Settings())
    assert verdict.fit is fit
    if fit is Fit.refused:
        assert f"{size[0]}x{size[1]}" in verdict.reason and fmt in verdict.reason


def test_limits_come_from_settings() -> None:
    strict = Settings(upscale_soft_limit={"16x9": 1.0, "9x16": 1.0, "1x1": 1.0},
                      upscale_hard_limit={"16x9": 2.0, "9x16": 2.0, "1x1": 2.0})
    assert judge(900, 600, "16x9", strict).fit is Fit.refused
    assert judge(1600, 900, "16x9", strict).fit is Fit.static_safe
    assert cover_upscale(960, 540, 1920, 1080) == 2.0


def test_panorama_by_aspect() -> None:
    assert is_panorama(6000, 700, Settings()) and not is_panorama(4000, 3000, Settings())
