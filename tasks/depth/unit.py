"""Unit depth, the one form every depth estimator returns, and the estimator interface.

Every estimator returns *unit depth*: float32 HxW in [0, 1], 0 = nearest, 1 = farthest,

    unit = 1 - disparity / disparity_near        (disparity = 1 / z)

where `disparity_near` is the 99th percentile of the map's disparity. That is the parallax a
point loses relative to the nearest surface when the camera moves sideways, so it is the quantity
motion planning cares about: a flat wall is all ~0 (no depth to show), a room with a near sofa
and a far window spreads across [0, 1], and the sky (disparity 0) is 1. MiDaS/DPT predict
*relative inverse depth* (affine-invariant disparity: large = near), which this conversion reads
as disparity with its shift taken as zero; MiDaS is trained to put the sky and the far distance
at zero disparity, so the shift is small, but unit depth from MiDaS is relative, not metric.

Because unit depth is affine in disparity, and a 3D plane's disparity is affine in image
coordinates, `depth_stats.planarity` (the R^2 of an affine fit) measures exactly how well one 3D
plane explains the scene.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

NEAR_PERCENTILE = 99.0  # robust "nearest": ignores a few specks of over-confident disparity


class DepthEstimator(Protocol):
    backend: str

    def estimate(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Unit depth (float32 HxW in [0, 1], 0 = nearest) for each HxWx3 uint8 RGB image."""
        ...


def unit_depth_from_disparity(disparity: np.ndarray) -> np.ndarray:
    """The one conversion to unit depth (see module docstring); negative disparity counts as 0."""
    disp = np.maximum(np.asarray(disparity, dtype=np.float32), 0.0)
    near = float(np.percentile(disp, NEAR_PERCENTILE)) if disp.size else 0.0
    if near <= 0.0:
        return np.ones_like(disp)  # nothing has any disparity: all at infinity
    return np.clip(1.0 - disp / near, 0.0, 1.0).astype(np.float32)


def unit_depth_from_metric(z: np.ndarray) -> np.ndarray:
    """Unit depth of a metric depth map (ground truth, rendered truth); z <= 0 means unknown -> far."""
    z = np.asarray(z, dtype=np.float32)
    disparity = np.where(z > 0, 1.0 / np.maximum(z, 1e-6), 0.0)
    return unit_depth_from_disparity(disparity)
