"""The job state machine: which phases a run executes, and how the job row moves.

Postgres decides, Prefect only executes: a run with no explicit start phase resumes from
what the job row says, so a duplicated request or a crashed worker never redoes finished work.
"""

from __future__ import annotations

import uuid
from typing import Any

from db.enums import PHASE_ORDER, EventType, JobStatus, Phase
from db.events import completed_data, record_event
from db.models import Job
from db.session import retry_db, session_scope


class JobNotFound(LookupError):
    def __init__(self, job_id: object) -> None:
        super().__init__(f"no job with id {job_id}")


class PhaseOrderError(ValueError):
    """start_phase comes after stop_after."""


class JobCancelled(RuntimeError):
    """The job was cancelled while this run worked on it; the run stops where it is."""

    def __init__(self, job_id: object) -> None:
        super().__init__(f"job {job_id} was cancelled")


def parse_phase(value: str | Phase | None) -> Phase | None:
    if value is None or value == "":
        return None
    try:
        return Phase(value)
    except ValueError:
        names = ", ".join(p.value for p in PHASE_ORDER)
        raise ValueError(f"unknown phase {value!r}; expected one of {names}") from None


def resume_phase(status: JobStatus, current_phase: Phase | None) -> Phase | None:
    """Where a run without an explicit start phase begins; None means nothing is left to do.

    `current_phase` is the phase last started. A stopped job finished it; a failed or
    crashed (still `running`) one did not, so that phase is run again.
    """
    if status is JobStatus.completed:
        return None
    # failed, cancelled, or crashed (still `running`): the phase it was in runs again
    if status is JobStatus.pending or current_phase is None:
        return Phase.analyze
    if status is JobStatus.stopped:
        index = PHASE_ORDER.index(current_phase)
        return PHASE_ORDER[index + 1] if index + 1 < len(PHASE_ORDER) else None
    return current_phase


def effective_stop(start: Phase | None, explicit: Phase | None, stored: Phase | None) -> Phase | None:
    """Where this run stops: the phase asked for now, else the job's stored `stop_after` while
    it still lies ahead (it is kept so a resumed run honours it); one already passed is stale."""
    if explicit is not None or start is None:
        return explicit
    if stored is not None and PHASE_ORDER.index(stored) >= PHASE_ORDER.index(start):
        return stored
    return None


def phases_to_run(start: Phase | None, stop_after: Phase | None) -> list[Phase]:
    """The contiguous slice of phases from `start` through `stop_after` (or the end)."""
    if start is None:
        return []
    first = PHASE_ORDER.index(start)
    last = PHASE_ORDER.index(stop_after) if stop_after else len(PHASE_ORDER) - 1
    if last < first:
        raise PhaseOrderError(f"start phase {start.value} comes after stop_after {stop_after.value}")
    return list(PHASE_ORDER[first : last + 1])


@retry_db
def load_job(job_id: uuid.UUID | str) -> Job:
    with session_scope() as session:
        job = session.get(Job, as_uuid(job_id))
        if job is None:
            raise JobNotFound(job_id)
        return job


def as_uuid(job_id: uuid.UUID | str) -> uuid.UUID:
    if isinstance(job_id, uuid.UUID):
        return job_id
    try:
        return uuid.UUID(str(job_id))
    except ValueError:
        raise JobNotFound(job_id) from None


@retry_db
def _update(job_id: uuid.UUID | str, event: EventType | None = None, *, keep_cancelled: bool = False,
            **fields: Any) -> Job:
    """Change the job row and write the event that reports it, in one transaction.

    `keep_cancelled`: a run that ends because its job was cancelled must not overwrite the
    cancellation with its own failed/finished state. `updated_at` is the trigger's to set.
    """
    with session_scope() as session:
        job = session.get(Job, as_uuid(job_id), with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        if keep_cancelled and job.status is JobStatus.cancelled:
            return job
        for name, value in fields.items():
            setattr(job, name, value)
        session.add(job)
        if event is not None:
            record_event(session, job, event, _event_data(job, event))
        return job


def _event_data(job: Job, event: EventType) -> dict[str, Any]:
    if event is EventType.job_completed:
        return completed_data(job)
    phase = job.current_phase.value if job.current_phase else None
    if event is EventType.job_failed:
        return {"phase": phase, "error": job.error or ""}
    return {"phase": phase}


def mark_phase_started(job_id: uuid.UUID | str, phase: Phase) -> Job:
    return _update(job_id, EventType.phase_started, status=JobStatus.running, current_phase=phase, error=None)


def mark_failed(job_id: uuid.UUID | str, phase: Phase, error: str) -> Job:
    return _update(job_id, EventType.job_failed, keep_cancelled=True,
                   status=JobStatus.failed, current_phase=phase, error=error)


def mark_finished(job_id: uuid.UUID | str, last_phase: Phase) -> Job:
    """After the last phase of a run: completed if that was assembly, else stopped there."""
    done = last_phase is PHASE_ORDER[-1]
    return _update(job_id, EventType.job_completed if done else EventType.job_stopped, keep_cancelled=True,
                   status=JobStatus.completed if done else JobStatus.stopped, current_phase=last_phase)


@retry_db
def mark_cancelled(job_id: uuid.UUID | str) -> Job | None:
    """Cancel the job; None when it has already completed (nothing to cancel). Cancelling a
    cancelled job again changes nothing and reports nothing, but returns it, so its runs can
    be stopped again (a first attempt may have failed half-way)."""
    with session_scope() as session:
        job = session.get(Job, as_uuid(job_id), with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        if job.status is JobStatus.completed:
            return None
        if job.status is not JobStatus.cancelled:
            job.status = JobStatus.cancelled
            session.add(job)
            record_event(session, job, EventType.job_cancelled, _event_data(job, EventType.job_cancelled))
        return job


def raise_if_cancelled(job_id: uuid.UUID | str) -> None:
    """Between steps of a run: every phase sets the job running, so `cancelled` now means this
    run's job was cancelled since, and the run should stop rather than carry on."""
    if load_job(job_id).status is JobStatus.cancelled:
        raise JobCancelled(job_id)


def record_stop_after(job_id: uuid.UUID | str, stop_after: Phase | None) -> Job:
    return _update(job_id, stop_after=stop_after)
