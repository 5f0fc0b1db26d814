"""`render-clip`: the smallest GPU unit, one flow run per clip on the GPU work pool.

The clip unit itself (tasks.render.clip_unit) is idempotent and traps SIGTERM: on a Spot
interruption it marks the clip `interrupted`, uploads partial output and exits within the
grace period. Prefect's flow retries do not cover a crashed run, so the dispatcher in
`flows.phases` re-dispatches it.
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
