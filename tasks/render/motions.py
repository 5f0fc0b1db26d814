"""What each planned motion is made of: how many photos it plays. Defined once for Phase 2."""

from __future__ import annotations

from db.enums import MotionType

SINGLE_IMAGE_MOTIONS = frozenset({MotionType.micro_push_in, MotionType.micro_push_out, MotionType.subtle_pan})


def views_used(motion: MotionType, available: int) -> int:
    """Photos a motion plays: the hero alone, two for a reveal, all of them for multi-image."""
    if motion is MotionType.multi_image_synthesis:
        return available
    return min(available, 2) if motion is MotionType.two_image_reveal else 1
