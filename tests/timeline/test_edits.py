"""Every edit type writes a new version and an `edits` row; every refusal changes nothing."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import func, select

from db.enums import AudioPolicy, EditType, TimelineStatus, TransitionType
from db.models import Edit, Timeline
from db.session import session_scope
from tasks.storage import keys
from tasks.timeline.edits import EditRefused, apply_edit
from tasks.timeline.phase import run_timeline
from tasks.timeline.versions import read_version
from tests.timeline.rows import P, Room, Seeded, music_file, seed

FRAME = 1 / 30


def house() -> list[Room]:
    return [
        Room("front_exterior", [P("front", 0.8, duration=6.0)]),
        Room("living_room", [P("living", 0.6, duration=6.0)]),
        Room("kitchen", [P("kit1", 0.9, duration=6.0), P("kit2", 0.5, duration=6.0)]),
        Room("bedroom", [P("bed", 0.6, duration=6.0)]),
        Room("bathroom", [P("bath", 0.5, duration=6.0)]),
        Room("backyard", [P("yard", 0.55, duration=6.0)]),
    ]


@pytest.fixture
def job(db: str, store, tmp_path: Path) -> Seeded:
    seeded = seed(store, house(), music=music_file(tmp_path, 120.0, 40.0), target_length=24.0)
    run_timeline(seeded.job_id)
    return seeded


def newest(job: Seeded, version: int | None = None):
    with session_scope() as s:
        return read_version(s, job.job_id, version)


def counts(job: Seeded) -> tuple[int, int]:
    with session_scope() as s:
        versions = s.exec(select(func.count()).select_from(Timeline).where(Timeline.job_id == job.job_id)).one()
        edits = s.exec(select(func.count()).select_from(Edit).join(Timeline, Timeline.id == Edit.timeline_id)
                       .where(Timeline.job_id == job.job_id)).one()
    return versions, edits


def assert_valid(timeline: Timeline, rows, beats: np.ndarray | None) -> None:
    """The TimelineClip contract, and with beat sync every cut on a beat."""
    assert rows[0].start_time == 0 and rows[0].transition is TransitionType.cut
    for prev, row in pairwise(rows):
        assert row.start_time == pytest.approx(prev.start_time + prev.length - row.transition_duration, abs=1e-5)
        if beats is not None:
            assert min(abs(beats - row.start_time)) <= FRAME
    last = rows[-1]
    assert timeline.total_duration == pytest.approx(last.start_time + last.length, abs=1e-5)


def test_reorder(job: Seeded) -> None:
    base, before = newest(job)
    result = apply_edit(job.job_id, "reorder", {"from_index": 1, "to_index": 4}, user_id="agent-7")
    timeline, rows = newest(job)
    assert (result["base_version"], result["version"], timeline.version) == (1, 2, 2)
    moved = [r.clip_id for r in before]
    moved.insert(4, moved.pop(1))
    assert [r.clip_id for r in rows] == moved
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))
    assert timeline.status is TimelineStatus.ready
    with session_scope() as s:
        edit = s.exec(select(Edit)).one()
    assert (edit.edit_type, edit.user_id, edit.timeline_id, edit.result_timeline_id) == (
        EditType.reorder, "agent-7", base.id, timeline.id)
    assert edit.payload == {"from_index": 1, "to_index": 4, "applied": {}}
    assert newest(job, 1)[1] == before  # the old version is kept as it was


def test_reorder_to_the_front_makes_the_new_first_shot_a_cut(job: Seeded) -> None:
    apply_edit(job.job_id, "reorder", {"from_index": 3, "to_index": 0})
    timeline, rows = newest(job)
    assert rows[0].transition is TransitionType.cut and rows[0].transition_duration == 0
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))


def test_trim_snaps_the_end_to_a_beat_and_keeps_the_in_point(job: Seeded) -> None:
    _, before = newest(job)
    result = apply_edit(job.job_id, "trim", {"index": 2, "in_time": 0.5, "out_time": 3.3})
    timeline, rows = newest(job)
    assert rows[2].in_time == pytest.approx(0.5, abs=FRAME)
    assert result["applied"] == {"in_time": rows[2].in_time, "out_time": rows[2].out_time}
    assert abs(rows[2].out_time - 3.3) <= 0.25 + FRAME  # at most half a beat from what was asked
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))
    assert [r.clip_id for r in rows] == [r.clip_id for r in before]


def test_trim_without_beat_sync_is_exact(job: Seeded) -> None:
    apply_edit(job.job_id, "change_pacing", {"beat_sync": False})
    apply_edit(job.job_id, "trim", {"index": 1, "in_time": 1.0, "out_time": 3.9})
    timeline, rows = newest(job)
    assert (rows[1].in_time, rows[1].out_time) == (pytest.approx(1.0), pytest.approx(3.9))
    assert_valid(timeline, rows, None)


def test_change_transition_keeps_every_start_time(job: Seeded) -> None:
    _, before = newest(job)
    apply_edit(job.job_id, "change_transition", {"index": 2, "transition": "dissolve", "duration": 1.0})
    timeline, rows = newest(job)
    assert (rows[2].transition, rows[2].transition_duration) == (TransitionType.dissolve, pytest.approx(1.0))
    assert [r.start_time for r in rows] == [r.start_time for r in before]
    assert rows[1].out_time - rows[1].in_time == pytest.approx(before[1].out_time - before[1].in_time + 1.0 - before[2].transition_duration)
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))
    apply_edit(job.job_id, "change_transition", {"index": 2, "transition": "cut"})
    assert newest(job)[1][2].transition_duration == 0


def test_change_transition_defaults_to_the_templates_length(job: Seeded) -> None:
    apply_edit(job.job_id, "change_transition", {"index": 1, "transition": "wipeleft"})
    _, rows = newest(job)
    assert rows[1].transition_duration == pytest.approx(0.5, abs=FRAME)  # 1 beat at 120 BPM


def test_remove_clip(job: Seeded) -> None:
    before_tl, before = newest(job)
    result = apply_edit(job.job_id, "remove_clip", {"index": 2})
    timeline, rows = newest(job)
    assert [r.clip_id for r in rows] == [r.clip_id for i, r in enumerate(before) if i != 2]
    assert result["applied"] == {"removed_clip_id": before[2].clip_id}
    assert timeline.total_duration < before_tl.total_duration
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))


def test_swap_music_recuts_to_the_new_beats(job: Seeded, store, tmp_path: Path) -> None:
    uri = store.put_file(keys.music(job.job_id, "slower.wav"), music_file(tmp_path, 100.0, 40.0))
    _, before = newest(job)
    result = apply_edit(job.job_id, "swap_music", {"music_uri": uri})
    timeline, rows = newest(job)
    assert timeline.music_uri == uri and result["applied"]["tempo"] == pytest.approx(100, rel=0.02)
    assert timeline.beat_grid["tempo"] == pytest.approx(100, rel=0.02)
    assert [r.clip_id for r in rows] == [r.clip_id for r in before]
    assert [r.transition for r in rows] == [r.transition for r in before]
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))
    assert abs(timeline.total_duration - 24.0) <= FRAME


def test_swap_music_to_none_is_silent(job: Seeded) -> None:
    apply_edit(job.job_id, "swap_music", {"music_uri": None})
    timeline, rows = newest(job)
    assert timeline.music_uri is None and "beats" not in timeline.beat_grid
    assert {r.audio_policy for r in rows} == {AudioPolicy.music_only}
    with session_scope() as s:
        assert s.exec(select(Edit)).one().payload == {"music_uri": None, "bpm": None, "beat_offset": None, "applied": {"tempo": None}}


def test_change_pacing_shorter_shots_shorten_the_same_shots(job: Seeded) -> None:
    before_tl, before = newest(job)
    apply_edit(job.job_id, "change_pacing", {"shot_beats": [2, 4]})
    timeline, rows = newest(job)
    assert [r.clip_id for r in rows] == [r.clip_id for r in before]
    exclusive = np.diff([r.start_time for r in rows]) / 0.5  # in beats at 120 BPM
    assert exclusive[1:].max() <= 4 + 0.1  # between cuts; the first shot also covers the music's lead-in
    assert timeline.total_duration < before_tl.total_duration
    assert timeline.beat_grid["pacing"]["shot_beats"] == [2, 4]
    assert timeline.beat_grid["pacing"]["target_length"] == pytest.approx(timeline.total_duration, abs=0.01)
    assert_valid(timeline, rows, np.array(timeline.beat_grid["beats"]))


def test_change_pacing_target_length_and_even_pacing(job: Seeded) -> None:
    apply_edit(job.job_id, "change_pacing", {"beat_sync": False, "target_length": 20.0})
    timeline, rows = newest(job)
    assert abs(timeline.total_duration - 20.0) <= FRAME
    lengths = np.diff([r.start_time for r in rows] + [timeline.total_duration])
    assert lengths.max() - lengths.min() <= FRAME + 1e-5
    assert timeline.beat_grid["pacing"]["beat_sync"] is False and "beats" in timeline.beat_grid


def test_every_edit_is_recorded_in_order_and_every_version_kept(job: Seeded) -> None:
    for kind, payload in [("reorder", {"from_index": 0, "to_index": 1}), ("remove_clip", {"index": 3}),
                          ("change_pacing", {"beat_sync": False})]:
        apply_edit(job.job_id, kind, payload)
    with session_scope() as s:
        edits = s.exec(select(Edit).order_by(Edit.id)).all()
        versions = s.exec(select(Timeline).where(Timeline.job_id == job.job_id).order_by(Timeline.version)).all()
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert [e.edit_type.value for e in edits] == ["reorder", "remove_clip", "change_pacing"]
    assert [(e.timeline_id, e.result_timeline_id) for e in edits] == [(versions[i].id, versions[i + 1].id) for i in range(3)]


REFUSALS = [
    ("reorder", {"from_index": 0, "to_index": 42}, "no shot at index 42"),
    ("reorder", {"from_index": 2, "to_index": 2}, "already at index 2"),
    ("trim", {"index": 42, "in_time": 0.0}, "no shot at index 42"),
    ("trim", {"index": 1, "out_time": 9.0}, "outside clip .*0-6 s"),
    ("trim", {"index": 1, "in_time": 3.0, "out_time": 2.0}, "outside clip"),
    ("trim", {"index": 1}, "give in_time, out_time or both"),
    ("trim", {"index": 2, "in_time": 1.0, "out_time": 1.2}, "shorter than its transitions"),
    ("trim", {"index": 1, "in_time": -1.0}, "in_time: Input should be greater than or equal to 0"),
    ("change_transition", {"index": 0, "transition": "fade"}, "first shot always starts with a cut"),
    ("change_transition", {"index": 1, "transition": "spin"}, "transition: Input should be"),
    ("change_transition", {"index": 2, "transition": "fade", "duration": 0.01}, "shorter than a frame"),
    ("change_transition", {"index": 2, "transition": "fade", "duration": 5.0}, "longer than shot 2"),
    ("change_transition", {"index": 0, "transition": "cut"}, "already has a 0 s cut"),
    ("remove_clip", {"index": 9}, "no shot at index 9"),
    ("remove_clip", {"index": 1, "clip_id": 3}, "clip_id: Extra inputs are not permitted"),
    ("swap_music", {"music_uri": "file:///nowhere/song.mp3"}, "swap_music: .*outside the allowed folders|no music at"),
    ("change_pacing", {}, "give beat_sync, shot_beats, shot_seconds or target_length"),
    ("change_pacing", {"shot_beats": [8, 4]}, "shortest <= longest"),
    ("change_pacing", {"beat_sync": True}, "the pacing is already that"),
    ("rewind", {}, "unknown edit type 'rewind'"),
]


def test_invalid_edits_are_refused_and_change_nothing(job: Seeded) -> None:
    """All against one job: a refusal leaves nothing behind for the next one to trip over."""
    before = counts(job), newest(job)
    for kind, payload, message in REFUSALS:
        try:
            apply_edit(job.job_id, kind, payload)
        except EditRefused as err:
            assert re.search(message, str(err)), f"{kind} {payload}: {err}"
        else:
            pytest.fail(f"{kind} {payload} was not refused")
        assert (counts(job), newest(job)) == before, (kind, payload)


def test_music_that_is_not_audio_is_refused(job: Seeded, store) -> None:
    uri = store.put_bytes(keys.music(job.job_id, "broken.mp3"), b"not audio at all")
    before = counts(job)
    with pytest.raises(EditRefused, match="broken.mp3: not a readable audio file"):
        apply_edit(job.job_id, "swap_music", {"music_uri": uri})
    assert counts(job) == before


def test_a_stale_base_version_is_refused(job: Seeded) -> None:
    apply_edit(job.job_id, "remove_clip", {"index": 1}, base_version=1)
    with pytest.raises(EditRefused, match="version 1 is not the newest \\(v2\\)"):
        apply_edit(job.job_id, "remove_clip", {"index": 1}, base_version=1)
    assert counts(job) == (2, 1)


def test_removing_the_only_shot_is_refused(db: str, store) -> None:
    one = seed(store, [Room("kitchen", [P("kit")])], target_length=5.0)
    run_timeline(one.job_id)
    with pytest.raises(EditRefused, match="leave the timeline empty"):
        apply_edit(one.job_id, "remove_clip", {"index": 0})
    assert counts(one) == (1, 0)


def test_beat_sync_needs_music(db: str, store) -> None:
    silent = seed(store, house(), target_length=20.0, enable_beat_sync=False)
    run_timeline(silent.job_id)
    with pytest.raises(EditRefused, match="beat sync needs music"):
        apply_edit(silent.job_id, "change_pacing", {"beat_sync": True})


def test_a_job_without_a_timeline_or_with_an_empty_one_is_refused(db: str, store) -> None:
    bare = seed(store, house())
    with pytest.raises(EditRefused, match="has no timeline yet \\(run Phase 3 first\\)"):
        apply_edit(bare.job_id, "remove_clip", {"index": 0})
    with session_scope() as s:
        s.add(Timeline(job_id=bare.job_id, version=1, total_duration=0.0, template_type="standard"))
    with pytest.raises(EditRefused, match="version 1 has no shots: nothing to edit"):
        apply_edit(bare.job_id, "reorder", {"from_index": 0, "to_index": 1})
    assert counts(bare) == (1, 0)
