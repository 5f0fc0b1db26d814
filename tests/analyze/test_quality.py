"""Quality scores: each formula responds to the defect it is meant to catch, and only to it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tasks.analyze.quality import BASE_WEIGHTS, score_quality
from tasks.media.images import decode_for_analysis


def room_like(w: int = 512, h: int = 384, seed: int = 0) -> np.ndarray:
    """Mid-grey textured walls with door frames (verticals) and a floor line: a level photo."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 120, np.uint8)
    img = np.clip(img + rng.normal(0, 12, (h, w, 1)), 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    for x in (90, 200, 330, 430):
        cv2.line(img, (x, 40), (x, h - 60), (230, 230, 230), 3)
        cv2.line(img, (x + 20, 40), (x + 20, h - 60), (30, 30, 30), 3)
    cv2.line(img, (0, h - 60), (w - 1, h - 60), (40, 40, 40), 3)
    return img


def rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.25)  # zoom hides the corners
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def test_scores_are_in_unit_range_and_base_is_the_documented_mix():
    q = score_quality(room_like())
    for value in (q.sharpness, q.exposure_score, q.composition_score, q.base_score):
        assert 0.0 <= value <= 1.0
    ws, we, wc = BASE_WEIGHTS
    assert q.base_score == pytest.approx(ws * q.sharpness + we * q.exposure_score + wc * q.composition_score)


def test_sharpness_falls_with_blur_and_nothing_else_does_much():
    img = room_like()
    scores = [score_quality(cv2.GaussianBlur(img, (0, 0), s) if s else img) for s in (0, 1.0, 2.5, 5.0)]
    sharpness = [q.sharpness for q in scores]
    assert sharpness == sorted(sharpness, reverse=True)
    assert sharpness[0] > 0.85 and sharpness[-1] < 0.2
    assert abs(scores[0].exposure_score - scores[-1].exposure_score) < 0.1


def test_a_sharp_photo_of_a_mostly_blank_wall_is_still_sharp():
    img = np.full((384, 512, 3), 200, np.uint8)
    cv2.rectangle(img, (200, 120), (320, 260), (40, 60, 90), -1)  # one crisp picture frame
    assert score_quality(img).sharpness > 0.8


@pytest.mark.parametrize(("level", "clipped_expected"), [(0, True), (255, True), (128, False)])
def test_exposure_punishes_black_white_and_clipping(level, clipped_expected):
    img = np.full((100, 100, 3), level, np.uint8)
    q = score_quality(img)
    assert (q.exposure_score < 0.05) == clipped_expected
    assert q.metrics["clipped_share"] == (1.0 if clipped_expected else 0.0)


def test_exposure_prefers_mid_tones():
    base = room_like()
    dark = (base * 0.25).astype(np.uint8)
    assert score_quality(dark).exposure_score < score_quality(base).exposure_score - 0.3


def test_blown_windows_cost_exposure_in_proportion():
    img = room_like()
    img[:, :128] = 255  # a quarter of the frame blown out
    q = score_quality(img)
    assert q.metrics["clipped_share"] == pytest.approx(0.25, abs=0.02)
    assert q.exposure_score < score_quality(room_like()).exposure_score * 0.8


def test_tilted_verticals_cost_composition():
    level = score_quality(room_like())
    tilted = score_quality(rotate(room_like(), 6))
    assert level.metrics["vertical_tilt_deg"] < 1.0
    assert tilted.metrics["vertical_tilt_deg"] == pytest.approx(6, abs=1.5)
    assert tilted.composition_score < level.composition_score - 0.3


def test_horizon_roll_is_read_when_there_are_no_verticals():
    h, w = 384, 512
    sky_sea = np.zeros((h, w, 3), np.uint8)
    sky_sea[: h // 2] = (170, 200, 235)
    sky_sea[h // 2 :] = (30, 70, 110)
    level = score_quality(sky_sea)
    rolled = score_quality(rotate(sky_sea, 5))
    assert level.metrics["horizon_roll_deg"] < 0.5
    assert rolled.metrics["horizon_roll_deg"] == pytest.approx(5, abs=1.0)
    assert rolled.composition_score < level.composition_score - 0.2


def test_off_centre_subject_costs_framing():
    centred = np.full((384, 512, 3), 128, np.uint8)
    cv2.circle(centred, (256, 192), 60, (20, 20, 20), -1)
    corner = np.full((384, 512, 3), 128, np.uint8)
    cv2.circle(corner, (60, 60), 60, (20, 20, 20), -1)
    a, b = score_quality(centred), score_quality(corner)
    assert a.metrics["centroid_offset"] < 0.05
    assert b.metrics["centroid_offset"] > 0.6
    assert b.composition_score < a.composition_score


def test_featureless_frame_has_no_lines_and_no_tilt_penalty():
    q = score_quality(np.full((64, 64, 3), 128, np.uint8))
    assert q.metrics["straight_lines"] == 0
    assert q.sharpness == 0.0


@pytest.mark.shared_data
def test_published_listing_photos_pass_and_their_blurred_copies_fall(shared_data, env):
    photos = sorted((shared_data / "listings" / "houses").glob("*/*.jpg"))[:12]
    assert photos
    for path in photos:
        rgb = decode_for_analysis(path.read_bytes()).pixels
        q = score_quality(rgb)
        assert q.sharpness > 0.85, path
        assert score_quality(cv2.GaussianBlur(rgb, (0, 0), 3.0)).sharpness < 0.3, path
