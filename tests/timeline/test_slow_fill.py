"""Slow motion as the fill between footage and shortening: the fastest speed that fills, never
below the template's floor, every cut still on a beat."""

from __future__ import annotations

import dataclasses
from itertools import pairwise

import pytest

from tasks.domain.pacing import Pacing
from tasks.domain.templates import get_template
from tasks.timeline.compose import compose_timeline, fills, slower_speeds, timed_inputs
from tasks.timeline.sequencing import Picks
from tasks.timeline.timing import plan_timing
from tests.timeline.test_timing import (
    check_contract,
    compose,
    footage,
    on_beat,
    regular_grid,
)

GRID = regular_grid(120, 200)
SHORT = [5.0] * 12  # 60 s of footage, less the transitions: short of a 60 s standard video


def test_short_footage_is_slowed_just_enough_to_fill_with_every_cut_on_a_beat() -> None:
    c = compose("standard", SHORT, GRID, 60)
    assert c.fill["method"] == "slowed" and 0.8 <= c.speed < 1
    assert {r.speed for r in c.rows} == {c.speed}  # one speed for every shot
    assert abs(c.total_duration - 60) <= 1 / 30
    assert all(on_beat(r.start_time, GRID.beats, 30) for r in c.rows[1:])
    check_contract(c.rows, {f.clip_id: f.duration for f in footage(SHORT)}, 30)
    # the smallest slow-down: a hundredth faster no longer fills
    faster = [dataclasses.replace(s, speed=round(c.speed + 0.01, 2)) for s in timed_inputs(c.shots, get_template("standard"))]
    rows = plan_timing(faster, c.rhythm, 30, c.rows[0].audio_policy)
    assert not fills(rows, c.rhythm, 30)


def test_enough_footage_plays_at_full_speed() -> None:
    c = compose("standard", [9.0] * 14, GRID, 60)
    assert c.fill["method"] == "footage" and {r.speed for r in c.rows} == {1.0} and c.fill["speed"] == 1.0


def test_even_pacing_is_slowed_too() -> None:
    c = compose("standard", SHORT, GRID, 60, sync=False)
    assert c.fill["method"] == "slowed" and abs(c.total_duration - 60) <= 1 / 30
    lengths = [b.start_time - a.start_time for a, b in pairwise(c.rows)]
    assert max(lengths) - min(lengths) <= 1 / 30 + 1e-6


@pytest.mark.parametrize("floor", [0.95, 1.0])
def test_the_floor_is_never_crossed_and_only_then_is_the_video_shortened(floor: float) -> None:
    """At 0.9 these clips fill 60 s; a template that stops at `floor` shortens at its floor."""
    t = dataclasses.replace(get_template("standard"), min_playback_speed=floor)
    clips = footage(SHORT)
    c = compose_timeline(clips, Picks(clips[0].lead_photo_id, clips[-1].lead_photo_id), t, Pacing.from_template(t, True, 60), GRID)
    assert c.fill["method"] == "shortened" and c.speed == floor and c.total_duration < 60 - 1 / 30
    assert any("footage fills only" in n and f"slowed to {floor:g}x" in n for n in c.notes)
    assert all(on_beat(r.start_time, GRID.beats, 30) for r in c.rows[1:])


def test_speeds_are_hundredths_down_to_the_floor() -> None:
    assert slower_speeds(0.8) == [round(1 - k / 100, 2) for k in range(1, 21)]
    assert slower_speeds(1.0) == []


@pytest.mark.parametrize("floor", [0.0, 1.2])
def test_a_template_floor_outside_zero_to_one_is_refused(floor: float) -> None:
    with pytest.raises(ValueError, match="min_playback_speed"):
        dataclasses.replace(get_template("standard"), min_playback_speed=floor)
