"""The validator: re-analyse a rendered clip and decide whether its motion is believable.

Design, Depth Validation Policy: generated clips are re-analysed with the same depth model
as Phase 1 (`tasks.depth`), and a clip whose depth collapses, warps or goes planar
is downgraded and re-rendered. The checks, each on numbers a person can read back from
`clips.validation_metrics`:

- **depth_inconsistent**: depth of sampled frames, each compared with the next one after
  following the optical flow between them. A camera move keeps the scene's depth, so the
  flow-aligned maps correlate; a generator that re-imagines the room between frames does not.
- **planar_collapse**: the depth variance (Phase 1's `depth_stats`) of every sampled frame
  relative to the first. Variance falling away means the scene is flattening into a card.
- **scene_lost** (single-photo clips): the share of the first frame's textured pixels that
  are still found, flow-consistently, in the last frame. A micro move keeps nearly all of
  its scene in view; a clip that melts, fades or morphs into something else loses it.
- **no_parallax** (single-photo clips of scenes with depth): the first→last flow on those
  pixels is fitted with one homography (RANSAC); the share more than 1 px (at 480 px wide)
  off it is the parallax. A flat card sliding or zooming (the "planar" artifact: a 2D move
  passed off as 3D) fits one homography exactly. Flat scenes (Phase 1's flat rule) expect none.
- **warped**: straight edges must stay straight. A rigid camera move, parallax or not, maps
  a straight 3D edge to a straight image edge, so points along each long straight segment
  are carried by the flow to the next sample and their bend (RMS distance from their best
  line) is measured; the worst interval counts (the typical one for multi-view clips,
  whose handovers legitimately replace one view's edges by another's).
- **frozen**: the mean optical-flow path length over the clip; too little is a still.
- **flicker** / **block_flicker**: the second temporal difference of brightness, globally
  and on an 8×8 grid of blocks. Camera motion changes brightness smoothly; flicker and
  jitter do not.

A plain 2D clip (the downgrade floor, a panorama's pan) is a rigid zoom or slide of the photo:
it has no depth to lose, no parallax to show and, in a pan across a panorama, no scene that stays
in view, so only `frozen` and `flicker` judge it (the rest is measured and recorded). That is
what lets the ladder end in a motion that cannot fail on depth grounds.

Every check maps its metric to a sub-score in [0, 1] that is exactly 0.5 at its threshold
and 1 at its ideal; `validation_score` is the smallest sub-score, so a clip passes when its
score is at least 0.5, and `failures` names the checks below it. All thresholds live in
`ValidationThresholds`, the one place to tune them.

With Phase 1's non-learned layout-prior fallback the two depth checks see the room's
layout more than its contents, so on such machines collapse is caught by `scene_lost` and
`no_parallax`; with MiDaS weights configured all checks apply in full.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import structlog

from tasks.media.video import probe, read_luma_and_samples

if TYPE_CHECKING:
    from tasks.depth.unit import DepthEstimator

log = structlog.get_logger(__name__)

ANALYSIS_MAX_SIDE = 480  # frames are decoded straight to this size; every pixel metric is at it
DEPTH_SAMPLES = 5  # frames whose depth is estimated (first, last and evenly between)
MOTION_SAMPLES = 9  # frames between which flow, motion and line bending are measured (~0.5 s apart)
PASS_SCORE = 0.5
PLAIN_2D_CHECKS = ("frozen", "flicker")  # what a rigid move of the photo can get wrong


@dataclass(frozen=True)
class ValidationThresholds:
    """Where each check fails. Lengths are fractions of the frame width (size-independent)."""

    min_depth_consistency: float = 0.6  # flow-aligned correlation of consecutive depth samples
    ideal_depth_consistency: float = 0.95
    min_depth_variance_ratio: float = 0.5  # smallest sampled depth variance / the first frame's
    ideal_depth_variance_ratio: float = 0.9
    min_scene_kept: float = 0.5  # share of textured pixels still found in the last frame
    ideal_scene_kept: float = 0.8
    min_parallax: float = 0.03  # share of those pixels off the best single homography
    ideal_parallax: float = 0.1
    max_line_bend: float = 0.0005  # RMS bend of carried straight edges (≈ 1 px at 1920 wide)
    ideal_line_bend: float = 0.0001
    min_motion: float = 0.004  # mean flow path length over the clip (≈ 8 px at 1920 wide)
    ideal_motion: float = 0.012
    max_flicker: float = 1.5  # RMS second difference of mean brightness, 8-bit levels
    ideal_flicker: float = 0.2
    max_block_flicker: float = 3.0  # the same per block of an 8×8 grid (median block)
    ideal_block_flicker: float = 0.5


DEFAULT_THRESHOLDS = ValidationThresholds()


@dataclass(frozen=True)
class ValidationReport:
    score: float
    passed: bool
    failures: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)


def sub_score(value: float, threshold: float, ideal: float) -> float:
    """0.5 at the threshold, 1 at the ideal, linear between and clamped to [0, 1]."""
    return float(np.clip(0.5 + 0.5 * (value - threshold) / (ideal - threshold), 0.0, 1.0))


_loading = threading.Lock()  # clips validate in parallel threads; the model loads once


@lru_cache(maxsize=1)
def _load_phase1_depth_estimator() -> DepthEstimator:
    from tasks.depth.estimator import load_depth_estimator

    return load_depth_estimator()


def phase1_depth_estimator() -> DepthEstimator:
    """Phase 1's depth model (MiDaS/DPT or its named fallback), loaded once per process."""
    with _loading:
        return _load_phase1_depth_estimator()


