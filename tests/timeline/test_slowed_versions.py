"""A slowed timeline through Postgres: the speed is stored, shown, and kept by every edit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from flows.cli.timeline import app
from tasks.timeline.edits import EditRefused, apply_edit
from tasks.timeline.phase import run_timeline
from tasks.timeline.versions import describe_version
from tests.timeline.rows import P, Room, Seeded, music_file, seed
from tests.timeline.test_edits import assert_valid, newest

FRAME = 1 / 30


@pytest.fixture
def job(db: str, store, tmp_path: Path) -> Seeded:
    """Six 6 s clips for a 40 s standard video: full speed falls short, slow motion fills it."""
    rooms = [Room(kind, [P(kind, 0.6, duration=6.0)])
             for kind in ("front_exterior", "living_room", "kitchen", "bedroom", "bathroom", "backyard")]
    seeded = seed(store, rooms, music=music_file(tmp_path, 120.0, 60.0), target_length=40.0)
    run_timeline(seeded.job_id)
    return seeded


def test_the_speed_round_trips_and_the_fill_says_slowed(job: Seeded) -> None:
    timeline, rows = newest(job)
    fill = timeline.beat_grid["fill"]
    assert fill["method"] == "slowed" and 0.8 <= fill["speed"] < 1
    assert {r.speed for r in rows} == {fill["speed"]}
    assert abs(timeline.total_duration - 40) <= FRAME
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))
    assert all(r.out_time <= 6.0 + 1e-6 for r in rows)  # trims stay in the rendered clip
    assert [s["speed"] for s in describe_version(job.job_id)["shots"]] == [r.speed for r in rows]
    shown = CliRunner().invoke(app, ["show", str(job.job_id)])
    assert shown.exit_code == 0 and f"{fill['speed']:g}x" in shown.stdout


@pytest.mark.parametrize(
    ("edit", "payload"),
    [("reorder", {"from_index": 1, "to_index": 3}), ("remove_clip", {"index": 2}),
     ("change_transition", {"index": 2, "transition": "cut"}), ("change_pacing", {"shot_beats": [4, 10]})],
)
def test_edits_keep_the_speed(job: Seeded, edit: str, payload: dict) -> None:
    _, before = newest(job)
    apply_edit(job.job_id, edit, payload)
    timeline, rows = newest(job)
    assert {r.speed for r in rows} == {before[0].speed} and before[0].speed < 1
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))


def test_a_trim_is_in_source_seconds_and_lasts_its_length_over_the_speed(job: Seeded) -> None:
    apply_edit(job.job_id, "change_pacing", {"beat_sync": False})
    _, before = newest(job)
    apply_edit(job.job_id, "trim", {"index": 1, "in_time": 1.0, "out_time": 5.8})
    timeline, rows = newest(job)
    speed = before[1].speed
    assert (rows[1].in_time, rows[1].speed) == (pytest.approx(1.0), speed)
    # the on-screen length is whole output frames, so the out point moves by under a frame
    assert rows[1].length == pytest.approx(round(4.8 / speed * 30) / 30, abs=1e-5)
    assert abs(rows[1].out_time - 5.8) <= FRAME * speed / 2 + 1e-6
    assert rows[2].start_time - rows[1].start_time == pytest.approx(rows[1].length - rows[2].transition_duration, abs=1e-5)
    assert_valid(timeline, rows, None)
    with pytest.raises(EditRefused, match="outside clip"):  # checked against the rendered 6 s, not 6 / speed
        apply_edit(job.job_id, "trim", {"index": 1, "out_time": 6.5})
