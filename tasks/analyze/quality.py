"""Per-photo quality scores on 0..1, measured on the analysis-size RGB array.

Formulas (the numbers in them are calibrated on ../shared/data/listings/houses at 512 px: every
published photo scores sharpness >= 0.9, a Gaussian blur of sigma 2.5 px scores about 0.2):

- sharpness = 1 - exp(-(r / 0.5)^2), r = P90(|Laplacian| / |gradient|) over edge pixels (gradient
  magnitude in the top 10 % and >= 40). The ratio is about 1 / edge width: it ignores contrast
  and how much of the frame is blank wall, and falls steadily with blur. A frame with no edge at
  all scores 0 (sharpness cannot be confirmed).
- exposure_score = (1 - ((mean_luma - 0.5) / 0.5)^2) * (1 - clipped_share), where clipped_share
  is the share of pixels with luma <= 3 or >= 252 (crushed shadows, blown highlights).
- composition_score = 0.7 * level + 0.3 * framing. level = 1 / (1 + (tilt_deg / 3)^2), tilt_deg
  the length-weighted median deviation from vertical of lines within 10 degrees of it (roll and
  converging verticals alike); with no such line, the roll of the longest near-horizontal line
  spanning >= 60 % of the width (the horizon); with neither, level is 1 (nothing to judge). framing = 1 - the distance
  of the gradient-energy centroid from the frame centre (0 centred, 1 on a corner).
- base_score = 0.45 * sharpness + 0.35 * exposure_score + 0.20 * composition_score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

EDGE_RATIO_SCALE = 0.5
MIN_EDGE_GRADIENT = 40.0  # Sobel magnitude, about 10 grey levels per pixel
CLIP_LOW, CLIP_HIGH = 3, 252
TILT_SCALE_DEG = 3.0
# Lines within this of vertical count as the building's verticals: a camera is rarely rolled or
# pitched further, while floorboards and paths running away from it often lean 10-20 degrees.
NEAR_VERTICAL_DEG = 10.0
NEAR_HORIZONTAL_DEG = 20.0
LINES_MAX_SIDE = 320
HORIZON_MIN_SPAN = 0.6  # a horizon crosses most of the frame; receding edges indoors rarely do
BASE_WEIGHTS = (0.45, 0.35, 0.20)  # sharpness, exposure, composition


@dataclass(frozen=True)
class QualityScores:
    sharpness: float
    exposure_score: float
    composition_score: float
    base_score: float
    metrics: dict[str, float]  # the raw measurements behind the scores, for debug_metrics


def score_quality(rgb: np.ndarray) -> QualityScores:
    """All quality scores of one photo (HxWx3 uint8 RGB)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    g = gray.astype(np.float32)
    gradient = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    edge_ratio, edge_share = edge_sharpness(g, gradient)
    sharpness = 1.0 - math.exp(-((edge_ratio / EDGE_RATIO_SCALE) ** 2))

    mean_luma = float(gray.mean()) / 255.0
    clipped = float(np.count_nonzero((gray <= CLIP_LOW) | (gray >= CLIP_HIGH))) / gray.size
    exposure = max(0.0, 1.0 - ((mean_luma - 0.5) / 0.5) ** 2) * (1.0 - clipped)

    vertical_tilt, horizon_roll, n_lines = line_tilts(gray)
    tilt = vertical_tilt + horizon_roll  # at most one of them is non-zero
    level = 1.0 / (1.0 + (tilt / TILT_SCALE_DEG) ** 2)
    offset = centroid_offset(gradient)
    framing = 1.0 - offset
    composition = 0.7 * level + 0.3 * framing

    w_s, w_e, w_c = BASE_WEIGHTS
    base = w_s * sharpness + w_e * exposure + w_c * composition
    return QualityScores(
        sharpness=_unit(sharpness),
        exposure_score=_unit(exposure),
        composition_score=_unit(composition),
        base_score=_unit(base),
        metrics={
            "edge_ratio_p90": round(edge_ratio, 4),
            "edge_share": round(edge_share, 4),
            "mean_luma": round(mean_luma, 4),
            "clipped_share": round(clipped, 4),
            "vertical_tilt_deg": round(vertical_tilt, 3),
            "horizon_roll_deg": round(horizon_roll, 3),
            "straight_lines": n_lines,
            "centroid_offset": round(offset, 4),
        },
    )


def edge_sharpness(g: np.ndarray, gradient: np.ndarray) -> tuple[float, float]:
    """(P90 of |Laplacian| / |gradient| on edge pixels, share of pixels that are edges)."""
    edges = gradient >= max(MIN_EDGE_GRADIENT, float(np.percentile(gradient, 90)))
    if not edges.any():
        return 0.0, 0.0
    laplacian = np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))
    ratio = laplacian[edges] / gradient[edges]
    return float(np.percentile(ratio, 90)), float(edges.mean())


def line_tilts(gray: np.ndarray) -> tuple[float, float, int]:
    """(verticals tilt, horizon roll, number of lines used), in degrees, from Hough segments.

    Horizontal edges in a room converge with perspective, so they say nothing about roll; the
    horizon is read only where no vertical line exists (open views, pools, aerials), from the
    longest near-horizontal segment that spans most of the frame.
    """
    while max(gray.shape) > LINES_MAX_SIDE:  # angles need no detail; Hough time grows with edges
        gray = cv2.pyrDown(gray)
    h, w = gray.shape
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 60, 160)
    segments = cv2.HoughLinesP(
        edges, 1, np.pi / 360, threshold=25, minLineLength=max(h, w) // 10, maxLineGap=8
    )
    if segments is None:
        return 0.0, 0.0, 0
    x1, y1, x2, y2 = segments.reshape(-1, 4).astype(np.float64).T
    dx, dy = np.abs(x2 - x1), np.abs(y2 - y1)
    slope_sign = np.sign((x2 - x1) * (y2 - y1))
    length = np.hypot(dx, dy)
    from_vertical = np.degrees(np.arctan2(dx, dy))  # 0..90, unsigned
    vertical = from_vertical <= NEAR_VERTICAL_DEG
    if vertical.any():
        return _weighted_median(from_vertical[vertical], length[vertical]), 0.0, int(vertical.sum())
    from_horizontal = np.degrees(np.arctan2(dy, dx)) * slope_sign
    horizontal = (np.abs(from_horizontal) <= NEAR_HORIZONTAL_DEG) & (dx >= HORIZON_MIN_SPAN * w)
    if not horizontal.any():
        return 0.0, 0.0, 0
    longest = int(np.argmax(np.where(horizontal, length, -1.0)))
    return 0.0, abs(float(from_horizontal[longest])), 1


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def centroid_offset(energy: np.ndarray) -> float:
    """Distance of the gradient-energy centroid from the centre: 0 centred, 1 on a corner."""
    total = float(energy.sum())
    if total <= 0:
        return 0.0
    h, w = energy.shape
    cx = float((energy.sum(axis=0) * np.arange(w)).sum()) / total
    cy = float((energy.sum(axis=1) * np.arange(h)).sum()) / total
    dx = (cx - (w - 1) / 2) / ((w - 1) / 2 or 1)
    dy = (cy - (h - 1) / 2) / ((h - 1) / 2 or 1)
    return min(1.0, math.hypot(dx, dy) / math.sqrt(2))


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x)))
