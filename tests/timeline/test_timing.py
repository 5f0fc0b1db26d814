"""Timing: cuts on beats, the total, trims inside clips, even pacing, silence, transitions."""

from __future__ import annotations

import dataclasses
import math
from itertools import pairwise

import numpy as np
import pytest

from db.enums import AudioPolicy, RoomType, TransitionType
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.pacing import Pacing, Rhythm
from tasks.domain.templates import get_template
from tasks.timeline.beats import beat_grid_from_audio
from tasks.timeline.compose import Composition, compose_timeline
from tasks.timeline.sequencing import Footage, Picks
from tasks.timeline.timing import ShotInput, ShotTiming, TimingError, plan_timing
from tests.timeline.audio_fixtures import click_track

ROOMS = [RoomType.front_exterior, RoomType.living_room, RoomType.kitchen, RoomType.dining_room, RoomType.bedroom,
         RoomType.bedroom, RoomType.bathroom, RoomType.office, RoomType.backyard, RoomType.pool]


def regular_grid(bpm: float, seconds: float, first: float = 0.25) -> BeatGrid:
    beats = tuple(round(first + k * 60 / bpm, 4) for k in range(int((seconds - first) * bpm / 60) + 1))
    return BeatGrid(bpm, beats, beats[::4], beats[::16], seconds, "test", 4)


@pytest.fixture(scope="module")
def detected_grid() -> BeatGrid:
    """A grid as librosa finds it: 126 BPM clicks, 70 s."""
    y, _ = click_track(126, seconds=70)
    return beat_grid_from_audio(y)


def footage(durations: list[float]) -> list[Footage]:
    return [Footage(i + 1, i + 1, ROOMS[i % len(ROOMS)], 100 + i, d, 0.5) for i, d in enumerate(durations)]


def compose(template: str, durations: list[float], grid: BeatGrid | None, target: float, *, sync: bool = True) -> Composition:
    t = get_template(template)
    clips = footage(durations)
    picks = Picks(clips[0].lead_photo_id, clips[-1].lead_photo_id)
    return compose_timeline(clips, picks, t, Pacing.from_template(t, sync, target), grid)


def check_contract(rows: list[ShotTiming], durations: dict[int, float], fps: int) -> None:
    """db.models.TimelineClip: shot i starts where shot i-1 ends less the transition into i."""
    assert rows[0].start_time == 0 and rows[0].transition is TransitionType.cut and rows[0].transition_duration == 0
    for prev, row in pairwise(rows):
        assert row.start_time == pytest.approx(prev.start_time + prev.length - row.transition_duration, abs=1e-5)
    for i, row in enumerate(rows):
        fade_out = rows[i + 1].transition_duration if i + 1 < len(rows) else 0.0
        assert row.transition_duration + fade_out <= row.length + 1e-6  # both transitions fit in it
        assert 0 <= row.in_time < row.out_time <= durations[row.clip_id] + 1e-6
        assert row.length == pytest.approx((row.out_time - row.in_time) / row.speed)
        for t in (row.in_time, row.length, row.start_time, row.transition_duration):
            assert abs(t * fps - round(t * fps)) < 1e-3, "times sit on the output frame grid"


def on_beat(t: float, beats: tuple[float, ...], fps: int) -> bool:
    return min(abs(np.asarray(beats) - t)) <= 1 / fps + 1e-9


@pytest.mark.parametrize(
    ("template", "target", "bpm"),
    [("standard", 45, 120), ("standard", 60, 97), ("social", 20, 128), ("luxury", 75, 84), ("square", 30, 140)],
)
def test_every_cut_on_a_beat_and_the_total_on_target(template: str, target: float, bpm: float) -> None:
    grid = regular_grid(bpm, 200)
    durations = [9.0 + (i % 3) for i in range(14)]
    c = compose(template, durations, grid, target)
    fps = get_template(template).fps
    assert abs(c.total_duration - target) <= 1 / fps
    for row in c.rows[1:]:
        assert on_beat(row.start_time, grid.beats, fps)
    check_contract(c.rows, {f.clip_id: f.duration for f in footage(durations)}, fps)
    lo, hi = get_template(template).shot_beats
    exclusive = np.diff([r.start_time for r in c.rows]) / (60 / bpm)
    assert np.all(exclusive >= lo - 0.05) and np.all(exclusive <= hi + 0.05)


