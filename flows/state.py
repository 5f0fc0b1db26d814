"""The job state machine: which phases a run executes, and how the job row moves.

Postgres decides, Prefect only executes: a run with no explicit start phase resumes from
what the job row says, so a duplicated request or a crashed worker never redoes finished work.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from db.enums import PHASE_ORDER, JobStatus, Phase
from db.models import Job
from db.session import session_scope


class JobNotFound(LookupError):
    def __init__(self, job_id: object) -> None:
        super().__init__(f"no job with id {job_id}")


class PhaseOrderError(ValueError):
    """start_phase comes after stop_after."""


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


def _update(job_id: uuid.UUID | str, **fields: object) -> Job:
    with session_scope() as session:
        job = session.get(Job, as_uuid(job_id), with_for_update=True)
        if job is None:
            raise JobNotFound(job_id)
        for name, value in fields.items():
            setattr(job, name, value)
        job.updated_at = datetime.now(timezone.utc)
        session.add(job)
        return job


def mark_phase_started(job_id: uuid.UUID | str, phase: Phase) -> Job:
    return _update(job_id, status=JobStatus.running, current_phase=phase, error=None)


def mark_failed(job_id: uuid.UUID | str, phase: Phase, error: str) -> Job:
    return _update(job_id, status=JobStatus.failed, current_phase=phase, error=error)


def mark_finished(job_id: uuid.UUID | str, last_phase: Phase) -> Job:
    """After the last phase of a run: completed if that was assembly, else stopped there."""
    status = JobStatus.completed if last_phase is PHASE_ORDER[-1] else JobStatus.stopped
    return _update(job_id, status=status, current_phase=last_phase)


def record_stop_after(job_id: uuid.UUID | str, stop_after: Phase | None) -> Job:
    return _update(job_id, stop_after=stop_after)
