"""Overlap: the cluster rules on hand-made pair evidence, "not assessed" whenever COLMAP cannot
or may not run, and real pycolmap matching on views that overlap and photos that do not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.analyze.overlap import (
    SFM_INIT_MIN_INLIERS,
    SFM_REGISTER_MIN_INLIERS,
    PairOverlap,
    assess_overlap,
    cluster_overlap,
)
from tasks.settings import Settings

COLMAP_ON = Settings(enable_colmap=True)


def _pair(i: int, j: int, overlap: float, inliers: int = 0, geometry: str = "UNCALIBRATED") -> PairOverlap:
    return PairOverlap(i, j, matches=inliers, inliers=inliers, overlap=overlap, geometry=geometry)


def test_overlap_score_is_the_weakest_link_that_keeps_photos_connected() -> None:
    # 0-1 strong, 1-2 medium, 0-2 weak: the spanning tree uses 0.6 and 0.3, so 0.3.
    pairs = [_pair(0, 1, 0.6), _pair(1, 2, 0.3), _pair(0, 2, 0.1)]
    assert cluster_overlap(3, pairs)[0] == pytest.approx(0.3)
    # A photo that overlaps with nothing drags the room to 0.
    pairs = [_pair(0, 1, 0.6), _pair(0, 2, 0.0), _pair(1, 2, 0.0)]
    assert cluster_overlap(3, pairs)[0] == 0.0


def test_sfm_needs_an_initial_pair_and_every_photo_linked() -> None:
    init, link = SFM_INIT_MIN_INLIERS, SFM_REGISTER_MIN_INLIERS
    # One general-motion pair to start from, the third photo linked to it: eligible.
    assert cluster_overlap(3, [_pair(0, 1, 0.5, init), _pair(1, 2, 0.2, link), _pair(0, 2, 0.0)])[1]
    # The third photo has too few inliers to register.
    assert not cluster_overlap(3, [_pair(0, 1, 0.5, init), _pair(1, 2, 0.2, link - 1), _pair(0, 2, 0.0)])[1]
    # Plenty of inliers, but only a homography (pure rotation / one plane): nothing to triangulate.
    rotation_only = [_pair(0, 1, 0.8, 5 * init, "PLANAR_OR_PANORAMIC")]
    assert not cluster_overlap(2, rotation_only)[1]


@pytest.mark.parametrize(
    ("settings", "photos", "reason"),
    [
        (Settings(enable_colmap=False), 2, "COLMAP disabled"),
        (COLMAP_ON, 1, "single photo"),
    ],
)
def test_not_assessed_when_colmap_may_not_run(settings: Settings, photos: int, reason: str) -> None:
    result = assess_overlap([np.zeros((32, 32, 3), np.uint8)] * photos, settings)
    assert not result.assessed
    assert (result.overlap_score, result.sfm_eligible, result.backend) == (None, None, "not-assessed")
    assert reason in result.reason


def test_not_assessed_without_pycolmap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycolmap", None)  # what an environment without it looks like
    result = assess_overlap([np.zeros((32, 32, 3), np.uint8)] * 2, COLMAP_ON)
    assert not result.assessed and result.overlap_score is None
    assert "pycolmap is not installed" in result.reason


def _load(path: Path) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    image.thumbnail((512, 512))
    return np.asarray(image)


@pytest.mark.shared_data
def test_colmap_sees_overlapping_views_of_one_room(shared_data: Path) -> None:
    pytest.importorskip("pycolmap")
    views = [_load(shared_data / "depth" / f"color_{i:05d}.jpg") for i in (0, 2, 4)]
    result = assess_overlap(views, COLMAP_ON)
    assert result.assessed and result.sfm_eligible
    assert result.backend.startswith("pycolmap:")
    assert result.overlap_score > 0.3
    assert len(result.pairs) == 3 and all(p.inliers >= SFM_REGISTER_MIN_INLIERS for p in result.pairs)
    json.dumps(result.debug())  # storable as debug_metrics


@pytest.mark.shared_data
def test_colmap_finds_no_overlap_between_different_houses(shared_data: Path) -> None:
    pytest.importorskip("pycolmap")
    houses = shared_data / "listings" / "houses"
    result = assess_overlap([_load(houses / "1" / "kitchen.jpg"), _load(houses / "2" / "kitchen.jpg")], COLMAP_ON)
    assert result.assessed
    assert result.overlap_score < 0.02 and result.sfm_eligible is False
