"""Phase 1's crop windows: each format's window keeps the photo's subject, at the format's aspect."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tasks.analyze.framing import crop_window, plan_framing, saliency_map
from tasks.domain.formats import FORMATS, window_box

FORMAT_NAMES = list(FORMATS)


def room_with_subject(centre_x: float, width: int = 1200, height: int = 800) -> np.ndarray:
    """A plain wall and floor with one detailed object (a bookcase) centred at `centre_x`."""
    rng = np.random.default_rng(3)
    image = np.full((height, width, 3), 200, np.uint8)
    image[int(height * 0.7):] = 150  # floor line: one long edge across the frame
    x0, x1 = int((centre_x - 0.08) * width), int((centre_x + 0.08) * width)
    image[int(height * 0.25):int(height * 0.75), x0:x1] = rng.integers(0, 255, (int(height * 0.75) - int(height * 0.25),
                                                                               x1 - x0, 3), dtype=np.uint8)
    return image


def inside(point: tuple[float, float], window: list[float]) -> bool:
    x, y, w, h = window
    return x <= point[0] <= x + w and y <= point[1] <= y + h


@pytest.mark.parametrize("centre_x", [0.15, 0.5, 0.82])
def test_portrait_and_square_windows_keep_an_off_centre_subject(centre_x: float) -> None:
    image = room_with_subject(centre_x)
    framing = plan_framing(image, None, 1200, 800, FORMAT_NAMES)
    for name in ("9x16", "1x1"):
        x, y, w, h = framing["windows"][name]
        assert inside(framing["subject"], framing["windows"][name])
        assert (y, h) == (0.0, 1.0)  # a landscape photo: the full height, a slice of the width
        assert w * 1200 / (h * 800) == pytest.approx(FORMATS[name].aspect, rel=0.01)
        assert x <= centre_x - 0.08 + 1e-3 and centre_x + 0.08 <= x + w + 1e-3, (name, framing["windows"][name])


def test_16x9_keeps_the_centred_cover_crop() -> None:
    framing = plan_framing(room_with_subject(0.15), None, 1200, 800, ["16x9"])
    assert framing["windows"]["16x9"] == pytest.approx([0.0, (1 - 0.84375) / 2, 1.0, 0.84375], abs=1e-3)  # 675 of 800 rows, centred


def test_a_portrait_photo_slides_vertically_and_depth_favours_the_near_subject() -> None:
    image = np.full((900, 600, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    image[50:250, 100:500] = rng.integers(0, 255, (200, 400, 3), dtype=np.uint8)  # far: a textured back wall
    image[650:850, 100:500] = rng.integers(0, 255, (200, 400, 3), dtype=np.uint8)  # near: the sofa
    depth = np.ones((900, 600), np.float32)
    depth[500:] = 0.1
    x, y, w, h = plan_framing(image, depth, 600, 900, ["1x1"])["windows"]["1x1"]
    assert (x, w) == (0.0, 1.0) and y * 900 >= 250 - 10 and (y + h) * 900 >= 850  # the sofa, not the wall
    _, y_flat, _, _ = plan_framing(image, None, 600, 900, ["1x1"])["windows"]["1x1"]
    assert y_flat < y - 0.05  # without depth the two are alike and the window stays nearer the centre


def test_window_box_is_the_window_in_pixels() -> None:
    assert window_box([0.25, 0.0, 0.5, 1.0], 1200, 800) == (300, 0, 900, 800)


def test_published_photos_keep_their_subject_in_every_window(shared_data) -> None:
    """On real listing photos every window holds the subject point and at least the saliency a
    centred window of the same size holds, less the small pull to the centre."""
    photos = sorted((shared_data / "listings" / "houses").glob("*/*.jpg"))[:16]
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        h, w = rgb.shape[:2]
        saliency = saliency_map(rgb, None)
        framing = plan_framing(rgb, None, w, h, FORMAT_NAMES)
        for name in ("9x16", "1x1"):
            window = framing["windows"][name]
            centred = crop_window(saliency, w, h, FORMATS[name].aspect, centred=True)
            assert held(saliency, window) >= held(saliency, centred) - 0.15 * 0.5, (path, name)
            if held(saliency, window) > 0.6:  # a subject that fits in the slice is in it
                assert inside(framing["subject"], window) or held(saliency, window) >= held(saliency, centred), (path, name)


def held(saliency: np.ndarray, window) -> float:
    left, top, right, bottom = window_box(window, saliency.shape[1], saliency.shape[0])
    return float(saliency[top:bottom, left:right].sum())


@pytest.mark.slow
def test_phase1_frames_every_usable_photo_for_the_jobs_formats(db) -> None:
    """The social template (9:16) plans 16:9 and 9:16 windows; photos not used get none."""
    from sqlmodel import select

    from db.models import Photo
    from db.session import session_scope
    from tasks.analyze.phase import run_analyze
    from tests.analyze.phase_jobs import (
        JobPhoto,
        create_job,
        listing_photos,
        sample_listing,
    )

    photos = listing_photos(sample_listing(), only=["living_a", "kitchen_a", "bedroom_a"])
    job_id = create_job([*photos, JobPhoto("notes.jpg", b"not an image")], template="social")
    run_analyze(job_id)
    with session_scope() as s:
        rows = {p.original_filename: p for p in s.exec(select(Photo).where(Photo.job_id == job_id))}
    assert rows["notes.jpg"].framing is None
    for name in ("living_a.jpg", "kitchen_a.jpg", "bedroom_a.jpg"):
        framing = rows[name].framing
        assert set(framing["windows"]) == {"16x9", "9x16"}, name
        _, _, w, h = framing["windows"]["9x16"]
        assert w * rows[name].width / (h * rows[name].height) == pytest.approx(9 / 16, rel=0.01)
        assert inside(framing["subject"], framing["windows"]["9x16"]), name
