"""The schema of `photos.manual_metadata`: the per-photo overrides upstream may send."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from db.enums import RoomType


class ManualMetadata(BaseModel):
    """Keys exactly as the design lists them; unknown keys are refused, not silently dropped.

    Every field is bounded (upstream writes these rows), so one photo's overrides stay small."""

    model_config = ConfigDict(extra="forbid")

    hero_global: bool = False
    hero_room: bool = False
    hero_priority: int = Field(default=0, ge=0, le=10)
    preferred_opening: bool = False
    preferred_closing: bool = False
    room_override: RoomType | None = None
    exclude: bool = False
    detail_hint: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=2000)
    # shown as the photo's lower-third caption instead of its room's name
    caption: str | None = Field(default=None, min_length=1, max_length=40)
