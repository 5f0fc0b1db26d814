"""What a flow run is called and tagged, so the Prefect UI's filters find one job's runs.

Every run of a job carries `job:<uuid>` and `listing:<id>` (and `message:<sqs id>` when the
relay started it). A flow tags its own run when it starts, since a run started from the UI or
`prefect deployment run` has no tags, and then runs its work inside Prefect's tag context:
the phase subflows and stage tasks it starts inherit the tags, and the dispatcher hands them
to each GPU clip run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from db.models import Job

CARRIED = ("job:", "listing:", "message:")  # the tag kinds a run passes on to the runs it starts
SEPARATOR = " · "


def short_id(job_id: uuid.UUID | str) -> str:
    return str(job_id)[:8]


def job_tags(job: Job) -> list[str]:
    return [f"job:{job.id}"] + ([f"listing:{job.listing_id}"] if job.listing_id else [])


def message_tag(message_id: str) -> str:
    return f"message:{message_id}"


def run_name(what: str, job: Job, *details: str) -> str:
    """`analyze · <listing> · <job short id>`, details (a format, `preview`) after."""
    return SEPARATOR.join([what, job.listing_id or "no listing", short_id(job.id), *details])


def clip_run_name(clip_id: int, attempt: int) -> str:
    return f"clip {clip_id} try {attempt}"


def name_from_parameters() -> str:
    """A flow's `flow_run_name`: the flow's name, the job's listing and short id, read from the
    run's own parameters (Prefect calls this as the run starts)."""
    from prefect.runtime import flow_run

    from flows.state import JobNotFound, load_job

    params = flow_run.parameters
    details = ([str(params["fmt"])] if params.get("fmt") else []) + (["preview"] if params.get("preview") else [])
    try:
        job = load_job(params["job_id"])
    except JobNotFound:  # the flow itself fails with the reason; the name just says what was asked
        return SEPARATOR.join([flow_run.flow_name, "unknown job", short_id(params["job_id"])])
    return run_name(flow_run.flow_name, job, *details)


def carried_tags() -> list[str]:
    """The job's tags in Prefect's tag context, for a run started through a deployment
    (run_deployment does not read the context itself)."""
    from prefect.context import TagsContext

    return sorted(t for t in TagsContext.get().current_tags if t.startswith(CARRIED))


@contextmanager
def tagged_as(job: Job) -> Iterator[list[str]]:
    """Tag this flow run with the job's tags, and everything started inside with them too
    (plus the run's own message tag). Yields the tags passed on."""
    from prefect import tags
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    own = set(ctx.flow_run.tags) if ctx and ctx.flow_run else set()
    carried = sorted({*job_tags(job), *(t for t in own if t.startswith(CARRIED))})
    if ctx and ctx.flow_run and not set(carried) <= own:
        with get_client(sync_client=True) as client:
            client.update_flow_run(ctx.flow_run.id, tags=sorted(own | set(carried)))
    with tags(*carried):
        yield carried
