"""Phase 2's fan-out: one `dispatch-clip` task per clip, each getting its clip rendered.

Postgres, not Prefect, says whether a clip is finished, and the dispatcher watches both the
render-clip run and the clip row, because a run can vanish without a word:
- its clip row ended (`interrupted`) but the run still says Running (the machine went before
  the engine reported): after a grace period the run is marked Crashed;
- its clip row is in work but its heartbeat (tasks.render.heartbeat) went silent (the
  render died with no chance to say so): the run is marked Crashed;
- it outlives `render_run_timeout_s`: it is cancelled, so its worker stops it.
The task's retry then dispatches a new run with a new idempotency key, so the UI tells the
truth and no clip waits on a run that will never end.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Literal

import structlog
from prefect import task

from tasks.render.heartbeat import IN_WORK
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

FINAL_CLIP_STATES = frozenset({"done", "failed"})
ENDED_CLIP_STATES = FINAL_CLIP_STATES | {"interrupted"}  # nothing more will happen in this run

Verdict = Literal["wait", "ended", "orphaned", "stalled", "timed_out"]


@dataclass(frozen=True)
class WaitLimits:
    orphan_grace_s: float  # a run may take this long to report after its clip row ended
    stall_s: float  # a clip row in work may be silent this long
    timeout_s: float  # a run may take this long in all

    @classmethod
    def from_settings(cls, settings: Settings) -> WaitLimits:
        return cls(settings.render_orphan_grace_s, settings.render_stall_s, settings.render_run_timeout_s)


class ClipNotFinished(RuntimeError):
    """A dispatched render ended with its clip still unfinished (e.g. a Spot interruption)."""


def clip_state(clip_id: int) -> dict:
    """What Postgres says about the clip chain: the source of truth, not Prefect's result."""
    from tasks.render.clip_unit import clip_summary, latest_in_chain

    return clip_summary(latest_in_chain(clip_id))


def run_verdict(run_final: bool, clip_status: str, clip_age_s: float, waited_s: float,
                limits: WaitLimits) -> Verdict:
    """Whether to keep waiting on a render-clip run (pure).

    `clip_age_s` is how long ago the clip row last changed (heartbeats count), `waited_s` how
    long ago this run was dispatched: a row older than the run has not been touched by it
    yet (the run may still be queued for a GPU), so only a younger row can say the run is
    orphaned (the row ended, the run never reported) or stalled (in work, heartbeat silent).
    """
    if run_final:
        return "ended"
    touched_by_this_run = clip_age_s <= waited_s
    if touched_by_this_run and clip_status in ENDED_CLIP_STATES and clip_age_s >= limits.orphan_grace_s:
        return "orphaned"
    if touched_by_this_run and clip_status in IN_WORK and clip_age_s >= limits.stall_s:
        return "stalled"
    if waited_s >= limits.timeout_s:
        return "timed_out"
    return "wait"


def _wait_for_render(run_id: uuid.UUID, clip_id: int, settings: Settings) -> Verdict:
    """Poll the run and the clip row until `run_verdict` stops waiting; a run given up on is
    marked Crashed with the reason."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling, Crashed

    from tasks.render.clip_unit import latest_in_chain
    from tasks.render.heartbeat import last_change

    limits = WaitLimits.from_settings(settings)
    start = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            latest = latest_in_chain(clip_id)
            status, age = last_change(latest)
            verdict = run_verdict(run.state is not None and run.state.is_final(), status, age,
                                  time.monotonic() - start, limits)
            if verdict == "wait":
                time.sleep(settings.render_poll_s)
                continue
            reason = {
                "orphaned": f"no report from the run {limits.orphan_grace_s:g} s after clip {clip_id} ended",
                "stalled": f"clip {latest} silent for {limits.stall_s:g} s: its render is gone",
                "timed_out": f"still running after {limits.timeout_s:g} s",
            }.get(verdict)
            if verdict in ("orphaned", "stalled"):  # nobody is left to report: say it for them
                client.set_flow_run_state(run_id, Crashed(message=reason), force=True)
            elif verdict == "timed_out":  # still alive somewhere: its worker stops it
                client.set_flow_run_state(run_id, Cancelling(message=reason), force=True)
            if reason:
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

        from flows.naming import carried_tags, clip_run_name

        run = run_deployment(
            settings.render_clip_deployment,
            parameters={"clip_id": clip_id},
            idempotency_key=f"render-clip:{state['job_id']}:{clip_id}:{task_run.id}:try-{task_run.run_count}",
            flow_run_name=clip_run_name(clip_id, task_run.run_count),
            tags=carried_tags(),  # the job's tags: its GPU runs are found with it
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
