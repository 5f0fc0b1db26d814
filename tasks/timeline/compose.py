"""A new timeline from the footage, the picks, the template and the music (pure).

Sequencing orders the shots, this decides how many fit the length (dropping the least
important or, where the template allows, repeating), sets the transitions by the template's
rules, and hands the result to timing.

Filling the length: Phase 2 sizes the clips so their footage covers the target
(tasks.render.sizing), so the shots normally fill it. Where the footage still falls short (a
tiny listing, clips at the generator's limit), the steps are, in order:
1. repeats, where the template allows them: clips shown again, never one right after itself;
2. slow motion: every shot plays at one speed, the fastest (in hundredths) that fills the
   length, never below the template's `min_playback_speed`. Repeats come first because the
   styles that allow them are fast cuts, where slow motion reads wrong and a repeat does not;
   one speed for all shots because a uniform slow-down is invisible where one slowed shot
   among normal ones is not;
3. shortened: even at the floor the footage falls short, so the video ends early (at the
   floor, the longest it can be) and a note says so.
`Composition.fill` records which happened, for the timeline row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from db.enums import AudioPolicy
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.pacing import Pacing, Rhythm
from tasks.domain.templates import Template
from tasks.timeline.sequencing import (
    Footage,
    Picks,
    Shot,
    fit_shot_count,
    sequence_shots,
)
from tasks.timeline.timing import (
    ShotInput,
    ShotTiming,
    audio_policy_for,
    plan_timing,
    total_duration,
    transition_for,
)


@dataclass(frozen=True)
class Composition:
    shots: list[Shot]
    rows: list[ShotTiming]
    rhythm: Rhythm
    fps: int
    notes: list[str] = field(default_factory=list)  # what fell short of the template, and why

    @property
    def total_duration(self) -> float:
        return total_duration(self.rows, self.fps)

    @property
    def speed(self) -> float:
        """The playback speed the shots were slowed to (1: not slowed)."""
        return min(r.speed for r in self.rows)

    @property
    def fill(self) -> dict[str, Any]:
        """How the length was filled: `footage` (each clip once), `repeats` (some shown again),
        `slowed` (played at `speed`) or `shortened` (the last resort: the video ends before the
        target, even at the slowest speed allowed)."""
        repeats = sum(1 for s in self.shots if s.occurrence > 0)
        short = not fills(self.rows, self.rhythm, self.fps)
        return {
            "method": "shortened" if short else "slowed" if self.speed < 1 else "repeats" if repeats else "footage",
            "target": round(self.rhythm.total, 6),
            "total": self.total_duration,
            "footage": round(footage_seconds([s for s in self.shots if s.occurrence == 0], 0.0), 6),
            "repeats": repeats,
            "speed": self.speed,
        }


SPEED_STEP = 0.01  # speeds in hundredths: readable, and written exactly into the filter graph


def fills(rows: Sequence[ShotTiming], rhythm: Rhythm, fps: int) -> bool:
    """The rows last the rhythm's total to within a frame."""
    return total_duration(rows, fps) >= rhythm.total - 1 / fps


def slower_speeds(floor: float) -> list[float]:
    """Speeds below 1 down to `floor`, fastest first, in SPEED_STEPs."""
    return [round(1 - k * SPEED_STEP, 2) for k in range(1, math.floor((1 - floor) / SPEED_STEP + 1e-9) + 1)]


def plan_filled(
    inputs: Sequence[ShotInput], rhythm: Rhythm, fps: int, audio: AudioPolicy, floor: float
) -> list[ShotTiming]:
    """Rows at full speed when the footage fills the total; else at the fastest slower speed
    that does (a binary search: slower only ever adds footage, so filling is monotonic in the
    speed); else at `floor`, the longest the footage can last."""
    def at(speed: float) -> list[ShotTiming]:
        return plan_timing([replace(s, speed=speed) for s in inputs], rhythm, fps, audio)

    rows = at(1.0)
    speeds = slower_speeds(floor)
    if fills(rows, rhythm, fps) or not speeds:
        return rows
    slowest = at(speeds[-1])
    if not fills(slowest, rhythm, fps):
        return slowest
    lo, hi, best = 0, len(speeds) - 1, slowest  # speeds[hi] fills; find the first that does
    while lo < hi:
        mid = (lo + hi) // 2
        rows = at(speeds[mid])
        if fills(rows, rhythm, fps):
            hi, best = mid, rows
        else:
            lo = mid + 1
    return best


