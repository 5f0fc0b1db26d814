"""One usable-photo rule for Phase 1's facts, the photo rows of Phases 2 and 3, and the review."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from db.manual_metadata import ManualMetadata
from db.models import Photo
from tasks.analyze.phase import PhotoFacts
from tasks.domain.photos import usable, why_unusable


def row(**columns: object) -> Photo:
    return Photo(job_id=uuid.uuid4(), s3_uri="s3://b/p.jpg", original_filename="p.jpg", **columns)


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ({}, None),
        ({"usable": False, "unusable_reason": "not an image: truncated JPEG"}, "not an image: truncated JPEG"),
        ({"usable": False}, "could not be read"),
        ({"quality_gate_reason": "too blurry (sharpness 0.12 < 0.35)"}, "too blurry (sharpness 0.12 < 0.35)"),
        ({"exclude": True}, "excluded by a person"),
        ({"duplicate_of_photo_id": 4}, "duplicate of photo 4"),
        # the first reason that applies is the one given
        ({"usable": False, "unusable_reason": "corrupt", "exclude": True, "duplicate_of_photo_id": 4}, "corrupt"),
        ({"quality_gate_reason": "too dark", "exclude": True}, "too dark"),
    ],
)
def test_a_photo_row_is_usable_or_says_why_in_one_line(columns: dict, reason: str | None) -> None:
    photo = row(**columns)
    assert why_unusable(photo) == reason and usable(photo) is (reason is None)
    assert reason is None or "\n" not in reason


def test_merged_flags_override_the_rows_exclude() -> None:
    assert why_unusable(row(), excluded=True) == "excluded by a person"
    assert usable(row(exclude=True), excluded=False)


def test_phase1_facts_follow_the_same_rule() -> None:
    pixels = np.zeros((4, 4, 3), np.uint8)
    kept = PhotoFacts(1, "a.jpg", ManualMetadata(), pixels=pixels)
    unreadable = PhotoFacts(2, "b.jpg", ManualMetadata(), unusable_reason="not an image")
    excluded = PhotoFacts(3, "c.jpg", ManualMetadata(exclude=True), pixels=pixels)
    duplicate = PhotoFacts(4, "d.jpg", ManualMetadata(), pixels=pixels, duplicate_of=1)
    assert [f.eligible for f in (kept, unreadable, excluded, duplicate)] == [True, False, False, False]
    assert [f.why_not() for f in (kept, unreadable, excluded, duplicate)] == [
        "", "not an image", "excluded by a person", "duplicate of photo 1"]
