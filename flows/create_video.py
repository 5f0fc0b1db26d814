"""`create_video`: the one flow Rails asks for. It runs the phase subflows in order."""

from __future__ import annotations

import structlog
from prefect import flow

from db.enums import Phase
from flows.job_lock import job_lock
from flows.phases import PHASE_FLOWS, phases_of_one_run, run_owner
from flows.state import (
    JobCancelled,
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


@flow(name="create-video", log_prints=True)
def create_video(job_id: str, start_phase: str | None = None, stop_after: str | None = None) -> dict:
    """Run phases from `start_phase` (default: where the job's state says) through
    `stop_after` (default: the job's stored stop_after, else the end).

    One run works on a job at a time: a second one waits for the first (flows.job_lock) and
    then decides from the job's state as it is then, so a duplicate finds nothing left to do.
    """
    with job_lock(load_job(job_id).id, run_owner("create-video"), get_settings().job_lock_wait_s):
        return _run_phases(job_id, start_phase, stop_after)


def _run_phases(job_id: str, start_phase: str | None, stop_after: str | None) -> dict:
    job = load_job(job_id)
    start = parse_phase(start_phase) or resume_phase(job.status, job.current_phase)
    stop = effective_stop(start, parse_phase(stop_after), job.stop_after)
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
                PHASE_FLOWS[phase](str(job.id))
    except JobCancelled:
        bound.info("create_video.cancelled")
        return {"job_id": str(job.id), "phases": [p.value for p in phases], "status": "cancelled"}
    final = mark_finished(job.id, phases[-1])
    bound.info("create_video.finished", status=final.status.value)
    return {"job_id": str(job.id), "phases": [p.value for p in phases], "status": final.status.value}


def run_create_video(job_id: str, start_phase: Phase | str | None = None, stop_after: Phase | str | None = None) -> dict:
    """Validate inputs before Prefect starts (clear errors, no half-started runs), then run."""
    load_job(job_id)
    start, stop = parse_phase(start_phase), parse_phase(stop_after)
    if start is not None:
        phases_to_run(start, stop)
    return create_video(
        str(job_id),
        start.value if start else None,
        stop.value if stop else None,
    )
