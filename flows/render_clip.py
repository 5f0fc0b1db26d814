"""`render-clip`: the smallest GPU unit, one flow run per clip on the GPU work pool.

The clip unit itself (tasks.render.clip_unit) is idempotent and traps SIGTERM: on a Spot
interruption it marks the clip `interrupted`, uploads partial output and re-raises the engine's
`TerminationSignal`, so the engine does what the signal meant. Under `prefect flow-run execute`
with `PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR=reschedule` (the ECS templates) the supervisor
has already put the run back in the queue (AwaitingRetry) and the engine leaves that state
alone; a cancel ends Cancelled; a bare SIGTERM to the engine ends Crashed, and the dispatcher
in `flows.dispatch` re-dispatches the clip.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field


@flow(name="render-clip")
def render_clip_flow(clip_id: Annotated[int, Field(ge=1)]) -> dict:
    """The dispatcher names the run (`clip <id> try <n>`) and hands it the job's tags."""
    from flows.logs import send_logs_to_prefect
    from tasks.render.clip_unit import render_clip

    send_logs_to_prefect()
    return render_clip(clip_id)
