"""How fast shots are cut: a template's pacing resolved against the music's beats (pure).

Phase 2 sizes its clips with these rules before the music is analysed (tasks.render.sizing,
with an assumed tempo at EDITING_BAND's bottom); Phase 3 cuts the timeline with them once the
beat grid is known (tasks.timeline.timing). One definition, so both phases agree on how long
a shot may be and which beats a cut lands on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tasks.domain.beat_grid import BeatGrid
from tasks.domain.templates import Template

EDITING_BAND = (80.0, 160.0)
"""BPM of the pulse shots are counted in: music faster than the top is cut on every second (or
fourth) beat. tasks.render.sizing plans clips with the bottom, the slowest pulse normally cut to."""


@dataclass(frozen=True)
class Pacing:
    """How the shots are cut, as recorded on the timeline (beat_grid["pacing"])."""

    beat_sync: bool
    shot_beats: tuple[float, float]
    shot_seconds: tuple[float, float]
    target_length: float

    @classmethod
    def from_template(cls, template: Template, beat_sync: bool, target_length: float) -> Pacing:
        return cls(beat_sync, template.shot_beats, template.shot_seconds, target_length)

    def to_json(self) -> dict[str, Any]:
        return {"beat_sync": self.beat_sync, "shot_beats": list(self.shot_beats),
                "shot_seconds": list(self.shot_seconds), "target_length": self.target_length}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pacing:
        return cls(bool(data["beat_sync"]), tuple(data["shot_beats"]), tuple(data["shot_seconds"]),  # type: ignore[arg-type]
                   float(data["target_length"]))


@dataclass(frozen=True)
class Pulse:
    """The beats a template cuts on: a subset of the music's tracked beats, never moved."""

    on: str  # "every beat", "every 2nd beat", "every 4th beat" or "bar starts"
    step: int  # beats per unit of the template's shot_beats
    period: float  # seconds of that unit
    cuts: tuple[float, ...]  # the beat times a cut may land on

    def to_json(self) -> dict[str, Any]:
        return {"on": self.on, "step": self.step, "period": round(self.period, 4), "cuts": list(self.cuts)}


def pulse_of(grid: BeatGrid, template: Template) -> Pulse:
    """Every step-th beat counted from a bar start, the step the smallest of 1, 2, 4 that brings
    the music's tempo to EDITING_BAND's top or under; only the downbeats for cut_on="bars"."""
    step = 1
    while grid.tempo / step > EDITING_BAND[1] and step < 4:
        step *= 2
    first_bar = grid.beats.index(grid.downbeats[0]) if grid.downbeats and grid.downbeats[0] in grid.beats else 0
    if template.cut_on == "bars":
        on, cuts = "bar starts", grid.downbeats
    else:
        on = "every beat" if step == 1 else f"every {step}{'nd' if step == 2 else 'th'} beat"
        cuts = grid.beats[first_bar % step :: step]
    return Pulse(on, step, grid.period * step, tuple(cuts))


@dataclass(frozen=True)
class Rhythm:
    """Pacing resolved to seconds for one piece of music (or none)."""

    grid: BeatGrid | None  # set only when cuts snap to it
    pulse: Pulse | None  # the beats they snap to (set with grid)
    shot_range: tuple[float, float]
    transition: float  # seconds a non-cut transition lasts
    closing_hold: float  # extra seconds for the closing shot
    total: float  # seconds the video should last

    @classmethod
    def resolve(cls, template: Template, pacing: Pacing, grid: BeatGrid | None) -> Rhythm:
        """Beat sync needs a grid with a reliable beat; the total never outlasts the music."""
        total = pacing.target_length
        if grid is not None:
            total = min(total, grid.music_duration)
        if not (pacing.beat_sync and grid is not None and grid.reliable):
            return cls.at_period(template, pacing, None, total)
        pulse = pulse_of(grid, template)
        return cls.at_period(template, pacing, pulse.period, total, grid, pulse)

    @classmethod
    def at_period(cls, template: Template, pacing: Pacing, period: float | None, total: float,
                  grid: BeatGrid | None = None, pulse: Pulse | None = None) -> Rhythm:
        """In beats of `period` seconds, or in seconds when None. Phase 2 sizes clips with an
        assumed period before the music is analysed; Phase 3 passes its pulse's."""
        if period is None:
            return cls(None, None, pacing.shot_seconds, template.transition_seconds, 0.0, total)
        return cls(grid, pulse, (pacing.shot_beats[0] * period, pacing.shot_beats[1] * period),
                   template.transition_beats * period, template.closing_hold_beats * period, total)

    def shot_count_range(self) -> tuple[int, int]:
        """(fewest, most) shots that fill the total at lengths inside the range."""
        body = max(self.total - self.closing_hold, 0.0)
        lo, hi = self.shot_range
        return max(1, math.ceil(body / hi - 1e-9)), max(1, math.floor(body / lo + 1e-9))
