"""Clip sizing: the clips cover the target with transitions and beat snapping, within the caps."""

from __future__ import annotations

import pytest

from db.enums import MotionType as M
from tasks.domain.motions import MOTIONS
from tasks.domain.pacing import EDITING_BAND, Pacing, Rhythm
from tasks.domain.templates import get_template
from tasks.render.ltx2 import ltx_frame_count
from tasks.render.memory_plan import REFERENCE_SHAPE
from tasks.render.sizing import (
    LONGEST_CLIP_FRAMES,
    SLOWEST_PLANNED_TEMPO,
    FootageGoal,
    clip_cap,
    footage_goal,
    sized_durations,
)

MAX_SECONDS = {m: MOTIONS[m].max_seconds for m in M}


def covers(durations: list[float], goal: FootageGoal) -> bool:
    """The shots' footage: every clip once, less a transition between each two, less a snap each."""
    return sum(durations) - (len(durations) - 1) * goal.transition - len(durations) * goal.snap >= goal.target - 1e-9


def test_the_goal_assumes_the_slowest_editing_beat_or_the_jobs_bpm() -> None:
    standard = get_template("standard")
    assert SLOWEST_PLANNED_TEMPO == EDITING_BAND[0]
    goal = footage_goal(standard, 30.0, beat_sync=True, bpm=None, clips=8)
    assert goal == FootageGoal(30.0, 8, 0.75, 0.75)  # one beat at 80 BPM for the transition and the snap
    assert footage_goal(standard, 30.0, True, 120.0, 8) == FootageGoal(30.0, 8, 0.5, 0.5)
    assert footage_goal(standard, 30.0, False, 120.0, 8) == FootageGoal(30.0, 8, 0.6, 0.0)  # even pacing: no snap
    # luxury cuts on bar starts: a cut may move by up to a bar (4 beats) to reach one
    assert footage_goal(get_template("luxury"), 75.0, True, 120.0, 8).snap == 2.0
    # more clips than the pacing has shots: the goal is for the shots the timeline will keep
    most = Rhythm.at_period(standard, Pacing.from_template(standard, True, 30.0), 0.75, 30.0).shot_count_range()[1]
    assert footage_goal(standard, 30.0, True, None, 40).shots == most < 40


def test_the_generator_and_the_motion_cap_a_clip() -> None:
    assert ltx_frame_count(LONGEST_CLIP_FRAMES) == LONGEST_CLIP_FRAMES == REFERENCE_SHAPE[2]
    assert clip_cap(M.multi_image_synthesis, 30) == pytest.approx(161 / 30)  # LTX-2's longest generation
    assert clip_cap(M.micro_push_in, 15) == MAX_SECONDS[M.micro_push_in]  # at 15 fps the motion binds
    MOTION_DURATION_S = {m: MOTIONS[m].seconds for m in M}
    assert all(MAX_SECONDS[m] > MOTION_DURATION_S[m] for m in M)  # room to stretch every motion


def test_clips_grow_evenly_to_cover_the_target_in_whole_frames() -> None:
    goal = FootageGoal(30.0, 8, 0.75, 0.75)
    natural = [3.0, 4.0, 4.0, 3.0, 3.0, 3.5, 3.0, 3.5]
    sized = sized_durations(natural, [5.5] * 8, goal, 30)
    assert covers(sized, goal) and not covers(natural, goal)
    assert len(set(sized)) == 1 and sized[0] * 30 == pytest.approx(round(sized[0] * 30))
    assert sized[0] - goal.per_clip < 1 / 30


def test_clips_that_already_cover_it_keep_their_length() -> None:
    natural = [6.0, 7.0, 5.2]
    assert sized_durations(natural, [8.0] * 3, FootageGoal(10.0, 3, 0.5, 0.5), 30) == natural


def test_capped_clips_leave_the_rest_to_the_others() -> None:
    goal = FootageGoal(24.0, 4, 0.5, 0.5)
    sized = sized_durations([3.0] * 4, [4.0, 4.0, 10.0, 10.0], goal, 30)
    assert sized[:2] == [4.0, 4.0] and sized[2] == sized[3] > goal.per_clip
    assert covers(sized, goal)


def test_when_every_clip_is_capped_they_stop_at_their_caps() -> None:
    sized = sized_durations([3.0, 3.0], [5.5, 5.0], FootageGoal(60.0, 2, 0.5, 0.5), 15)
    assert sized == [82 / 15, 5.0]  # whole frames, never past the cap