# --------------------------------------------------------------------------- optical flow


_per_thread = threading.local()


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense flow from gray frame a to gray frame b, (H, W, 2) pixels.

    A DIS engine keeps its working buffers between calls, so each thread has its own.
    """
    engine = getattr(_per_thread, "flow", None)
    if engine is None:
        engine = _per_thread.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return engine.calc(a, b, None)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp_by_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` (the flow's target frame) pulled back onto the flow's origin; NaN off-frame."""
    gx, gy = _grid(*flow.shape[:2])
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)


def consecutive_flows(grays: np.ndarray, picks: list[int]) -> list[np.ndarray]:
    return [optical_flow(grays[a], grays[b]) for a, b in pairwise(picks)]


def sample_indices(frame_count: int, samples: int) -> list[int]:
    return sorted({round(i * (frame_count - 1) / (samples - 1)) for i in range(samples)})


# --------------------------------------------------------------------------- the checks


def depth_checks(depths: list[np.ndarray], flows: list[np.ndarray]) -> dict[str, Any]:
    """Flow-aligned depth correlation between consecutive samples, and variance retention."""
    from tasks.depth.stats import depth_stats

    size = flows[0].shape[1], flows[0].shape[0]
    maps = [cv2.resize(d.astype(np.float32), size, interpolation=cv2.INTER_AREA) for d in depths]
    correlations = []
    for k, flow in enumerate(flows):
        later = warp_by_flow(maps[k + 1], flow)
        valid = np.isfinite(later)
        a, b = maps[k][valid], later[valid]
        if a.size < 100 or a.std() < 1e-6 or b.std() < 1e-6:
            correlations.append(0.0)  # no overlap, or a constant map: nothing consistent to find
            continue
        correlations.append(float(np.corrcoef(a, b)[0, 1]))
    variances = [depth_stats(d).variance for d in maps]
    return {
        "depth_consistency": min(correlations),
        "depth_correlations": correlations,
        "depth_variance_ratio": min(v / max(variances[0], 1e-9) for v in variances),
        "depth_variances": variances,
    }


