"""An overlay as the timeline stores it (a timeline_overlays row): Phase 3 composes and edits
them (tasks.timeline.overlays), Phase 4 draws exactly what the rows say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from db.enums import OverlayKind, OverlayPosition
from db.models import TimelineOverlay


@dataclass(frozen=True)
class Overlay:
    """One timeline_overlays row (order is the list's)."""

    kind: OverlayKind
    shot_index: int | None  # None: the whole video (the disclosure)
    content: dict[str, Any]
    position: OverlayPosition
    branded_only: bool = False
    visible: bool = True
    start_time: float = 0.0
    end_time: float = 0.0
    fade_duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "shot_index": self.shot_index, "content": self.content,
                "position": self.position.value, "branded_only": self.branded_only, "visible": self.visible,
                "start_time": self.start_time, "end_time": self.end_time, "fade_duration": self.fade_duration}


def read_overlays(session: Session, timeline_id: int) -> list[Overlay]:
    """A version's overlays in order."""
    rows = session.exec(
        select(TimelineOverlay).where(TimelineOverlay.timeline_id == timeline_id).order_by(TimelineOverlay.order_index)
    ).all()
    return [
        Overlay(o.kind, o.shot_index, o.content, o.position, o.branded_only, o.visible, o.start_time, o.end_time,
                o.fade_duration)
        for o in rows
    ]
