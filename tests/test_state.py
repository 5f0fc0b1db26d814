"""The job state machine's decisions (pure) and its row transitions (real PostgreSQL)."""

from __future__ import annotations

import pytest

from db.enums import JobStatus, Phase
from flows.state import (
    JobNotFound,
    PhaseOrderError,
    load_job,
    mark_failed,
    mark_finished,
    mark_phase_started,
    parse_phase,
    phases_to_run,
    resume_phase,
)

A, R, T, S = Phase.analyze, Phase.render, Phase.timeline, Phase.assemble


@pytest.mark.parametrize(
    "status,current,expected",
    [
        (JobStatus.pending, None, A),
        (JobStatus.running, R, R),  # crashed mid-render: render again
        (JobStatus.failed, T, T),
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
        job = Job()
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


def test_unknown_job(db: str) -> None:
    with pytest.raises(JobNotFound, match="no job with id"):
        load_job("00000000-0000-0000-0000-000000000000")
    with pytest.raises(JobNotFound):
        load_job("not-a-uuid")
