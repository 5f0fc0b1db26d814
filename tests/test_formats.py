"""The one output-format definition: what each phase asks of it."""

from __future__ import annotations

import pytest

from tasks.domain.formats import (
    FORMATS,
    clip_size,
    expand,
    get_format,
    planned_formats,
    source_pixels_per_output_pixel,
)
from tasks.domain.templates import TEMPLATES


def test_templates_take_size_and_fps_from_their_format() -> None:
    for template in TEMPLATES.values():
        fmt = FORMATS[template.output]
        assert (template.width, template.height, template.fps) == (fmt.width, fmt.height, fmt.fps)


@pytest.mark.parametrize("job_formats, template_format, planned", [
    (None, "16x9", ("16x9",)),
    (None, "9x16", ("16x9", "9x16")),  # 16:9 always
    (["1x1"], "9x16", ("16x9", "1x1")),  # the job's list wins over the template's
    (["all"], "16x9", ("16x9", "9x16", "1x1")),
])
def test_planned_formats(job_formats, template_format, planned) -> None:
    assert planned_formats(job_formats, template_format) == planned


def test_unknown_formats_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown output format '4x3'; expected one of 16x9, 9x16, 1x1"):
        get_format("4x3")
    assert expand(["9x16", "all"]) == ("9x16", "16x9", "1x1")


def test_clip_sizes_shrink_every_format_alike() -> None:
    assert clip_size("9x16") == (1080, 1920) and clip_size("16x9") == (1920, 1080)
    assert clip_size("9x16", 480, 270) == (270, 480) and clip_size("1x1", 480, 270) == (270, 270)


def test_source_pixels_per_output_pixel() -> None:
    assert source_pixels_per_output_pixel(1080, 1920, 1080, 1920) == 1.0  # a portrait render: 1:1
    assert source_pixels_per_output_pixel(1920, 1080, 1080, 1920) == pytest.approx(9 / 16)  # cut from 16:9
    assert source_pixels_per_output_pixel(1920, 1080, 540, 960, "cover") == pytest.approx(1.125)  # the 540p preview
    assert source_pixels_per_output_pixel(1920, 1080, 1080, 1920, "contain") == pytest.approx(1920 / 1080)


def test_a_job_may_ask_for_every_format(db, tmp_path) -> None:
    from PIL import Image

    from tasks.intake import JobRequest, create_job

    (tmp_path / "photos").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "photos" / "a.jpg")
    assert create_job(JobRequest(tmp_path / "photos", formats=("all",))).formats == ["16x9", "9x16", "1x1"]
