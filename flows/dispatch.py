"""Phase 2's fan-out: one `dispatch-clip` task per clip, each getting its clip rendered.

Postgres, not Prefect, says whether a clip is finished. A render-clip run can also vanish
without a word (its machine gone before the engine reported): the dispatcher then sees the
clip row end (`interrupted`) or stall while the run still says Running, marks the run
Crashed after a grace period so the UI tells the truth, and the task's retry dispatches a new
run with a new idempotency key. A run that outlives `render_run_timeout_s` is cancelled
(its worker stops the process) before the retry, so two renders never share a clip row.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

import structlog
from prefect import task

from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

FINAL_CLIP_STATES = frozenset({"done", "failed"})
ENDED_CLIP_STATES = FINAL_CLIP_STATES | {"interrupted"}  # nothing more will happen in this run

Verdict = Literal["wait", "ended", "orphaned", "timed_out"]


class ClipNotFinished(RuntimeError):
    """A dispatched render ended with its clip still unfinished (e.g. a Spot interruption)."""


def clip_state(clip_id: int) -> dict:
    """What Postgres says about the clip chain: the source of truth, not Prefect's result."""
    from tasks.render.clip_unit import clip_summary, latest_in_chain

    return clip_summary(latest_in_chain(clip_id))


def run_verdict(run_final: bool, clip_ended_for_s: float | None, waited_s: float,
                orphan_grace_s: float, timeout_s: float) -> Verdict:
    """Whether to keep waiting on a render-clip run (pure).

    `clip_ended_for_s`: how long the clip row has been in an ended state while the run was
    not final (None: it has not ended). A run that reports nothing `orphan_grace_s` after its
    clip ended is orphaned; one still going after `timeout_s` is given up.
    """
    if run_final:
        return "ended"
    if clip_ended_for_s is not None and clip_ended_for_s >= orphan_grace_s:
        return "orphaned"
    if waited_s >= timeout_s:
        return "timed_out"
    return "wait"


def _wait_for_render(run_id: uuid.UUID, clip_id: int, settings: Settings) -> Verdict:
    """Poll the run and the clip row until `run_verdict` stops waiting; a run given up on is
    marked Crashed with the reason."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling, Crashed

    start, ended_at = time.monotonic(), None
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            now = time.monotonic()
            if ended_at is None and clip_state(clip_id)["status"] in ENDED_CLIP_STATES:
                ended_at = now
            verdict = run_verdict(run.state is not None and run.state.is_final(),
                                  None if ended_at is None else now - ended_at, now - start,
                                  settings.render_orphan_grace_s, settings.render_run_timeout_s)
            if verdict == "wait":
                time.sleep(settings.render_poll_s)
                continue
            if verdict == "orphaned":  # nobody is left to report: say it for them
                reason = f"no report from the run {settings.render_orphan_grace_s:g} s after clip {clip_id} ended"
                client.set_flow_run_state(run_id, Crashed(message=reason), force=True)
            elif verdict == "timed_out":  # still alive somewhere: its worker stops it
                reason = f"still running after {settings.render_run_timeout_s:g} s"
                client.set_flow_run_state(run_id, Cancelling(message=reason), force=True)
            if verdict != "ended":
                log.warning("clip.run_given_up", clip_id=clip_id, flow_run_id=str(run_id), verdict=verdict, reason=reason)
            return verdict


@task(name="dispatch-clip", tags=["gpu-render"])
def dispatch_clip(clip_id: int) -> dict:
    """Have one clip rendered and return its final state from Postgres.

    `deployment` dispatch starts a render-clip flow run on the GPU pool and waits for it. The
    idempotency key names the job, the clip, this dispatch and its try: a reused key hands
    back the old run (even a crashed one, or another render of the clip) instead of a new one.
    """
    settings = get_settings()
    state = clip_state(clip_id)
    if state["status"] in FINAL_CLIP_STATES:
        return state
    if settings.render_dispatch == "deployment":
        from prefect.deployments import run_deployment
        from prefect.runtime import task_run

        run = run_deployment(
            settings.render_clip_deployment,
            parameters={"clip_id": clip_id},
            idempotency_key=f"render-clip:{state['job_id']}:{clip_id}:{task_run.id}:try-{task_run.run_count}",
            flow_run_name=f"clip-{clip_id}-try-{task_run.run_count}",
            timeout=0,  # created, not awaited: _wait_for_render watches the run and the clip row
        )
        log.info("clip.dispatched", clip_id=clip_id, flow_run_id=str(run.id))
        _wait_for_render(run.id, clip_id, settings)
    else:
        from tasks.render.clip_unit import render_clip

        render_clip(clip_id)
    state = clip_state(clip_id)
    if state["status"] not in FINAL_CLIP_STATES:
        raise ClipNotFinished(f"clip {clip_id} is {state['status']} after its render run")
    return state
