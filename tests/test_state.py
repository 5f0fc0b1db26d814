"""The job state machine's decisions (pure) and its row transitions (real PostgreSQL)."""

from __future__ import annotations

import pytest

from db.enums import JobStatus, Phase
from db.events import job_events
from flows.state import (
    JobCancelled,
    JobNotFound,
    PhaseOrderError,
    load_job,
    mark_cancelled,
    mark_failed,
    mark_finished,
    mark_phase_started,
    parse_phase,
    phases_to_run,
    raise_if_cancelled,
    resume_phase,
)

A, R, T, S = Phase.analyze, Phase.render, Phase.timeline, Phase.assemble


@pytest.mark.parametrize(
    "status,current,expected",
    [
        (JobStatus.pending, None, A),
        (JobStatus.running, R, R),  # crashed mid-render: render again
        (JobStatus.failed, T, T),
        (JobStatus.cancelled, R, R),  # cancelled mid-render: a later run renders what is left
        (JobStatus.stopped, A, R),  # stopped after analyze: carry on with render
        (JobStatus.stopped, T, S),
        (JobStatus.stopped, S, None),
        (JobStatus.completed, S, None),  # a duplicate request does nothing
    ],
)
def test_resume_phase(status: JobStatus, current: Phase | None, expected: Phase | None) -> None:
    assert resume_phase(status, current) == expected


def test_phases_to_run() -> None:
    assert phases_to_run(A, None) == [A, R, T, S]
    assert phases_to_run(R, T) == [R, T]
    assert phases_to_run(S, S) == [S]
    assert phases_to_run(None, T) == []
    with pytest.raises(PhaseOrderError, match="comes after"):
        phases_to_run(S, A)


def test_effective_stop() -> None:
    from flows.state import effective_stop

    assert effective_stop(A, T, S) is T  # asked for now wins
    assert effective_stop(A, None, R) is R  # stored and still ahead: honoured on resume
    assert effective_stop(R, None, R) is R
    assert effective_stop(T, None, A) is None  # stored but passed: stale
    assert effective_stop(None, None, A) is None


def test_parse_phase_names_the_choices() -> None:
    assert parse_phase("render") is R
    assert parse_phase(None) is None
    with pytest.raises(ValueError, match="analyze, render, timeline, assemble"):
        parse_phase("paint")


def test_row_transitions(db: str) -> None:
    from db.models import Job
    from db.session import session_scope

    with session_scope() as s:
        job = Job(listing_id="L-1", final_video_uri="s3://out/final.mp4",
                  final_video_facts={"duration": 30.0, "format": "16x9", "timeline_version": 1})
        s.add(job)
    mark_phase_started(job.id, A)
    assert (load_job(job.id).status, load_job(job.id).current_phase) == (JobStatus.running, A)
    mark_failed(job.id, A, "boom")
    failed = load_job(job.id)
    assert (failed.status, failed.error) == (JobStatus.failed, "boom")
    mark_phase_started(job.id, A)
    assert load_job(job.id).error is None  # a new attempt clears the old error
    assert mark_finished(job.id, T).status is JobStatus.stopped
    assert mark_finished(job.id, S).status is JobStatus.completed
    with session_scope() as s:
        events = job_events(s, job.id)
    assert [(e["type"], e["data"].get("phase")) for e in events] == [
        ("phase.started", "analyze"), ("job.failed", "analyze"), ("phase.started", "analyze"),
        ("job.stopped", "timeline"), ("job.completed", None)]
    assert events[1]["data"]["error"] == "boom"
    assert events[-1]["data"] == {"final_video_uri": "s3://out/final.mp4", "duration": 30.0, "format": "16x9",
                                  "formats": {"16x9": "s3://out/final.mp4"}, "timeline_version": 1}
    assert {e["listing_id"] for e in events} == {"L-1"} and len({e["event_id"] for e in events}) == 5


def test_cancel_keeps_its_state_against_a_dying_run(db: str) -> None:
    """A run stopped by a cancel must not overwrite `cancelled` with its own failed/finished."""
    from db.models import Job
    from db.session import session_scope

    with session_scope() as s:
        job = Job()
        s.add(job)
    mark_phase_started(job.id, R)
    assert mark_cancelled(job.id).status is JobStatus.cancelled
    assert mark_cancelled(job.id).status is JobStatus.cancelled  # again: no second event
    with pytest.raises(JobCancelled):
        raise_if_cancelled(job.id)
    mark_failed(job.id, R, "killed")
    mark_finished(job.id, R)
    after = load_job(job.id)
    assert (after.status, after.current_phase, after.error) == (JobStatus.cancelled, R, None)
    assert resume_phase(after.status, after.current_phase) is R  # a later run resumes the phase
    mark_phase_started(job.id, R)
    raise_if_cancelled(job.id)  # the new run is not cancelled
    with session_scope() as s:
        assert [e["type"] for e in job_events(s, job.id)] == ["phase.started", "job.cancelled", "phase.started"]


def test_unknown_job(db: str) -> None:
    with pytest.raises(JobNotFound, match="no job with id"):
        load_job("00000000-0000-0000-0000-000000000000")
    with pytest.raises(JobNotFound):
        load_job("not-a-uuid")
