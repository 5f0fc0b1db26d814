"""`render-clip`: the smallest GPU unit, one flow run per clip on the GPU work pool.

The clip unit itself (tasks.render.clip_unit) is idempotent and traps SIGTERM: on a Spot
interruption it marks the clip `interrupted`, uploads partial output and exits within the
grace period. Prefect's flow retries do not cover a crashed run, so the dispatcher in
`flows.phases` re-dispatches it.
"""

from __future__ import annotations

from prefect import flow

from tasks.logs import configure_logging


@flow(name="render-clip", log_prints=True)
def render_clip_flow(clip_id: int) -> dict:
    from tasks.render.clip_unit import render_clip

    configure_logging()
    return render_clip(clip_id)
