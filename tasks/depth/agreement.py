"""How well a depth map agrees with a reference (metric truth or another estimator): the
benchmarks' and tests' measures."""

from __future__ import annotations

import numpy as np


def rank_agreement(depth: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Spearman correlation of two depth maps: blind to scale, shift and any monotone warp, so
    unit depth compares directly with metric truth (or another estimator). 0 for a flat map."""
    from scipy.stats import spearmanr

    mask = np.ones(depth.shape, bool) if valid is None else valid
    a, b = depth[mask].ravel(), reference[mask].ravel()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def abs_rel_error(depth: np.ndarray, z: np.ndarray, valid: np.ndarray) -> float:
    """Mean |z_pred - z| / z over `valid`, with unit depth turned into relative metric depth
    (z / z_near = 1 / (1 - unit)), scaled by the ratio of medians and clipped to the truth's
    range, as monocular depth is evaluated (a flat prediction scores the spread of the truth)."""
    truth = z[valid].astype(np.float64)
    relative = 1.0 / np.maximum(1.0 - depth[valid].astype(np.float64), 1e-3)
    scaled = np.clip(relative * np.median(truth) / np.median(relative), truth.min(), truth.max())
    return float(np.mean(np.abs(scaled - truth) / truth))
