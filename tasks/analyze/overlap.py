"""Optional COLMAP check of how much a room's photos overlap, and whether SfM could use them.

Policy (design, COLMAP Policy): COLMAP only validates multi-view eligibility, estimates overlap
and sanity-checks camera geometry. Nothing here feeds depth planning; MiDaS stays the depth
signal. With `settings.enable_colmap` off or pycolmap missing, the answer is an explicit
"not assessed" (both numbers None) and planning must not rely on overlap.

Method (pycolmap): SIFT features per photo; for every pair, mutual nearest-neighbour matching
with the ratio test and COLMAP's two-view geometry estimation (RANSAC over E/F/H), which keeps
only matches consistent with one rigid camera motion (the inliers).

- pair overlap = inliers / min(features of the two photos), 0..1: the share of the sparser
  photo's features that the other photo sees in consistent geometry.
- cluster `overlap_score` = the largest s such that the photos stay connected using only pairs
  with overlap >= s (the weakest link of the maximum spanning tree). One photo that overlaps
  with nothing makes it 0, however well the others match.
- `sfm_eligible` = what incremental SfM needs: (1) one pair that can *initialise* a
  reconstruction, with >= SFM_INIT_MIN_INLIERS inliers (COLMAP's init_min_num_inliers) under a
  general two-view geometry (calibrated or uncalibrated; a homography-only pair, from a pure
  rotation or a single plane, gives no parallax to triangulate), and (2) every photo joined to
  the others by pairs with >= SFM_REGISTER_MIN_INLIERS inliers (COLMAP's
  abs_pose_min_num_inliers), so each can be registered against the triangulated points.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import cv2
import numpy as np
import structlog

from tasks.media.images import check_images
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

SFM_INIT_MIN_INLIERS = 100  # COLMAP mapper's init_min_num_inliers
SFM_REGISTER_MIN_INLIERS = 30  # COLMAP mapper's abs_pose_min_num_inliers
MAX_FEATURES = 2048  # per photo; analysis-size photos rarely have more worth matching
_SFM_CONFIGS = ("CALIBRATED", "UNCALIBRATED")  # general motion: epipolar geometry, not a homography
_FOCAL_PRIOR = 1.2  # COLMAP's default focal-length guess, times the longest side
NOT_ASSESSED = "not-assessed"


@dataclass(frozen=True)
class PairOverlap:
    i: int
    j: int
    matches: int
    inliers: int
    overlap: float
    geometry: str  # COLMAP TwoViewGeometry configuration name

    @property
    def can_initialise(self) -> bool:
        return self.inliers >= SFM_INIT_MIN_INLIERS and self.geometry in _SFM_CONFIGS

    @property
    def can_register(self) -> bool:
        return self.inliers >= SFM_REGISTER_MIN_INLIERS


@dataclass(frozen=True)
class OverlapResult:
    assessed: bool
    overlap_score: float | None
    sfm_eligible: bool | None
    reason: str
    backend: str = NOT_ASSESSED  # what assessed it, recorded with the job's analysis backends
    pairs: tuple[PairOverlap, ...] = field(default_factory=tuple)

    def debug(self) -> dict:
        """What debug_metrics should store: the verdict, why, and the per-pair evidence."""
        return {
            "assessed": self.assessed, "overlap_score": self.overlap_score,
            "sfm_eligible": self.sfm_eligible, "reason": self.reason, "backend": self.backend,
            "pairs": [vars(p) for p in self.pairs],
        }


def not_assessed(reason: str) -> OverlapResult:
    return OverlapResult(assessed=False, overlap_score=None, sfm_eligible=None, reason=reason)


def _components_joined(n: int, edges: Sequence[tuple[int, int]]) -> int:
    """How many edges of `edges`, taken in order, it takes to connect n nodes (0 if never)."""
    parent = list(range(n))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    groups = n
    for count, (a, b) in enumerate(edges, start=1):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
            groups -= 1
            if groups == 1:
                return count
    return 0


def cluster_overlap(n: int, pairs: Sequence[PairOverlap]) -> tuple[float, bool]:
    """(overlap_score, sfm_eligible) of n photos from their pairwise evidence (rules above)."""
    ranked = sorted(pairs, key=lambda p: p.overlap, reverse=True)
    needed = _components_joined(n, [(p.i, p.j) for p in ranked])
    score = ranked[needed - 1].overlap if needed else 0.0
    registered = _components_joined(n, [(p.i, p.j) for p in pairs if p.can_register])
    return float(score), bool(registered) and any(p.can_initialise for p in pairs)


def _colmap_threads() -> int:
    """Honour OMP_NUM_THREADS like the rest of Phase 1 (-1: COLMAP uses every core)."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else -1


