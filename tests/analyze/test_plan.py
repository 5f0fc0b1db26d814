"""The motion plan: every tier rule, the motion lists per tier, recommendations and 3D."""

from __future__ import annotations

import pytest

from db.enums import ConfidenceTier, MotionType
from tasks.analyze.plan import (
    ALLOWED_MOTION,
    DepthEvidence,
    OverlapEvidence,
    TierThresholds,
    cluster_depth,
    confidence_tier,
    plan_cluster,
    recommend_motion,
)
from tasks.settings import Settings

T = TierThresholds(
    flat_max_variance=0.008,
    flat_min_planarity=0.9,
    medium_min_layering=2,
    high_min_layering=3,
    high_min_variance=0.04,
    high_min_images=3,
    min_overlap=0.2,
)
DEEP = DepthEvidence(variance=0.06, layering=3, planarity=0.2)
MODEST = DepthEvidence(variance=0.03, layering=2, planarity=0.3)
THIN = DepthEvidence(variance=0.03, layering=1, planarity=0.3)
LOW_VARIANCE = DepthEvidence(variance=0.005, layering=3, planarity=0.3)
PLANAR = DepthEvidence(variance=0.05, layering=3, planarity=0.95)
NOT_ASSESSED = OverlapEvidence(False, None, None, "COLMAP disabled")
GOOD_OVERLAP = OverlapEvidence(True, 0.6, True, "2 views registered")
NO_SFM = OverlapEvidence(True, 0.6, False, "two-view geometry failed")
SMALL_OVERLAP = OverlapEvidence(True, 0.1, True, "few matches")
L, M, H = ConfidenceTier.low, ConfidenceTier.medium, ConfidenceTier.high


def test_allowed_motion_per_tier_is_exactly_the_designs():
    assert ALLOWED_MOTION[L] == (MotionType.micro_push_in, MotionType.micro_push_out, MotionType.subtle_pan)
    assert ALLOWED_MOTION[M] == ALLOWED_MOTION[L] + (MotionType.two_image_reveal,)
    assert ALLOWED_MOTION[H] == ALLOWED_MOTION[M] + (MotionType.multi_image_synthesis,)


@pytest.mark.parametrize(
    ("count", "depth", "overlap", "tier", "rule"),
    [
        (5, LOW_VARIANCE, GOOD_OVERLAP, L, "flat_scene"),  # flat beats everything
        (5, PLANAR, GOOD_OVERLAP, L, "flat_scene"),
        (1, DEEP, NOT_ASSESSED, L, "single_view"),
        (4, DEEP, NO_SFM, L, "no_overlap"),
        (4, DEEP, SMALL_OVERLAP, L, "no_overlap"),
        (3, DEEP, GOOD_OVERLAP, H, "layered_multi_view"),
        (3, DEEP, NOT_ASSESSED, H, "layered_multi_view"),  # no COLMAP: depth and count decide
        (2, DEEP, NOT_ASSESSED, M, "layered_two_view"),  # too few views for high
        (5, MODEST, GOOD_OVERLAP, M, "layered_two_view"),  # not layered/deep enough for high
        (5, THIN, GOOD_OVERLAP, L, "few_layers"),
    ],
)
def test_tier_rules(count, depth, overlap, tier, rule):
    decision = confidence_tier(count, depth, overlap, T)
    assert (decision.value, decision.rule) == (tier, rule)
    assert decision.reason


def test_unassessed_overlap_is_said_and_not_relied_on():
    with_colmap = confidence_tier(3, DEEP, GOOD_OVERLAP, T)
    without = confidence_tier(3, DEEP, NOT_ASSESSED, T)
    assert with_colmap.value == without.value
    assert "not assessed" in without.reason and "not assessed" not in with_colmap.reason


def test_overlap_can_only_veto_never_raise():
    for depth in (THIN, LOW_VARIANCE):
        assert confidence_tier(5, depth, GOOD_OVERLAP, T).value is L


@pytest.mark.parametrize(
    ("tier", "flat", "closing", "motion"),
    [
        (H, False, False, MotionType.multi_image_synthesis),
        (M, False, True, MotionType.two_image_reveal),
        (L, True, True, MotionType.subtle_pan),
        (L, False, True, MotionType.micro_push_out),
        (L, False, False, MotionType.micro_push_in),
    ],
)
def test_recommended_motion(tier, flat, closing, motion):
    decision = recommend_motion(tier, flat, closing)
    assert decision.value is motion
    assert decision.value in ALLOWED_MOTION[tier]


def test_cluster_depth_is_the_median_so_one_odd_view_cannot_decide():
    agg = cluster_depth([DEEP, DEEP, LOW_VARIANCE])
    assert agg == DEEP
    with pytest.raises(ValueError):
        cluster_depth([])


def test_plan_cluster_records_inputs_thresholds_and_reasons():
    plan = plan_cluster(3, [DEEP, DEEP, MODEST], NOT_ASSESSED, T)
    assert plan.tier is H and plan.is_3d_eligible
    assert plan.recommended_motion is MotionType.multi_image_synthesis
    assert plan.allowed_motion == ALLOWED_MOTION[H]
    assert plan.recommended_duration > 0 and plan.model_recommendation
    d = plan.debug
    assert d["inputs"]["image_count"] == 3 and len(d["inputs"]["depth_per_photo"]) == 3
    assert d["inputs"]["overlap"]["assessed"] is False
    assert d["thresholds"]["high_min_images"] == 3
    for key in ("tier", "recommended_motion", "is_3d_eligible"):
        assert d[key]["reason"] and d[key]["rule"]
    low = plan_cluster(1, [DEEP], NOT_ASSESSED, T, holds_closing=True)
    assert (low.tier, low.recommended_motion, low.is_3d_eligible) == (L, MotionType.micro_push_out, False)
    assert low.recommended_duration != plan.recommended_duration


def test_thresholds_come_from_settings(env):
    t = TierThresholds.from_settings(Settings(tier_high_min_images=5, tier_min_overlap=0.4))
    assert (t.high_min_images, t.min_overlap) == (5, 0.4)
    assert confidence_tier(4, DEEP, NOT_ASSESSED, t).value is M
