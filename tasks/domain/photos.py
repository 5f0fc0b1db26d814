"""The one rule for a usable photo, read by Phase 1 (which photos take part), Phase 2 (which
photos get clips), Phase 3 (which clips may be shown) and the review tables (why not).

A photo is usable when it was decoded, passed the quality gates, is not excluded and is not a
duplicate of a kept photo. Each "no" has a one-line reason, the first that applies in that
order; the rule reads the photo row's columns (or Phase 1's in-memory facts, which carry the
same names).
"""

from __future__ import annotations

from typing import Protocol


class PhotoStanding(Protocol):
    """What the rule reads: `db.models.Photo` columns, or `tasks.analyze.phase.PhotoFacts`."""

    @property
    def usable(self) -> bool: ...  # decoded (the photos.usable column)
    @property
    def unusable_reason(self) -> str | None: ...  # why it could not be decoded
    @property
    def quality_gate_reason(self) -> str | None: ...  # the failed gate (or "duplicate of ...")
    @property
    def exclude(self) -> bool: ...
    @property
    def duplicate_of_photo_id(self) -> int | None: ...


def why_unusable(photo: PhotoStanding, *, excluded: bool | None = None) -> str | None:
    """None for a usable photo, else the one-line reason. `excluded` overrides the row's flag where
    the caller merged the photo's manual metadata (and its duplicates' flags) itself."""
    if not photo.usable or photo.unusable_reason:
        return photo.unusable_reason or "could not be read"
    if photo.quality_gate_reason:
        return photo.quality_gate_reason
    if photo.exclude if excluded is None else excluded:
        return "excluded by a person"
    if photo.duplicate_of_photo_id is not None:
        return f"duplicate of photo {photo.duplicate_of_photo_id}"
    return None


def usable(photo: PhotoStanding, *, excluded: bool | None = None) -> bool:
    return why_unusable(photo, excluded=excluded) is None