def _pair_evidence(images: Sequence[np.ndarray]) -> list[PairOverlap]:
    import pycolmap

    pycolmap.logging.minloglevel = 1  # COLMAP logs every extractor at INFO; warnings still show
    threads = _colmap_threads()
    extract_options = pycolmap.FeatureExtractionOptions()
    extract_options.num_threads = threads
    extract_options.sift.max_num_features = MAX_FEATURES
    extractor = pycolmap.FeatureExtractor.create(extract_options, device=pycolmap.Device.cpu)
    match_options = pycolmap.FeatureMatchingOptions()
    match_options.num_threads = threads
    matcher = pycolmap.FeatureMatcher.create(match_options, device=pycolmap.Device.cpu)

    features, cameras, points = [], [], []
    for k, image in enumerate(images):
        grey = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        keypoints, descriptors = extractor.extract_from_uint8_array(grey)
        h, w = grey.shape
        features.append((keypoints, descriptors))
        points.append(np.array([[kp.x, kp.y] for kp in keypoints], np.float64).reshape(-1, 2))
        cameras.append(pycolmap.Camera.create_from_model_name(k + 1, "SIMPLE_RADIAL", _FOCAL_PRIOR * max(w, h), w, h))

    pairs = []
    for i, j in combinations(range(len(images)), 2):
        matches = matcher.match(*features[i], *features[j])
        inliers, geometry = 0, "UNDEFINED"
        if len(matches) >= 8:  # fewest correspondences any two-view model needs
            two_view = pycolmap.estimate_two_view_geometry(cameras[i], points[i], cameras[j], points[j], matches)
            geometry = pycolmap.TwoViewGeometryConfiguration(two_view.config).name
            if geometry not in ("UNDEFINED", "DEGENERATE", "WATERMARK"):
                inliers = len(two_view.inlier_matches)
        fewest = max(1, min(len(points[i]), len(points[j])))
        pairs.append(PairOverlap(i, j, len(matches), inliers, round(min(1.0, inliers / fewest), 4), geometry))
    return pairs


def assess_overlap(images: Sequence[np.ndarray], settings: Settings | None = None) -> OverlapResult:
    """Overlap and SfM eligibility of one room's photos, or why it was not assessed."""
    settings = settings or get_settings()
    check_images(images)
    if len(images) < 2:
        return not_assessed("a single photo has nothing to overlap with")
    if not settings.enable_colmap:
        return not_assessed("COLMAP disabled (PICAIVID_ENABLE_COLMAP is false)")
    try:
        import pycolmap
    except ImportError:
        return not_assessed("COLMAP enabled but pycolmap is not installed")
    pairs = _pair_evidence(images)
    score, eligible = cluster_overlap(len(images), pairs)
    initial = sum(p.can_initialise for p in pairs)
    linked = sum(p.can_register for p in pairs)
    reason = (
        f"pycolmap {pycolmap.__version__} SIFT + two-view geometry over {len(pairs)} pairs: "
        f"{initial} could initialise SfM (>= {SFM_INIT_MIN_INLIERS} inliers, general motion), "
        f"{linked} link photos (>= {SFM_REGISTER_MIN_INLIERS} inliers); "
        + ("SfM eligible" if eligible else "not SfM eligible")
    )
    log.info("overlap_assessed", photos=len(images), overlap_score=score, sfm_eligible=eligible)
    return OverlapResult(True, score, eligible, reason, f"pycolmap:{pycolmap.__version__}", tuple(pairs))
