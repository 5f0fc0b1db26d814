"""The per-room motion plan: confidence tier, allowed and recommended motion, duration, model, 3D.

Pure decisions over plain numbers. Each returns its reason next to its value, and `plan_cluster`
gathers them (with every input and threshold) into the dict that becomes
`analysis_results.debug_metrics`, so a person can see why a room got the motion it got.

Tier rules, first match wins (design: "Usage By Confidence Tier", "MiDaS Policy", "COLMAP Policy"):

1. flat or low-depth scene (depth variance below `flat_max_variance`, or planarity at or above
   `flat_min_planarity`) -> low: parallax there would only reveal warping.
2. a single view -> low: there is nothing to interpolate between.
3. overlap assessed and too small (not SfM-eligible, or overlap below `min_overlap`) -> low.
   When overlap was not assessed (no COLMAP), this rule is skipped, not failed.
4. at least `high_min_images` views whose depth is layered (layering >= `high_min_layering`) and
   deep (variance >= `high_min_variance`) -> high.
5. layering >= `medium_min_layering` -> medium; otherwise low.

MiDaS is the only depth signal here; COLMAP's overlap can only veto, never raise a tier.

What a tier allows, which motion is recommended, its duration and its LTX-2 model path come from
the motion catalogue (tasks.domain.motions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

from db.enums import ConfidenceTier, MotionType
from tasks.depth.stats import FlatRule
from tasks.domain import motions as catalogue
from tasks.settings import Settings


@dataclass(frozen=True)
class DepthEvidence:
    """A scene's depth (tasks.depth.stats.DepthStats of MiDaS or its fallback): variance of unit
    depth (0..0.25), layering (separable depth planes, >= 1), planarity (R^2 of one plane, 0..1)."""

    variance: float
    layering: float
    planarity: float


@dataclass(frozen=True)
class OverlapEvidence:
    """COLMAP's verdict on a room's views; `assessed=False` means none (and no say in the plan)."""

    assessed: bool
    overlap_score: float | None
    sfm_eligible: bool | None
    reason: str


@dataclass(frozen=True)
class TierThresholds:
    flat_max_variance: float
    flat_min_planarity: float
    medium_min_layering: float
    high_min_layering: float
    high_min_variance: float
    high_min_images: int
    min_overlap: float

    @classmethod
    def from_settings(cls, settings: Settings) -> TierThresholds:
        return cls(
            flat_max_variance=settings.tier_flat_max_variance,
            flat_min_planarity=settings.tier_flat_min_planarity,
            medium_min_layering=settings.tier_medium_min_layering,
            high_min_layering=settings.tier_high_min_layering,
            high_min_variance=settings.tier_high_min_variance,
            high_min_images=settings.tier_high_min_images,
            min_overlap=settings.tier_min_overlap,
        )


@dataclass(frozen=True)
class Decision:
    value: Any
    rule: str
    reason: str


@dataclass(frozen=True)
class ClusterPlan:
    depth: DepthEvidence  # the room's depth (median of its views)
    tier: ConfidenceTier
    allowed_motion: tuple[MotionType, ...]
    recommended_motion: MotionType
    recommended_duration: float
    model_recommendation: str
    is_3d_eligible: bool
    debug: dict[str, Any]


def cluster_depth(per_photo: Sequence[DepthEvidence]) -> DepthEvidence:
    """A room's depth: the median of its views, so one odd view cannot decide the tier."""
    if not per_photo:
        raise ValueError("a room needs at least one view with depth")
    return DepthEvidence(
        variance=median(d.variance for d in per_photo),
        layering=median(d.layering for d in per_photo),
        planarity=median(d.planarity for d in per_photo),
    )


def is_flat(depth: DepthEvidence, t: TierThresholds) -> bool:
    return FlatRule(t.flat_max_variance, t.flat_min_planarity)(depth.variance, depth.planarity)


