"""The manual bonus, the final score and the quality gates of the design ("Scoring Changes",
"Quality Gates"). The overrides they read are one set of flags (tasks.domain.manual_flags).
"""

from __future__ import annotations

from dataclasses import dataclass

from db.manual_metadata import ManualMetadata
from tasks.settings import Settings

HERO_GLOBAL_BONUS = 0.30
HERO_ROOM_BONUS = 0.20
PREFERRED_OPENING_BONUS = 0.10
PREFERRED_CLOSING_BONUS = 0.10
HERO_PRIORITY_BONUS = 0.05  # per unit of hero_priority
EXCLUDE_PENALTY = -1.00


def manual_bonus(flags: ManualMetadata) -> float:
    """The design's manual_bonus, term by term."""
    bonus = 0.0
    if flags.hero_global:
        bonus += HERO_GLOBAL_BONUS
    if flags.hero_room:
        bonus += HERO_ROOM_BONUS
    if flags.preferred_opening:
        bonus += PREFERRED_OPENING_BONUS
    if flags.preferred_closing:
        bonus += PREFERRED_CLOSING_BONUS
    bonus += HERO_PRIORITY_BONUS * flags.hero_priority
    if flags.exclude:
        bonus += EXCLUDE_PENALTY
    return round(bonus, 6)


def final_score(base_score: float, flags: ManualMetadata) -> float:
    """final_score = base_score + manual_bonus (not clamped: the bonus must stay visible)."""
    return base_score + manual_bonus(flags)


@dataclass(frozen=True)
class QualityThresholds:
    min_sharpness: float
    min_exposure: float

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityThresholds:
        return cls(min_sharpness=settings.min_sharpness, min_exposure=settings.min_exposure)


def quality_gate(sharpness: float, exposure_score: float, thresholds: QualityThresholds) -> str | None:
    """Why the photo is refused, or None when it passes. No manual flag is an input here, on
    purpose: the design says manual flags cannot override these minimums."""
    reasons = []
    if sharpness < thresholds.min_sharpness:
        reasons.append(f"too blurry: sharpness {sharpness:.3f} < minimum {thresholds.min_sharpness:.3f}")
    if exposure_score < thresholds.min_exposure:
        reasons.append(
            f"badly exposed: exposure {exposure_score:.3f} < minimum {thresholds.min_exposure:.3f}"
        )
    return "; ".join(reasons) or None
