"""The validator catches each kind of bad clip and passes good ones, on real encoded clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from db.enums import MotionType as M
from tasks.depth.estimator import load_depth_estimator
from tasks.media.video import encode_frames
from tasks.render.parallax import parallax_frames
from tasks.render.validate import (
    DEFAULT_THRESHOLDS,
    depth_checks,
    line_bend,
    sub_score,
    validate_clip,
)
from tests.render import clip_makers as make

W, H, N = 854, 480, 45
SINGLE = {M.micro_push_in, M.micro_push_out, M.subtle_pan}


@pytest.fixture(scope="module")
def estimator():
    """Phase 1's depth model as configured here: no weights, so its layout-prior fallback."""
    return load_depth_estimator()


@pytest.fixture(scope="module")
def views(listing_root: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return [make.sample_photo(listing_root, stem) for stem in ("living_a", "living_b", "living_c")]


def good(views, motion: M) -> list[np.ndarray]:
    return list(parallax_frames([v[0] for v in views], [v[1] for v in views], motion, W, H, N))


def check(frames: list[np.ndarray], tmp_path: Path, estimator, motion: M):
    path = tmp_path / "clip.mp4"
    encode_frames(frames, path, W, H, 30)
    return validate_clip(path, single_view=motion in SINGLE, expect_parallax=motion in SINGLE, estimator=estimator)


@pytest.mark.parametrize("motion", list(M))
def test_good_parallax_clips_pass(motion: M, views, estimator, tmp_path: Path) -> None:
    report = check(good(views, motion), tmp_path, estimator, motion)
    assert report.passed, (report.failures, report.metrics["sub_scores"])
    assert 0.5 <= report.score <= 1.0
    assert report.metrics["depth_backend"] == "layout-prior"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("wobbled", "warped"),
        ("card_move", "no_parallax"),
        ("faded_flat", "scene_lost"),
        ("frozen", "frozen"),
        ("flickering", "flicker"),
    ],
)
def test_each_bad_clip_is_caught(kind: str, expected: str, views, estimator, tmp_path: Path) -> None:
    motion = M.micro_push_in
    frames = good(views, motion)
    if kind == "card_move":
        bad = make.card_move(views[0][0], motion, N, W, H)
    else:
        bad = getattr(make, kind)(frames)
    report = check(bad, tmp_path, estimator, motion)
    assert not report.passed and report.score < 0.5
    assert expected in report.failures, (report.failures, report.metrics["sub_scores"])


def test_a_planar_card_move_is_fine_where_the_scene_is_flat(views, estimator, tmp_path: Path) -> None:
    """No parallax is expected of a flat scene (Phase 1's flat rule), so a card move passes."""
    motion = M.subtle_pan
    path = tmp_path / "clip.mp4"
    encode_frames(make.card_move(views[0][0], motion, N, W, H), path, W, H, 30)
    report = validate_clip(path, single_view=True, expect_parallax=False, estimator=estimator)
    assert report.passed and report.metrics["parallax"] < DEFAULT_THRESHOLDS.min_parallax


def test_depth_checks_see_collapse_and_inconsistency(views) -> None:
    """The depth checks on true depth: a scene flattening away, and depth that jumps about."""
    depth = views[0][1]
    still = [np.zeros((H // 2, W // 2, 2), np.float32)] * 4
    steady = depth_checks([depth] * 5, still)
    assert steady["depth_consistency"] > 0.99 and steady["depth_variance_ratio"] == pytest.approx(1.0)
    flattening = [depth * (1 - t) + depth.mean() * t for t in np.linspace(0, 0.9, 5)]
    collapsed = depth_checks(flattening, still)
    assert collapsed["depth_variance_ratio"] < DEFAULT_THRESHOLDS.min_depth_variance_ratio
    rng = np.random.default_rng(0)
    jumping = [depth, views[1][1], np.rot90(depth, 2).copy(), rng.random(depth.shape).astype(np.float32), depth]
    assert depth_checks(jumping, still)["depth_consistency"] < DEFAULT_THRESHOLDS.min_depth_consistency


def test_line_bend_measures_how_far_carried_edges_leave_a_straight_line() -> None:
    image = np.full((200, 320), 40, np.uint8)
    for x in (60, 150, 240):
        image[20:180, x:x + 3] = 220  # three long vertical bars
    y, x = np.mgrid[0:200, 0:320].astype(np.float32)
    rigid = np.stack([np.full_like(x, 3.0), 0.02 * (y - 100)], axis=-1)  # shift + slight zoom: lines stay lines
    wobble = np.stack([2.0 * np.sin(y / 12.0), np.zeros_like(y)], axis=-1)
    assert line_bend(image, rigid) < 0.05
    assert line_bend(image, wobble) > 1.0
    assert line_bend(np.full((200, 320), 90, np.uint8), rigid) is None


def test_sub_scores_are_half_at_the_threshold_and_one_at_the_ideal() -> None:
    assert sub_score(0.6, 0.6, 0.95) == 0.5
    assert sub_score(0.95, 0.6, 0.95) == 1.0
    assert sub_score(0.0, 0.6, 0.95) == 0.0
    assert sub_score(-0.0001, -0.0005, -0.0001) == 1.0  # "lower is better" metrics are negated


def test_clips_validated_in_parallel_threads_score_as_they_do_alone(views, estimator, tmp_path: Path) -> None:
    """Inline rendering validates one clip per core in threads: nothing may be shared between them."""
    from concurrent.futures import ThreadPoolExecutor

    paths = []
    for motion in (M.micro_push_in, M.subtle_pan):
        paths.append(tmp_path / f"{motion.value}.mp4")
        encode_frames(good(views, motion), paths[-1], W, H, 30)

    def run(path: Path):
        return validate_clip(path, single_view=True, expect_parallax=True, estimator=estimator).metrics

    alone = [run(p) for p in paths]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(run, paths * 2))
    assert together == alone * 2
