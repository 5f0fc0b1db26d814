"""Cancelling a job: the row says `cancelled` (with its event), and every run of the job stops.

Runs are found by the `job:<id>` tag every run of a job carries (the relay's create-video and
edit-video runs, the dispatcher's render-clip runs) and by the run the job row names. A run
on a worker goes to Cancelling, so its worker stops the process or ECS task (no GPU keeps
billing); a run not yet started, or one without a deployment, goes straight to Cancelled.
Runs with no worker to stop them (a local `picaivid run`) see the cancellation at their next
step (flows.state.raise_if_cancelled).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import structlog

from flows.state import as_uuid, mark_cancelled

log = structlog.get_logger(__name__)

STOPPABLE = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")


def job_tag(job_id: uuid.UUID | str) -> str:
    return f"job:{job_id}"


def cancel_flow_runs(job_id: uuid.UUID, also: list[str], reason: str) -> list[str]:
    """Stop every unfinished flow run of the job; returns the ids it stopped."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled, Cancelling

    active = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in STOPPABLE]))
    with get_client(sync_client=True) as client:
        runs = {r.id: r for r in client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)]), state=active))}
        ids = [uuid.UUID(i) for i in also if i]
        if ids:
            runs |= {r.id: r for r in client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids), state=active))}
        # parents first, so a parent cannot dispatch a new child after its children are stopped
        for run in sorted(runs.values(), key=lambda r: r.parent_task_run_id is not None):
            started = run.state is not None and run.state.type.value in ("PENDING", "RUNNING", "PAUSED")
            state = Cancelling(message=reason) if started and run.deployment_id else Cancelled(message=reason)
            client.set_flow_run_state(run.id, state, force=True)
    return [str(i) for i in runs]


@dataclass
class CancelResult:
    job_id: str
    cancelled: bool
    reason: str = ""
    stopped_runs: list[str] = field(default_factory=list)


def cancel_job(job_id: uuid.UUID | str) -> CancelResult:
    """Mark the job cancelled and stop its runs; a completed job is left alone."""
    jid = as_uuid(job_id)
    job = mark_cancelled(jid)
    if job is None:
        return CancelResult(str(jid), False, "the job has already completed: nothing to cancel")
    stopped = cancel_flow_runs(jid, [job.flow_run_id] if job.flow_run_id else [], f"job {jid} cancelled")
    log.info("job.cancelled", job_id=str(jid), stopped_runs=stopped)
    return CancelResult(str(jid), True, stopped_runs=stopped)
