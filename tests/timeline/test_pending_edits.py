"""Rails' path for edits: pending rows, applied in id order as one new version, each marked
applied or rejected with a reason and an event, in the same transaction."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from db.enums import EditStatus
from db.events import job_events
from db.models import Edit, Timeline
from db.session import engine_for, session_scope
from tasks.timeline.edits import apply_pending_edits
from tasks.timeline.phase import run_timeline
from tasks.timeline.versions import read_version
from tests.timeline.rows import P, Room, Seeded, music_file, seed


@pytest.fixture
def job(db: str, store, tmp_path: Path) -> Seeded:
    rooms = [Room("front_exterior", [P("front", 0.8, duration=6.0)]), Room("kitchen", [P("kit", 0.9, duration=6.0)]),
             Room("bedroom", [P("bed", 0.6, duration=6.0)]), Room("bathroom", [P("bath", 0.5, duration=6.0)])]
    seeded = seed(store, rooms, music=music_file(tmp_path, 120.0, 40.0), target_length=16.0)
    run_timeline(seeded.job_id)
    return seeded


def rails_edit(db: str, timeline_id: int, edit_type: str, payload: str) -> int:
    """What ActiveRecord sends: the documented columns only."""
    with engine_for(db).begin() as conn:
        return conn.execute(sa.text(
            "INSERT INTO edits (timeline_id, edit_type, payload, user_id) VALUES (:t, :k, CAST(:p AS jsonb), 'agent-3') "
            "RETURNING id"), {"t": timeline_id, "k": edit_type, "p": payload}).scalar_one()


def newest(job: Seeded):
    with session_scope() as s:
        return read_version(s, job.job_id)


def edits(job: Seeded) -> dict[int, Edit]:
    with session_scope() as s:
        return {e.id: e for e in s.exec(select(Edit).order_by(Edit.id))}


def test_pending_edits_apply_in_order_as_one_version(job: Seeded, db: str) -> None:
    base, rows = newest(job)
    first = rails_edit(db, base.id, "reorder", '{"from_index": 0, "to_index": 2}')
    second = rails_edit(db, base.id, "remove_clip", '{"index": 0}')  # the shot that moved to 0
    result = apply_pending_edits(job.job_id)
    timeline, after = newest(job)
    assert (result.applied, result.rejected, result.version, timeline.version) == ([first, second], {}, 2, 2)
    order = [r.clip_id for r in rows]
    order.insert(2, order.pop(0))
    assert [r.clip_id for r in after] == order[1:]
    marked = edits(job)
    assert {e.status for e in marked.values()} == {EditStatus.applied}
    assert {e.result_timeline_id for e in marked.values()} == {timeline.id}
    assert all(e.applied_at is not None for e in marked.values())
    with session_scope() as s:
        sent = [(e["type"], e["data"]["edit_id"], e["data"]["timeline_version"]) for e in job_events(s, job.job_id)]
    assert sent == [("edit.applied", first, 2), ("edit.applied", second, 2)]
    assert apply_pending_edits(job.job_id).version is None  # nothing left: nothing new


def test_a_bad_edit_is_rejected_with_its_reason_and_the_ones_after_it_wait_for_nothing(job: Seeded, db: str) -> None:
    base, rows = newest(job)
    good = rails_edit(db, base.id, "trim", '{"index": 1, "out_time": 4.0}')
    bad = rails_edit(db, base.id, "remove_clip", '{"index": 40}')
    after_bad = rails_edit(db, base.id, "reorder", '{"from_index": 0, "to_index": 1}')
    result = apply_pending_edits(job.job_id)
    assert result.applied == [good] and result.version == 2
    assert result.rejected[bad].startswith("no shot at index 40")
    assert result.rejected[after_bad] == f"not applied: edit {bad} before it was rejected"
    marked = edits(job)
    assert (marked[bad].status, marked[bad].reason) == (EditStatus.rejected, result.rejected[bad])
    assert marked[after_bad].status is EditStatus.rejected and marked[after_bad].result_timeline_id is None
    with session_scope() as s:
        types = [(e["type"], e["data"]["edit_id"]) for e in job_events(s, job.job_id)]
    assert types == [("edit.applied", good), ("edit.rejected", bad), ("edit.rejected", after_bad)]


@pytest.mark.parametrize("edit_type,payload,reason", [
    ("trim", '{"index": 0, "in_time": 3, "out_time": 1}', "outside clip"),
    ("change_pacing", '{"shot_seconds": [5, 1]}', "shot_seconds"),
    ("reorder", '[1, 2]', "reorder"),
    ("swap_music", '{"music_uri": "s3://nowhere/none.mp3"}', "swap_music: s3://nowhere/none.mp3: a local store reads only file:///path URIs"),
])
def test_an_invalid_payload_changes_nothing(job: Seeded, db: str, edit_type: str, payload: str, reason: str) -> None:
    base, rows = newest(job)
    edit_id = rails_edit(db, base.id, edit_type, payload)
    result = apply_pending_edits(job.job_id)
    assert result.version is None and result.applied == []
    assert reason in result.rejected[edit_id]
    assert newest(job)[0].version == 1


def test_an_edit_against_an_older_version_is_rejected_not_lost(job: Seeded, db: str) -> None:
    base, _ = newest(job)
    rails_edit(db, base.id, "remove_clip", '{"index": 3}')
    apply_pending_edits(job.job_id)  # v2
    stale = rails_edit(db, base.id, "remove_clip", '{"index": 0}')  # the agent still looked at v1
    result = apply_pending_edits(job.job_id)
    assert result.rejected == {stale: "made against version 1, but the newest is v2; reload and edit again"}
    with session_scope() as s:
        assert s.exec(select(sa.func.count()).select_from(Timeline)).one() == 2


def test_an_edit_the_timeline_cannot_take_is_rejected_with_why(db: str, store, tmp_path: Path) -> None:
    seeded = seed(store, [Room("kitchen", [P("kit", 0.9)])])
    run_timeline(seeded.job_id)
    with session_scope() as s:
        timeline = s.exec(select(Timeline).where(Timeline.job_id == seeded.job_id)).one()
    edit_id = rails_edit(db, timeline.id, "remove_clip", '{"index": 0}')
    assert "leave the timeline empty" in apply_pending_edits(seeded.job_id).rejected[edit_id]
