"""How long each planned clip is rendered, so the clips can fill the job's target length (pure).

Phase 1 recommends a duration per motion (the time a move needs to read). Phase 3 then cuts
the clips to the music: the shots together must last the target length, every non-cut
transition overlaps two clips, and a cut snapped to a beat may need up to one more beat of
the clip it ends. Phase 2 renders before the music is analysed, so it plans with the slowest
beat Phase 3 normally cuts to (the job's own bpm when set): clips sized this way leave Phase 3
room to land every cut on a beat and still fill the length.

Lengthening is bounded twice: by what the generator can make in one pass (LTX-2's longest
generation, which the memory plan is sized for) and by what a motion can carry safely
(`max_seconds` in the motion catalogue, tasks.domain.motions). Clips are never shortened below Phase 1's duration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from db.enums import MotionType
from tasks.domain.beat_grid import BEATS_PER_BAR
from tasks.domain.motions import MOTIONS
from tasks.domain.pacing import EDITING_BAND, Pacing, Rhythm
from tasks.domain.templates import Template

LONGEST_CLIP_FRAMES = 161
"""Frames of the longest clip Phase 2 asks LTX-2 for (8k + 1): the memory plan is sized for it."""
SLOWEST_PLANNED_TEMPO = EDITING_BAND[0]
"""BPM Phase 2 plans with when the job sets none: the slow end of Phase 3's editing band
(tasks.domain.pacing.EDITING_BAND), so the longest pulse it will normally cut to."""


@dataclass(frozen=True)
class FootageGoal:
    """What Phase 3 will ask of the clips, as far as Phase 2 can know it."""

    target: float  # seconds the video should last
    shots: int  # shots that will share it
    transition: float  # seconds each transition overlaps two clips
    snap: float  # seconds a cut may move to reach a cut point (a beat, or a bar start)

    @property
    def per_clip(self) -> float:
        """Seconds each shot's clip needs: its share, its transition, the snap margin."""
        return (self.target + (self.shots - 1) * self.transition) / self.shots + self.snap


def footage_goal(template: Template, target: float, beat_sync: bool, bpm: float | None, clips: int) -> FootageGoal:
    """The goal for `clips` clips: as many shots as the template's pacing allows, every
    transition a non-cut one (the worst case), cuts snapped to the slowest plausible beat (to a
    whole bar of them where the template cuts on bar starts)."""
    pacing = Pacing.from_template(template, beat_sync, target)
    period = 60.0 / (bpm or SLOWEST_PLANNED_TEMPO) if beat_sync else None
    rhythm = Rhythm.at_period(template, pacing, period, target)
    snap = (period or 0.0) * (BEATS_PER_BAR if template.cut_on == "bars" else 1)
    return FootageGoal(target, max(1, min(clips, rhythm.shot_count_range()[1])), rhythm.transition, snap)


def clip_cap(motion: MotionType, fps: int) -> float:
    """The longest clip a motion may be rendered at: the generator's limit and the motion's."""
    return min(LONGEST_CLIP_FRAMES / fps, MOTIONS[motion].max_seconds)


def sized_durations(natural: Sequence[float], caps: Sequence[float], goal: FootageGoal, fps: int) -> list[float]:
    """Each clip's duration in whole frames: at least its natural length and the goal's
    per-clip need, raised further where other clips hit their cap (so the clips together still
    hold the goal's footage), and never above its cap."""
    if len(natural) != len(caps):
        raise ValueError("give one cap per clip")
    if not natural:
        return []
    needed = goal.shots * goal.per_clip

    def held(level: float) -> float:
        return sum(min(cap, max(nat, level)) for nat, cap in zip(natural, caps))

    level = goal.per_clip
    if held(level) < needed:  # some clips are capped: raise the others (bisection on the level)
        low, high = level, max(caps)
        for _ in range(50):
            level = (low + high) / 2
            low, high = (level, high) if held(level) < needed else (low, level)
        level = high
    return [
        min(math.ceil(min(cap, max(nat, level)) * fps - 1e-6), math.floor(cap * fps + 1e-6)) / fps
        for nat, cap in zip(natural, caps)
    ]
