"""`create_video`: the one flow Rails asks for. It runs the phase subflows in order."""

from __future__ import annotations

import uuid

import structlog
from prefect import flow

from db.enums import Phase
from db.models import Job
from flows.artifacts import publish_index
from flows.logs import send_logs_to_prefect
from flows.naming import name_from_parameters, tagged_as
from flows.parameters import JobId
from flows.job_lock import job_lock
from flows.phases import PHASE_FLOWS, phases_of_one_run, run_owner, show
from flows.state import (
    JobCancelled,
    as_uuid,
    effective_stop,
    load_job,
    mark_finished,
    parse_phase,
    phases_to_run,
    raise_if_cancelled,
    record_stop_after,
    resume_phase,
)
from tasks.settings import get_settings

log = structlog.get_logger(__name__)


@flow(name="create-video", flow_run_name=name_from_parameters)
def create_video(job_id: JobId, start_phase: Phase | None = None, stop_after: Phase | None = None) -> dict:
    """Run the phases in order, from where the job's state says unless told.

    Args:
        job_id: The job's id (jobs.id).
        start_phase: The first phase to run; empty: where the job's state says.
        stop_after: The last phase to run; empty: the job's stored stop_after, else the end.

    One run works on a job at a time: a second one waits for the first (flows.job_lock) and
    then decides from the job's state as it is then, so a duplicate finds nothing left to do.
    """
    send_logs_to_prefect()
    job = load_job(job_id)
    with tagged_as(job), job_lock(job.id, run_owner("create-video"), get_settings().job_lock_wait_s):
        return _run_phases(load_job(job.id), parse_phase(start_phase), parse_phase(stop_after))


def _run_phases(job: Job, start_phase: Phase | None, stop_after: Phase | None) -> dict:
    start = start_phase or resume_phase(job.status, job.current_phase)
    stop = effective_stop(start, stop_after, job.stop_after)
    phases = phases_to_run(start, stop)
    if phases and stop != job.stop_after:
        record_stop_after(job.id, stop)
    bound = log.bind(job_id=str(job.id))
    if not phases:
        bound.info("create_video.nothing_to_do", status=job.status.value)
        return {"job_id": str(job.id), "phases": [], "status": job.status.value}
    bound.info("create_video.started", phases=[p.value for p in phases])
    try:
        with phases_of_one_run():
            for index, phase in enumerate(phases):
                if index:
                    raise_if_cancelled(job.id)
                PHASE_FLOWS[phase](job.id)
    except JobCancelled:
        bound.info("create_video.cancelled")
        return {"job_id": str(job.id), "phases": [p.value for p in phases], "status": "cancelled"}
    finally:
        show(publish_index, job.id)
    final = mark_finished(job.id, phases[-1])
    bound.info("create_video.finished", status=final.status.value)
    return {"job_id": str(job.id), "phases": [p.value for p in phases], "status": final.status.value}


def checked_request(job_id: str | uuid.UUID, start_phase: Phase | str | None = None,
                    stop_after: Phase | str | None = None) -> tuple[uuid.UUID, Phase | None, Phase | None]:
    """The run's arguments, checked before Prefect starts: a bad one gets a clear one-line
    reason and no half-started run."""
    load_job(job_id)
    start, stop = parse_phase(start_phase), parse_phase(stop_after)
    if start is not None:
        phases_to_run(start, stop)
    return as_uuid(job_id), start, stop


def run_create_video(job_id: str | uuid.UUID, start_phase: Phase | str | None = None,
                     stop_after: Phase | str | None = None) -> dict:
    return create_video(*checked_request(job_id, start_phase, stop_after))
