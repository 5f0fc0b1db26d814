"""Per-photo quality scores on 0..1, measured on the analysis-size RGB array.

Formulas (the numbers in them are calibrated on ../shared/data/listings/houses at 512 px: every
published photo scores sharpness >= 0.9, a Gaussian blur of sigma 2.5 px scores about 0.2):

- sharpness = 1 - exp(-P99(|Laplacian(gray)|) / 100). The 99th percentile of the 3x3 Laplacian
  looks at the crispest edges only, so a sharp photo of a mostly blank wall still scores high.
- exposure_score = (1 - ((mean_luma - 0.5) / 0.5)^2) * (1 - clipped_share), where clipped_share
  is the share of pixels with luma <= 3 or >= 252 (crushed shadows, blown highlights).
- composition_score = 0.7 * level + 0.3 * framing. level = 1 / (1 + (tilt_deg / 3)^2), tilt_deg
  the length-weighted mean deviation of near-vertical lines from vertical (roll and converging
  verticals alike); with no vertical line, the roll of the longest near-horizontal line (the
  horizon); with no straight line at all, level is 1 (nothing to judge). framing = 1 - the distance
  of the gradient-energy centroid from the frame centre (0 centred, 1 on a corner).
- base_score = 0.45 * sharpness + 0.35 * exposure_score + 0.20 * composition_score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHARPNESS_SCALE = 100.0
CLIP_LOW, CLIP_HIGH = 3, 252
TILT_SCALE_DEG = 3.0
NEAR_AXIS_DEG = 20.0  # lines within this of vertical/horizontal count as verticals/horizon
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
    lap_p99 = float(np.percentile(np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)), 99))
    sharpness = 1.0 - math.exp(-lap_p99 / SHARPNESS_SCALE)

    mean_luma = float(gray.mean()) / 255.0
    clipped = float(np.count_nonzero((gray <= CLIP_LOW) | (gray >= CLIP_HIGH))) / gray.size
    exposure = max(0.0, 1.0 - ((mean_luma - 0.5) / 0.5) ** 2) * (1.0 - clipped)

    vertical_tilt, horizon_roll, n_lines = line_tilts(gray)
    tilt = vertical_tilt + horizon_roll  # at most one of them is non-zero
    level = 1.0 / (1.0 + (tilt / TILT_SCALE_DEG) ** 2)
    offset = centroid_offset(gray)
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
            "laplacian_p99": round(lap_p99, 3),
            "mean_luma": round(mean_luma, 4),
            "clipped_share": round(clipped, 4),
            "vertical_tilt_deg": round(vertical_tilt, 3),
            "horizon_roll_deg": round(horizon_roll, 3),
            "straight_lines": n_lines,
            "centroid_offset": round(offset, 4),
        },
    )


def line_tilts(gray: np.ndarray) -> tuple[float, float, int]:
    """(verticals tilt, horizon roll, number of lines used), in degrees, from Hough segments.

    Horizontal edges in a room converge with perspective, so they say nothing about roll; the
    horizon is read only where no vertical line exists (open views, pools, aerials), from the
    longest near-horizontal segment.
    """
    h, w = gray.shape
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 60, 160)
    segments = cv2.HoughLinesP(
        edges, 1, np.pi / 360, threshold=40, minLineLength=max(h, w) // 10, maxLineGap=3
    )
    if segments is None:
        return 0.0, 0.0, 0
    x1, y1, x2, y2 = segments.reshape(-1, 4).astype(np.float64).T
    dx, dy = np.abs(x2 - x1), np.abs(y2 - y1)
    slope_sign = np.sign((x2 - x1) * (y2 - y1))
    length = np.hypot(dx, dy)
    from_vertical = np.degrees(np.arctan2(dx, dy))  # 0..90, unsigned
    vertical = from_vertical <= NEAR_AXIS_DEG
    if vertical.any():
        tilt = float(np.average(from_vertical[vertical], weights=length[vertical]))
        return tilt, 0.0, int(vertical.sum())
    from_horizontal = np.degrees(np.arctan2(dy, dx)) * slope_sign
    horizontal = np.abs(from_horizontal) <= NEAR_AXIS_DEG
    if not horizontal.any():
        return 0.0, 0.0, 0
    longest = int(np.argmax(np.where(horizontal, length, -1.0)))
    return 0.0, abs(float(from_horizontal[longest])), 1


def centroid_offset(gray: np.ndarray) -> float:
    """Distance of the gradient-energy centroid from the centre: 0 centred, 1 on a corner."""
    g = gray.astype(np.float32)
    energy = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    total = float(energy.sum())
    if total <= 0:
        return 0.0
    h, w = gray.shape
    cx = float((energy.sum(axis=0) * np.arange(w)).sum()) / total
    cy = float((energy.sum(axis=1) * np.arange(h)).sum()) / total
    dx = (cx - (w - 1) / 2) / ((w - 1) / 2 or 1)
    dy = (cy - (h - 1) / 2) / ((h - 1) / 2 or 1)
    return min(1.0, math.hypot(dx, dy) / math.sqrt(2))


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x)))
