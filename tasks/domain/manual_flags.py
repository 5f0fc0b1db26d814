"""A photo's manual overrides as one set of flags (design: "Manual Overrides").

Upstream sends per-photo metadata in `photos.manual_metadata` (schema: db.manual_metadata);
`photos.room_override` and `photos.exclude` are also columns of their own, and a column that is
set wins over the same key in the metadata. A kept duplicate carries the flags of the copies it
stands for. Phase 1 scores and selects with these flags, Phase 3 sequences with them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from db.enums import RoomType
from db.manual_metadata import ManualMetadata


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


def merged_flags(kept: ManualMetadata, others: Sequence[ManualMetadata]) -> ManualMetadata:
    """The kept photo's metadata with every member's flags carried over: a boolean set on any
    member is set, the highest hero priority wins, and text or a room the kept one lacks is taken
    from the first member that has it."""
    flags = kept.model_dump()
    for other in others:
        for key, value in other.model_dump().items():
            if isinstance(value, bool):
                flags[key] = flags[key] or value
            elif key == "hero_priority":
                flags[key] = max(flags[key], value)
            elif flags[key] is None:
                flags[key] = value
    return ManualMetadata.model_validate(flags)


def carry_duplicate_flags(
    flags: dict[int, ManualMetadata], duplicate_of: dict[int, int]
) -> dict[int, ManualMetadata]:
    """Every photo's flags, each kept photo's merged with its duplicates' (Phase 3 reads the rows)."""
    carried = dict(flags)
    for kept in set(duplicate_of.values()):
        if kept in carried:
            carried[kept] = merged_flags(carried[kept], [flags[d] for d, k in duplicate_of.items() if k == kept])
    return carried
