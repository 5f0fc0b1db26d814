"""Depth statistics motion planning and validation read: variance, layering, planarity."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.signal import find_peaks

from tasks.settings import Settings

_STATS_SIDE = 64  # statistics of a smooth map need no more pixels; keeps video frames cheap
_HIST_BINS = 32
_LAYER_PROMINENCE = 0.02  # a depth plane must hold a peak of >= 2 % of the pixels above its valleys


@dataclass(frozen=True)
class DepthStats:
    variance: float  # variance of unit depth: 0 flat, up to 0.25 (half nearest, half farthest)
    layering: float  # number of separable depth planes (peaks of the unit-depth histogram), >= 1
    planarity: float  # R^2 of one plane fitted to unit depth: 1 = a single plane explains it


@dataclass(frozen=True)
class FlatRule:
    """When a scene counts as flat: depth variance below `max_variance`, or one plane explaining
    at least `min_planarity` of it. Phase 1 tiers such a room low and the validator expects no
    parallax from it, so both read this one rule."""

    max_variance: float
    min_planarity: float

    @classmethod
    def from_settings(cls, settings: Settings) -> FlatRule:
        return cls(settings.tier_flat_max_variance, settings.tier_flat_min_planarity)

    def __call__(self, variance: float, planarity: float) -> bool:
        return variance < self.max_variance or planarity >= self.min_planarity


def _small(depth: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    scale = min(1.0, _STATS_SIDE / max(h, w))
    if scale == 1.0:
        return depth.astype(np.float32)
    return cv2.resize(depth.astype(np.float32), (max(2, round(w * scale)), max(2, round(h * scale))),
                      interpolation=cv2.INTER_AREA)


def depth_layers(depth: np.ndarray) -> int:
    """Peaks of the smoothed unit-depth histogram standing >= _LAYER_PROMINENCE above their
    surroundings: a wall is one, a sofa before a wall two; a floor running away is a flat
    histogram and adds none beyond the minimum of one."""
    hist = np.histogram(depth, bins=_HIST_BINS, range=(0.0, 1.0))[0].astype(np.float64)
    hist /= max(hist.sum(), 1.0)
    smooth = np.convolve(np.pad(hist, 2), [0.25, 0.5, 0.25], mode="same")
    peaks, _ = find_peaks(smooth, prominence=_LAYER_PROMINENCE)
    return max(1, len(peaks))


def plane_fit_r2(depth: np.ndarray) -> float:
    h, w = depth.shape
    y, x = np.mgrid[0:h, 0:w]
    design = np.c_[x.ravel() / w, y.ravel() / h, np.ones(h * w)]
    target = depth.ravel().astype(np.float64)
    total = float(((target - target.mean()) ** 2).sum())
    if total < 1e-12:
        return 1.0  # constant: a plane facing the camera
    residual = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
    return float(max(0.0, 1.0 - (residual**2).sum() / total))


def depth_stats(depth: np.ndarray) -> DepthStats:
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty HxW map, got shape {depth.shape}")
    small = _small(depth)
    return DepthStats(
        variance=float(small.var()),
        layering=float(depth_layers(small)),
        planarity=plane_fit_r2(small),
    )