def test_cuts_on_a_detected_grid(detected_grid: BeatGrid) -> None:
    c = compose("standard", [8.0] * 12, detected_grid, 50)
    assert abs(c.total_duration - 50) <= 1 / 30
    assert all(on_beat(r.start_time, detected_grid.beats, 30) for r in c.rows[1:])
    # transitions last whole beats here, so they also end on a beat
    assert all(on_beat(r.start_time + r.transition_duration, detected_grid.beats, 30) for r in c.rows[1:])


def jittered_grid(bpm: float, seconds: float, jitter: float = 0.015, first_bar: int = 0) -> BeatGrid:
    """A played grid: each beat up to `jitter` s off the metronome, so a cut computed from the
    tempo instead of taken from the stored beats misses them."""
    rng = np.random.default_rng(7)
    n = int((seconds - 0.5) * bpm / 60)
    beats = tuple(round(0.3 + k * 60 / bpm + rng.uniform(-jitter, jitter), 4) for k in range(n))
    positions = tuple((k - first_bar) % 4 + 1 for k in range(n))
    return BeatGrid(bpm, beats, beats[first_bar::4], beats[first_bar::16], seconds, "test", 4, positions=positions)


def on_stored_time(t: float, times: tuple[float, ...], fps: int) -> bool:
    """On the frame nearest a stored time (what the renderer can show)."""
    return any(abs(round(t * fps) - math.floor(b * fps + 0.5)) == 0 for b in times)


@pytest.mark.parametrize(("template", "bpm"), [("standard", 100), ("social", 128), ("square", 140), ("luxury", 90)])
def test_every_cut_is_a_stored_beat_time(template: str, bpm: float) -> None:
    grid = jittered_grid(bpm, 200)
    c = compose(template, [9.0 + (i % 3) for i in range(14)], grid, get_template(template).target_length)
    assert c.rhythm.pulse is not None and set(c.rhythm.pulse.cuts) <= set(grid.beats)
    for row in c.rows[1:]:
        assert on_stored_time(row.start_time, c.rhythm.pulse.cuts, 30), row.start_time


def test_luxury_cuts_land_on_bar_starts() -> None:
    grid = jittered_grid(84, 200)
    c = compose("luxury", [9.0 + i % 4 for i in range(12)], grid, 75)
    assert c.rhythm.pulse.on == "bar starts" and c.rhythm.pulse.cuts == grid.downbeats
    assert len(c.rows) > 4
    assert all(on_stored_time(r.start_time, grid.downbeats, 30) for r in c.rows[1:])


@pytest.mark.parametrize("first_bar", [0, 1])
def test_fast_music_is_cut_on_every_second_beat_not_on_a_halved_grid(first_bar: int) -> None:
    """176 BPM: shots are counted in pairs of beats, cuts on the bar-aligned half of the beats."""
    grid = jittered_grid(176, 200, first_bar=first_bar)
    c = compose("standard", [9.0] * 14, grid, 60)
    pulse = c.rhythm.pulse
    assert pulse.on == "every 2nd beat" and pulse.step == 2
    assert pulse.period == pytest.approx(2 * 60 / 176)
    assert pulse.cuts == grid.beats[first_bar::2]  # positions 1 and 3 of each bar
    assert all(on_stored_time(r.start_time, pulse.cuts, 30) for r in c.rows[1:])
    lo, hi = get_template("standard").shot_beats
    exclusive = np.diff([r.start_time for r in c.rows]) / pulse.period
    assert np.all(exclusive >= lo - 0.1) and np.all(exclusive <= hi + 0.1)