def scene_and_parallax(first: np.ndarray, last: np.ndarray) -> tuple[float, float]:
    """(share of textured pixels found again in `last`, share of those off one homography)."""
    forward, backward = optical_flow(first, last), optical_flow(last, first)
    h, w = first.shape
    gx, gy = _grid(h, w)
    returned = cv2.remap(backward, gx + forward[..., 0], gy + forward[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
    texture = cv2.cornerMinEigenVal(first, 5)
    textured = texture > np.percentile(texture, 70)
    margin = max(2, w // 48)  # content near the edges may leave the frame in any move
    textured[:margin], textured[-margin:], textured[:, :margin], textured[:, -margin:] = (False,) * 4
    with np.errstate(invalid="ignore"):
        found = textured & (np.linalg.norm(forward + returned, axis=2) < 0.5)
    kept = float(found.sum() / max(1, textured.sum()))
    if found.sum() < 50:
        return kept, 0.0
    off_plane = max(0.5, w / ANALYSIS_MAX_SIDE)  # 1 px at full analysis size
    src = np.stack([gx[found], gy[found]], axis=1)
    dst = src + forward[found]
    homography, _ = cv2.findHomography(src, dst, cv2.RANSAC, off_plane)
    if homography is None:
        return kept, 0.0
    residual = np.linalg.norm(dst - cv2.perspectiveTransform(src[None], homography)[0], axis=1)
    return kept, float((residual > off_plane).mean())


def straight_segments(gray: np.ndarray, min_length: float) -> np.ndarray:
    """Long straight edge segments (N, 4) as x1, y1, x2, y2."""
    edges = cv2.Canny(gray, 60, 150)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=40, minLineLength=min_length, maxLineGap=2)
    return np.zeros((0, 4), np.float32) if lines is None else lines.reshape(-1, 4).astype(np.float32)


def line_bend(gray: np.ndarray, flow: np.ndarray, points_per_line: int = 16) -> float | None:
    """Median RMS bend (pixels) of straight segments of `gray` carried by `flow`; None: no lines."""
    h, w = gray.shape
    segments = straight_segments(gray, min_length=0.08 * w)
    if len(segments) == 0:
        return None
    t = np.linspace(0.1, 0.9, points_per_line, dtype=np.float32)[None, :]
    xs = segments[:, :1] + (segments[:, 2:3] - segments[:, :1]) * t
    ys = segments[:, 1:2] + (segments[:, 3:4] - segments[:, 1:2]) * t
    fx = cv2.remap(flow[..., 0], xs, ys, cv2.INTER_LINEAR)
    fy = cv2.remap(flow[..., 1], xs, ys, cv2.INTER_LINEAR)
    bends = []
    for px, py in zip(xs + fx, ys + fy, strict=True):
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        if inside.sum() < points_per_line // 2:
            continue
        pts = np.stack([px[inside], py[inside]], axis=1)
        # smallest singular value / sqrt(n): RMS distance of the points from their best line
        spread = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)[-1]
        bends.append(float(spread / np.sqrt(len(pts))))
    return float(np.median(bends)) if bends else None


def flicker(grays: np.ndarray, blocks: int = 8) -> tuple[float, float]:
    """(global, median block) RMS of the second temporal difference of mean brightness."""
    t, h, w = grays.shape
    if t < 3:
        return 0.0, 0.0
    bh, bw = h // blocks, w // blocks
    cells = grays[:, : bh * blocks, : bw * blocks].astype(np.float32)
    cells = cells.reshape(t, blocks, bh, blocks, bw).mean(axis=(2, 4)).reshape(t, -1)
    means = grays.reshape(t, -1).mean(axis=1)
    second = means[2:] - 2 * means[1:-1] + means[:-2]
    cell_second = cells[2:] - 2 * cells[1:-1] + cells[:-2]
    block_rms = np.sqrt(np.mean(cell_second**2, axis=0))
    return float(np.sqrt(np.mean(second**2))), float(np.median(block_rms))


# --------------------------------------------------------------------------- the verdict


def validate_frames(
    grays: np.ndarray,
    depth_frames: dict[int, np.ndarray],
    estimator: DepthEstimator,
    *,
    single_view: bool,
    expect_parallax: bool,
    thresholds: ValidationThresholds = DEFAULT_THRESHOLDS,
    plain_2d: bool = False,
) -> ValidationReport:
    """Run every check on a clip: every frame's gray (T, h, w) uint8 at analysis size, and
    the RGB frames at `sample_indices(T, DEPTH_SAMPLES)` for the depth model.

    `single_view`: the clip moves through one photo's scene (push in/out, pan).
    `expect_parallax`: single view, and the scene has depth (not flat by Phase 1's rule).
    """
    count, width = len(grays), grays.shape[2]
    if count < 3:
        return ValidationReport(0.0, False, ("too_short",), {"frames": count})
    motion_picks = sample_indices(count, MOTION_SAMPLES)
    depth_picks = sample_indices(count, DEPTH_SAMPLES)
    motion_flows = consecutive_flows(grays, motion_picks)
    metrics: dict[str, Any] = {
        "frames": count, "analysis_width": width, "single_view": single_view,
        "expect_parallax": expect_parallax, "motion_samples": motion_picks, "depth_samples": depth_picks,
    }
    depths = estimator.estimate([depth_frames[i] for i in depth_picks])
    metrics.update(depth_checks(depths, consecutive_flows(grays, depth_picks)))
    bends = [line_bend(grays[a], f) for a, f in zip(motion_picks[:-1], motion_flows, strict=True)]
    measured = [b for b in bends if b is not None]
    worst = max if single_view else np.median
    metrics["line_bends_px"] = bends
    metrics["line_bend"] = float(worst(measured)) / width if measured else 0.0
    metrics["motion"] = float(sum(np.linalg.norm(f, axis=2).mean() for f in motion_flows)) / width
    metrics["flicker"], metrics["block_flicker"] = flicker(grays)
    kept, parallax = scene_and_parallax(grays[0], grays[-1]) if single_view else (None, None)
    metrics["scene_kept"], metrics["parallax"] = kept, parallax

    t = thresholds
    scores = {
        "depth_inconsistent": sub_score(
            metrics["depth_consistency"], t.min_depth_consistency, t.ideal_depth_consistency),
        "planar_collapse": sub_score(
            metrics["depth_variance_ratio"], t.min_depth_variance_ratio, t.ideal_depth_variance_ratio),
        "warped": sub_score(-metrics["line_bend"], -t.max_line_bend, -t.ideal_line_bend),
        "frozen": sub_score(metrics["motion"], t.min_motion, t.ideal_motion),
        "flicker": sub_score(-metrics["flicker"], -t.max_flicker, -t.ideal_flicker),
        "block_flicker": sub_score(-metrics["block_flicker"], -t.max_block_flicker, -t.ideal_block_flicker),
    }
    if kept is not None:
        scores["scene_lost"] = sub_score(kept, t.min_scene_kept, t.ideal_scene_kept)
    if expect_parallax and parallax is not None:
        scores["no_parallax"] = sub_score(parallax, t.min_parallax, t.ideal_parallax)
    metrics["sub_scores"] = scores
    metrics["thresholds"] = asdict(t)
    judged = {k: v for k, v in scores.items() if k in PLAIN_2D_CHECKS} if plain_2d else scores
    metrics["plain_2d"], metrics["judged_checks"] = plain_2d, sorted(judged)
    score = min(judged.values())
    failures = tuple(name for name, s in judged.items() if s < PASS_SCORE)
    return ValidationReport(score=score, passed=not failures, failures=failures, metrics=metrics)


def validate_clip(
    path: Path,
    *,
    single_view: bool,
    expect_parallax: bool,
    estimator: DepthEstimator | None = None,
    thresholds: ValidationThresholds = DEFAULT_THRESHOLDS,
    plain_2d: bool = False,
) -> ValidationReport:
    """Decode `path` at analysis size and validate it (Phase 1's depth model by default)."""
    depth_picks = sample_indices(probe(path).frame_count, DEPTH_SAMPLES)
    grays, depth_frames = read_luma_and_samples(path, ANALYSIS_MAX_SIDE, depth_picks)
    return validate_analysed(grays, depth_frames, "decoded", single_view=single_view, expect_parallax=expect_parallax,
                             estimator=estimator, thresholds=thresholds, plain_2d=plain_2d)


def validate_analysed(
    grays: np.ndarray,
    depth_frames: dict[int, np.ndarray],
    source: str,
    *,
    single_view: bool,
    expect_parallax: bool,
    estimator: DepthEstimator | None = None,
    thresholds: ValidationThresholds = DEFAULT_THRESHOLDS,
    plain_2d: bool = False,
) -> ValidationReport:
    """`validate_frames` with Phase 1's depth model by default, its backend and where the
    frames came from (`source`: "decoded" from the file, or "rendered" frames kept while the
    clip was made, tasks.render.analysis_frames) recorded in the metrics."""
    estimator = estimator or phase1_depth_estimator()
    report = validate_frames(
        grays, depth_frames, estimator,
        single_view=single_view, expect_parallax=expect_parallax, thresholds=thresholds, plain_2d=plain_2d,
    )
    report.metrics["depth_backend"] = estimator.backend
    report.metrics["frames_from"] = source
    log.info("clip_validated", score=round(report.score, 3), failures=list(report.failures), frames_from=source)
    return report