def footage_seconds(shots: Sequence[Shot], transition: float) -> float:
    """The most video the shots can fill: every clip whole, less the transitions' overlaps."""
    return sum(s.footage.duration for s in shots) - transition * max(len(shots) - 1, 0)


def choose_shots(ordered: Sequence[Shot], rhythm: Rhythm, allow_repeats: bool) -> list[Shot]:
    """As many shots as the pacing wants, but never so few that the footage runs out first."""
    fewest, most = rhythm.shot_count_range()
    keep = min(len(ordered), most)
    while keep < len(ordered) and footage_seconds(fit_shot_count(ordered, keep, 0, False), rhythm.transition) < rhythm.total:
        keep += 1
    shots = fit_shot_count(ordered, keep, 0, False)
    if allow_repeats and shots:
        wanted = max(fewest, len(shots))
        while wanted < most and footage_seconds(fit_shot_count(shots, wanted, wanted, True), rhythm.transition) < rhythm.total:
            wanted += 1  # never past `most`: shorter shots than the template's shortest are no fix
        shots = fit_shot_count(shots, wanted, wanted, True)
    return shots


def timed_inputs(shots: Sequence[Shot], template: Template) -> list[ShotInput]:
    """The template's transition rule for each shot."""
    return [
        ShotInput(
            clip_id=shot.footage.clip_id,
            duration=shot.footage.duration,
            transition=transition_for(
                template, i,
                room_change=i > 0 and shot.footage.room_cluster_id != shots[i - 1].footage.room_cluster_id,
                closing=shot.role == "closing",
            ),
            occurrence=shot.occurrence,
        )
        for i, shot in enumerate(shots)
    ]


def compose_timeline(
    footage: Sequence[Footage], picks: Picks, template: Template, pacing: Pacing, grid: BeatGrid | None
) -> Composition:
    if not footage:
        raise ValueError("no rendered clip can be shown: nothing to put on a timeline")
    rhythm = Rhythm.resolve(template, pacing, grid)
    shots = choose_shots(sequence_shots(footage, picks), rhythm, template.allow_repeats)
    rows = plan_filled(timed_inputs(shots, template), rhythm, template.fps, audio_policy_for(template, grid is not None),
                       template.min_playback_speed)
    composition = Composition(shots, rows, rhythm, template.fps)
    notes = composition.notes
    if not template.min_length <= pacing.target_length <= template.max_length:
        notes.append(
            f"target length {pacing.target_length:g} s is outside the {template.name} template's "
            f"{template.min_length:g}-{template.max_length:g} s; the job's value is used"
        )
    if grid is not None and pacing.beat_sync and not grid.reliable:
        notes.append(
            f"the music has no reliable beat (confidence {grid.confidence:.2f}, under "
            f"{grid.params.get('min_confidence', 0):g}): cuts are evenly spaced, not on beats"
        )
    if grid is not None and grid.music_duration < pacing.target_length:
        notes.append(f"the music lasts {grid.music_duration:.2f} s, less than the {pacing.target_length:g} s target")
    if composition.fill["method"] == "shortened":
        notes.append(
            f"the footage fills only {composition.total_duration:.2f} s of {rhythm.total:.2f} s"
            + (f" (even repeating: at most {rhythm.shot_count_range()[1]} shots, never a clip right after itself)"
               if template.allow_repeats else f" (the {template.name} template shows no clip twice)")
            + f", even slowed to {composition.speed:g}x"
        )
    return composition