def test_music_without_a_reliable_beat_is_cut_evenly_and_says_so() -> None:
    grid = dataclasses.replace(regular_grid(120, 200), confidence=0.1, reliable=False, params={"min_confidence": 0.3})
    c = compose("standard", [9.0] * 10, grid, 45)
    assert c.rhythm.grid is None and c.rhythm.pulse is None
    lengths = np.diff([r.start_time for r in c.rows] + [c.total_duration])
    assert lengths.max() - lengths.min() <= 1 / 30 + 1e-5
    assert {r.audio_policy for r in c.rows} == {get_template("standard").audio_policy}  # the music still plays
    assert any("no reliable beat (confidence 0.10, under 0.3)" in n for n in c.notes)


def test_downbeats_are_preferred() -> None:
    grid = regular_grid(120, 200)
    c = compose("standard", [10.0] * 12, grid, 48)
    downbeat_cuts = [on_beat(r.start_time, grid.downbeats, 30) for r in c.rows[1:]]
    assert all(downbeat_cuts), downbeat_cuts


def test_total_is_the_music_length_when_the_music_is_shorter() -> None:
    grid = regular_grid(120, 37.3)
    c = compose("standard", [9.0] * 12, grid, 60)
    assert abs(c.total_duration - 37.3) <= 1 / 30
    assert any("music lasts 37.30 s" in n for n in c.notes)


def test_beat_sync_off_paces_evenly() -> None:
    grid = regular_grid(120, 200)
    c = compose("standard", [9.0] * 10, grid, 45, sync=False)
    assert c.rhythm.grid is None
    starts = [r.start_time for r in c.rows] + [c.total_duration]
    lengths = np.diff(starts)
    assert lengths.max() - lengths.min() <= 1 / 30 + 1e-5
    assert abs(c.total_duration - 45) <= 1 / 30
    assert c.rows[1].transition_duration == pytest.approx(get_template("standard").transition_seconds, abs=1 / 30)


def test_no_music_gives_a_silent_timeline_at_template_pacing() -> None:
    c = compose("standard", [9.0] * 20, None, 45)
    assert {r.audio_policy for r in c.rows} == {AudioPolicy.music_only}  # clip audio muted, and no music
    lo, hi = get_template("standard").shot_seconds
    lengths = np.diff([r.start_time for r in c.rows] + [c.total_duration])
    assert lengths.min() >= lo - 1 / 30 and lengths.max() <= hi + 1 / 30
    assert abs(c.total_duration - 45) <= 1 / 30
    assert len(c.rows) < 20  # the shots that fit, not every clip


def test_music_gives_the_templates_audio_policy() -> None:
    c = compose("standard", [9.0] * 10, regular_grid(120, 100), 45)
    assert {r.audio_policy for r in c.rows} == {get_template("standard").audio_policy}


def test_a_short_clip_is_never_asked_for_more_than_it_has() -> None:
    durations = [9.0, 1.2, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]
    for grid, sync in ((regular_grid(120, 200), True), (None, True), (regular_grid(120, 200), False)):
        c = compose("standard", durations, grid, 45, sync=sync)
        check_contract(c.rows, {f.clip_id: f.duration for f in footage(durations)}, 30)
        assert abs(c.total_duration - 45) <= 1 / 30


def test_too_little_footage_shortens_the_video_and_says_so() -> None:
    c = compose("standard", [3.0] * 5, regular_grid(120, 200), 60)
    assert 15 < c.total_duration < 15 / 0.8  # slowed to the floor first: longer than the footage, still short
    assert {r.speed for r in c.rows} == {0.8}
    assert any("footage fills only" in n and "shows no clip twice" in n and "slowed to 0.8x" in n for n in c.notes)
    assert c.fill == {"method": "shortened", "target": 60, "total": c.total_duration, "footage": 15.0, "repeats": 0,
                      "speed": 0.8}
    assert all(on_beat(r.start_time, regular_grid(120, 200).beats, 30) for r in c.rows[1:])


