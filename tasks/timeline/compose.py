"""A new timeline from the footage, the picks, the template and the music (pure).

Sequencing orders the shots, this decides how many fit the length (dropping the least
important or, where the template allows, repeating), sets the transitions by the template's
rules, and hands the result to timing.

Filling the length: Phase 2 sizes the clips so their footage covers the target
(tasks.render.sizing), so the shots normally fill it. Where the footage still falls short (a
tiny listing, clips at the generator's limit), a template that allows repeats shows clips
again, never one right after itself; a template that does not keeps every clip once and the
video ends early. `Composition.fill` records which happened, for the timeline row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tasks.timeline.beats import BeatGrid
from tasks.timeline.sequencing import (
    Footage,
    Picks,
    Shot,
    fit_shot_count,
    sequence_shots,
)
from tasks.timeline.templates import Template
from tasks.timeline.timing import (
    Pacing,
    Rhythm,
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
    def fill(self) -> dict[str, Any]:
        """How the length was filled: `footage` (each clip once), `repeats` (some shown again)
        or `shortened` (the last resort: the video ends before the target)."""
        repeats = sum(1 for s in self.shots if s.occurrence > 0)
        short = self.total_duration < self.rhythm.total - 1 / self.fps
        return {
            "method": "shortened" if short else "repeats" if repeats else "footage",
            "target": round(self.rhythm.total, 6),
            "total": self.total_duration,
            "footage": round(footage_seconds([s for s in self.shots if s.occurrence == 0], 0.0), 6),
            "repeats": repeats,
        }


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
    rows = plan_timing(timed_inputs(shots, template), rhythm, template.fps, audio_policy_for(template, grid is not None))
    composition = Composition(shots, rows, rhythm, template.fps)
    notes = composition.notes
    if not template.min_length <= pacing.target_length <= template.max_length:
        notes.append(
            f"target length {pacing.target_length:g} s is outside the {template.name} template's "
            f"{template.min_length:g}-{template.max_length:g} s; the job's value is used"
        )
    if grid is not None and grid.music_duration < pacing.target_length:
        notes.append(f"the music lasts {grid.music_duration:.2f} s, less than the {pacing.target_length:g} s target")
    if composition.fill["method"] == "shortened":
        notes.append(
            f"the footage fills only {composition.total_duration:.2f} s of {rhythm.total:.2f} s"
            + (f" (even repeating: at most {rhythm.shot_count_range()[1]} shots, never a clip right after itself)"
               if template.allow_repeats else f" (the {template.name} template shows no clip twice)")
        )
    return composition