def confidence_tier(
    image_count: int, depth: DepthEvidence, overlap: OverlapEvidence, t: TierThresholds
) -> Decision:
    """The tier rules of the module docstring, first match wins."""
    if is_flat(depth, t):
        return Decision(
            ConfidenceTier.low,
            "flat_scene",
            f"flat or low-depth scene (variance {depth.variance:.4f} vs min {t.flat_max_variance}, "
            f"planarity {depth.planarity:.3f} vs max {t.flat_min_planarity}): single-image micro motion only",
        )
    if image_count < 2:
        return Decision(ConfidenceTier.low, "single_view", "one usable view: nothing to interpolate between")
    if overlap.assessed and (not overlap.sfm_eligible or (overlap.overlap_score or 0.0) < t.min_overlap):
        return Decision(
            ConfidenceTier.low,
            "no_overlap",
            f"views do not overlap enough (overlap {overlap.overlap_score}, sfm_eligible "
            f"{overlap.sfm_eligible}, min {t.min_overlap}): {overlap.reason}",
        )
    unassessed = "" if overlap.assessed else "; overlap not assessed, so depth and view count alone decide"
    if (
        image_count >= t.high_min_images
        and depth.layering >= t.high_min_layering
        and depth.variance >= t.high_min_variance
    ):
        return Decision(
            ConfidenceTier.high,
            "layered_multi_view",
            f"{image_count} views of a layered, deep scene (layering {depth.layering:g} >= "
            f"{t.high_min_layering}, variance {depth.variance:.4f} >= {t.high_min_variance}){unassessed}",
        )
    if depth.layering >= t.medium_min_layering:
        return Decision(
            ConfidenceTier.medium,
            "layered_two_view",
            f"{image_count} views with depth layers (layering {depth.layering:g} >= "
            f"{t.medium_min_layering}){unassessed}",
        )
    return Decision(
        ConfidenceTier.low,
        "few_layers",
        f"depth has too few layers for parallax (layering {depth.layering:g} < {t.medium_min_layering:g})",
    )


def allowed_motion(tier: ConfidenceTier, flat: bool = False) -> tuple[MotionType, ...]:
    return catalogue.allowed(tier, flat=flat, three_d=is_3d_eligible(tier).value)


def recommend_motion(tier: ConfidenceTier, flat: bool, holds_closing: bool) -> Decision:
    """The richest motion the tier allows; among single-image moves, the one that suits the shot."""
    shot = catalogue.Shot.flat if flat else catalogue.Shot.closing if holds_closing else catalogue.Shot.depth
    entry = catalogue.recommend(allowed_motion(tier, flat), shot)
    return Decision(entry.name, entry.plan_rule, entry.plan_reason)


def is_3d_eligible(tier: ConfidenceTier) -> Decision:
    """Multi-view (3D) generation only where the high tier's checks all passed."""
    eligible = tier is ConfidenceTier.high
    reason = "high tier: multi-view eligible" if eligible else f"{tier.value} tier: not multi-view eligible"
    return Decision(eligible, "tier", reason)


ALLOWED_MOTION: dict[ConfidenceTier, tuple[MotionType, ...]] = {tier: allowed_motion(tier) for tier in ConfidenceTier}
"""What each tier allows on a scene with depth, from the motion catalogue (tasks.domain.motions)."""


def plan_cluster(
    image_count: int,
    per_photo_depth: Sequence[DepthEvidence],
    overlap: OverlapEvidence,
    thresholds: TierThresholds,
    *,
    holds_closing: bool = False,
) -> ClusterPlan:
    depth = cluster_depth(per_photo_depth)
    tier = confidence_tier(image_count, depth, overlap, thresholds)
    flat = is_flat(depth, thresholds)
    allowed = allowed_motion(tier.value, flat)
    motion = recommend_motion(tier.value, flat, holds_closing)
    three_d = is_3d_eligible(tier.value)
    duration = catalogue.MOTIONS[motion.value].seconds
    model = catalogue.MOTIONS[motion.value].ltx2.model
    debug = {
        "inputs": {
            "image_count": image_count,
            "depth": asdict(depth),
            "depth_per_photo": [asdict(d) for d in per_photo_depth],
            "overlap": asdict(overlap),
            "holds_closing": holds_closing,
        },
        "thresholds": asdict(thresholds),
        "tier": _decision(tier),
        "allowed_motion": {"value": [m.value for m in allowed], "reason": f"{tier.value} tier"},
        "recommended_motion": _decision(motion),
        "recommended_duration": {"value": duration, "reason": f"{motion.value} runs {duration} s"},
        "model_recommendation": {"value": model, "reason": f"{motion.value} renders with {model}"},
        "is_3d_eligible": _decision(three_d),
    }
    return ClusterPlan(depth, tier.value, allowed, motion.value, duration, model, three_d.value, debug)


def _decision(d: Decision) -> dict[str, Any]:
    value = d.value.value if hasattr(d.value, "value") else d.value
    return {"value": value, "rule": d.rule, "reason": d.reason}
