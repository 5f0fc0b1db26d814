"""What each planned motion is made of: how many photos it plays. Defined once for Phase 2."""

from __future__ import annotations

from db.enums import MotionType

SINGLE_IMAGE_MOTIONS = frozenset({MotionType.micro_push_in, MotionType.micro_push_out, MotionType.subtle_pan})


def views_used(motion: MotionType, available: int) -> int:
    """Photos a motion plays: the hero alone, two for a reveal, all of them for multi-image."""
    if motion is MotionType.multi_image_synthesis:
        return available
    return min(available, 2) if motion is MotionType.two_image_reveal else 1


MAX_SECONDS: dict[MotionType, float] = {
    MotionType.micro_push_in: 5.5,
    MotionType.micro_push_out: 5.5,
    MotionType.subtle_pan: 6.0,
    MotionType.two_image_reveal: 7.0,
    MotionType.multi_image_synthesis: 8.0,
}
"""The longest clip a motion may be stretched to. A move covers a fixed, small distance: past about
1.8 times its natural length a single-image move reads as a still, and a camera LoRA left running
drifts off the photo and invents what it cannot see; keyframed moves carry more views, so more time."""