def test_social_repeats_clips_to_fill_its_length_from_other_parts_of_them() -> None:
    c = compose("social", [4.0] * 4, regular_grid(128, 100), 20)
    assert abs(c.total_duration - 20) <= 1 / 30
    assert len(c.rows) > 4 and c.fill["method"] == "repeats" and c.fill["repeats"] == len(c.rows) - 4
    assert all(a.clip_id != b.clip_id for a, b in pairwise(c.rows))  # never the same clip twice in a row
    repeated = [r for r in c.rows if sum(x.clip_id == r.clip_id for x in c.rows) > 1]
    assert repeated
    by_clip: dict[int, list[float]] = {}
    for r in repeated:
        by_clip.setdefault(r.clip_id, []).append(r.in_time)
    assert all(len(set(ins)) == len(ins) for ins in by_clip.values())  # another part of the clip each time


def test_standard_never_repeats() -> None:
    c = compose("standard", [4.0] * 4, regular_grid(128, 100), 60)
    assert len({r.clip_id for r in c.rows}) == len(c.rows)


@pytest.mark.parametrize("clips", [2, 3])
def test_a_tiny_listing_fills_a_repeating_template_without_a_clip_following_itself(clips: int) -> None:
    """Opening and closing only, or one room between them: the bookends take turns with it."""
    c = compose("square", [5.0] * clips, regular_grid(120, 100), 30)
    assert abs(c.total_duration - 30) <= 1 / 30 and c.fill["method"] == "repeats"
    assert all(a.clip_id != b.clip_id for a, b in pairwise(c.rows))
    assert c.rows[0].clip_id == 1 and c.rows[-1].clip_id == clips  # the bookends stay at the ends


def test_a_single_clip_cannot_repeat_so_the_video_is_shortened_and_says_so() -> None:
    c = compose("square", [5.0], regular_grid(120, 100), 30)
    assert len(c.rows) == 1 and c.fill["method"] == "shortened" and c.total_duration == round(187 / 30, 6)  # 150 frames at 0.8x: 187 whole
    assert any("never a clip right after itself" in n for n in c.notes)


def test_transitions_follow_the_template_rules() -> None:
    t = get_template("standard")
    clips = [Footage(1, 1, RoomType.front_exterior, 101, 9, 0.9), Footage(2, 1, RoomType.front_exterior, 102, 9, 0.5),
             Footage(3, 2, RoomType.kitchen, 103, 9, 0.5), Footage(4, 3, RoomType.backyard, 104, 9, 0.5)]
    c = compose_timeline(clips, Picks(101, 104), t, Pacing.from_template(t, True, 30), regular_grid(120, 100))
    assert [r.transition for r in c.rows] == [
        TransitionType.cut, t.same_room_transition, t.room_change_transition, t.closing_transition]
    assert c.rows[2].transition_duration == pytest.approx(t.transition_beats * 0.5, abs=1 / 30)


@pytest.mark.parametrize(("template", "durations", "target"),
                         [("luxury", [9.0 + i % 4 for i in range(12)], 75), ("standard", [5.0] * 12, 60)])
def test_the_rows_render_under_phase4s_frame_layout(template: str, durations: list[float], target: float) -> None:
    """Phase 4 reads exactly these rows, slowed ones included; its own checks accept them."""
    layout = pytest.importorskip("tasks.assemble.layout")
    c = compose(template, durations, regular_grid(92, 200), target)
    spec = layout.TimelineSpec(
        shots=tuple(layout.Shot(r.clip_id, None, r.in_time, r.out_time, r.start_time, r.transition,  # type: ignore[arg-type]
                                r.transition_duration, r.audio_policy, r.speed) for r in c.rows),
        fps=30, total_duration=c.total_duration,
    )
    spans = layout.frame_layout(spec)
    assert spans[-1].end == round(c.total_duration * 30)


def test_a_clip_without_a_frame_is_refused() -> None:
    rhythm = Rhythm.resolve(get_template("standard"), Pacing.from_template(get_template("standard"), False, 10), None)
    with pytest.raises(TimingError, match="clip 7"):
        plan_timing([ShotInput(7, 0.01, TransitionType.cut)], rhythm, 30, AudioPolicy.music_only)


def test_pacing_round_trips_as_json() -> None:
    pacing = Pacing.from_template(get_template("social"), True, 22.0)
    assert Pacing.from_json(pacing.to_json()) == pacing
    assert dataclasses.replace(pacing, beat_sync=False) != pacing
