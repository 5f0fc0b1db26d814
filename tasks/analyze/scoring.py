"""Manual overrides, the final score and the quality gates of the design ("Scoring Changes",
"Manual Overrides", "Quality Gates").

Upstream sends per-photo metadata in `photos.manual_metadata` (schema: db.manual_metadata);
`photos.room_override` and `photos.exclude` are also columns of their own, and a column that is
set wins over the same key in the metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from db.enums import RoomType
from db.manual_metadata import ManualMetadata
from tasks.settings import Settings

HERO_GLOBAL_BONUS = 0.30
HERO_ROOM_BONUS = 0.20
PREFERRED_OPENING_BONUS = 0.10
PREFERRED_CLOSING_BONUS = 0.10
HERO_PRIORITY_BONUS = 0.05  # per unit of hero_priority
EXCLUDE_PENALTY = -1.00


class InvalidManualMetadata(ValueError):
    """Stored metadata that breaks its schema (Rails may write rows directly); names the photo."""


def effective_flags(
    metadata: Mapping[str, Any] | None,
    room_override: str | None = None,
    exclude: bool = False,
    *,
    photo: str = "photo",
) -> ManualMetadata:
    """One photo's overrides: the metadata validated by its schema, with the columns applied."""
    try:
        flags = ManualMetadata.model_validate(dict(metadata or {}))
        update: dict[str, Any] = {"exclude": flags.exclude or bool(exclude)}
        if room_override:
            update["room_override"] = RoomType(room_override)
    except (ValidationError, ValueError) as err:
        raise InvalidManualMetadata(f"{photo}: invalid manual metadata: {err}") from None
    return flags.model_copy(update=update)


def active_flags(flags: ManualMetadata) -> dict[str, Any]:
    """Only the overrides that are set, for debug_metrics and the report."""
    return flags.model_dump(mode="json", exclude_defaults=True)


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
