"""Scoring Changes, Manual Overrides and Quality Gates, term by term."""

from __future__ import annotations

import pytest

from db.enums import RoomType
from tasks.analyze.scoring import (
    QualityThresholds,
    final_score,
    manual_bonus,
    quality_gate,
)
from tasks.domain.manual_flags import (
    InvalidManualMetadata,
    active_flags,
    effective_flags,
)


@pytest.mark.parametrize(
    ("metadata", "bonus"),
    [
        ({}, 0.0),
        ({"hero_global": True}, 0.30),
        ({"hero_room": True}, 0.20),
        ({"preferred_opening": True}, 0.10),
        ({"preferred_closing": True}, 0.10),
        ({"hero_priority": 3}, 0.15),
        ({"exclude": True}, -1.00),
        ({"detail_hint": "fireplace", "notes": "agent's pick"}, 0.0),
        (
            {
                "hero_global": True,
                "hero_room": True,
                "preferred_opening": True,
                "preferred_closing": True,
                "hero_priority": 2,
            },
            0.30 + 0.20 + 0.10 + 0.10 + 0.10,
        ),
        ({"hero_global": True, "exclude": True}, 0.30 - 1.00),
    ],
)
def test_manual_bonus_is_the_designs_sum(metadata, bonus):
    flags = effective_flags(metadata)
    assert manual_bonus(flags) == pytest.approx(bonus)
    assert final_score(0.61, flags) == pytest.approx(0.61 + bonus)


def test_columns_win_over_metadata_and_are_merged():
    flags = effective_flags({"room_override": "kitchen"}, room_override="dining_room", exclude=True)
    assert flags.room_override is RoomType.dining_room
    assert flags.exclude and manual_bonus(flags) == pytest.approx(-1.0)
    assert effective_flags({"exclude": True}, exclude=False).exclude  # either source excludes


@pytest.mark.parametrize(
    "metadata",
    [
        {"hero_global": "maybe"},
        {"hero_priority": -1},
        {"hero_priority": 99},
        {"room_override": "attic"},
        {"herro_global": True},
    ],
)
def test_bad_metadata_is_refused_naming_the_photo(metadata):
    with pytest.raises(InvalidManualMetadata, match="IMG_7.jpg"):
        effective_flags(metadata, photo="IMG_7.jpg")


def test_bad_room_override_column_is_refused():
    with pytest.raises(InvalidManualMetadata, match="room_override|attic"):
        effective_flags({}, room_override="attic", photo="x.jpg")


def test_active_flags_lists_only_what_is_set():
    flags = effective_flags({"hero_room": True, "hero_priority": 1, "notes": "n"}, room_override="bedroom")
    assert active_flags(flags) == {
        "hero_room": True,
        "hero_priority": 1,
        "notes": "n",
        "room_override": "bedroom",
    }


T = QualityThresholds(min_sharpness=0.35, min_exposure=0.25)


@pytest.mark.parametrize(
    ("sharpness", "exposure", "refused", "words"),
    [
        (0.9, 0.8, False, []),
        (0.35, 0.25, False, []),  # the minimums themselves pass
        (0.2, 0.8, True, ["blurry"]),
        (0.9, 0.1, True, ["exposed"]),
        (0.1, 0.1, True, ["blurry", "exposed"]),
    ],
)
def test_quality_gate(sharpness, exposure, refused, words):
    reason = quality_gate(sharpness, exposure, T)
    assert (reason is not None) == refused
    for word in words:
        assert word in reason
