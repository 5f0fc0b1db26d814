"""Phase 2's fan-out: one `dispatch-clip` task per clip, each getting its clip rendered.

Postgres, not Prefect, says whether a clip is finished, and the dispatcher watches both the
render-clip run and the clip row, because a run can vanish without a word. A run waiting for
a GPU (Scheduled, Pending; also Prefect's AwaitingRetry after a Spot SIGTERM rescheduled it)
is only timed against `render_queue_timeout_s`; once it runs, it is given up when
- its clip row ended (`interrupted`) but the run still says Running (the machine went before
  the engine reported), after a grace period;
- its clip row is in work but its heartbeat (tasks.render.heartbeat) went silent (the render
  died with no chance to say so);
- it has been running longer than `render_run_timeout_s`.
A run given up on is cancelled, so the machine under it stops (flows.stop_run), and the
task's retry dispatches a new run with a new idempotency key. A run that waited too long for a
GPU fails the job with a "no GPU capacity" error instead: retrying would only wait again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from prefect import task

from tasks.domain.clip_lifecycle import CHAIN_ENDED, IN_WORK, RUN_ENDED
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

RunPhase = Literal["queued", "running", "final"]
Verdict = Literal["wait", "ended", "orphaned", "stalled", "timed_out", "no_capacity"]


@dataclass(frozen=True)
class WaitLimits:
    orphan_grace_s: float  # a run may take this long to report after its clip row ended
    stall_s: float  # a clip row in work may be silent this long
    timeout_s: float  # a run may be running this long
    queue_timeout_s: float  # a run may wait this long for a GPU

    @classmethod
    def from_settings(cls, settings: Settings) -> WaitLimits:
        return cls(settings.render_orphan_grace_s, settings.render_stall_s, settings.render_run_timeout_s,
                   settings.render_queue_timeout_s)


class ClipNotFinished(RuntimeError):
    """A dispatched render ended with its clip still unfinished (e.g. a Spot interruption)."""


class NoGpuCapacity(RuntimeError):
    """A render-clip run waited longer than `render_queue_timeout_s` for a GPU: not retried."""


def clip_state(clip_id: int) -> dict:
    """What Postgres says about the clip chain: the source of truth, not Prefect's result."""
    from tasks.render.clip_unit import clip_summary, latest_in_chain

    return clip_summary(latest_in_chain(clip_id))


def run_phase(state: Any) -> RunPhase:
    """Where a run is, as the dispatcher times it: waiting for a machine, on one, or ended."""
    if state is None or state.is_scheduled() or state.is_pending():
        return "queued"
    return "final" if state.is_final() else "running"


class PhaseClock:
    """Seconds a run has spent in its current phase, on the dispatcher's own monotonic clock.

    Running time counts from the last poll that still saw the run queued, so a clip row the
    new attempt touched right after it started is never taken for an older attempt's.
    """

    def __init__(self, now: float) -> None:
        self.phase: RunPhase = "queued"
        self.since = self.last_seen = now

    def observe(self, phase: RunPhase, now: float) -> float:
        if phase != self.phase:
            self.since = self.last_seen if phase == "running" else now
            self.phase = phase
        self.last_seen = now
        return now - self.since


def run_verdict(phase: RunPhase, clip_status: str, clip_age_s: float, phase_s: float, limits: WaitLimits) -> Verdict:
    """Whether to keep waiting on a render-clip run (pure).

    `phase_s` is how long the run has been in `phase`, `clip_age_s` how long ago the clip row
    last changed (heartbeats count). A row older than the running phase was left by an earlier
    attempt, so only a younger row can say the run is orphaned (the row ended, the run never
    reported) or stalled (in work, heartbeat silent).
    """
    if phase == "final":
        return "ended"
    if phase == "queued":
        # ours: Prefect lets a run wait for infrastructure forever ("Late" is only a label)
        return "no_capacity" if phase_s >= limits.queue_timeout_s else "wait"
    touched_by_this_attempt = clip_age_s <= phase_s
    # ours: the ECS task observer crashes a run only once ECS reports its task STOPPED, and a
    # process pool has no observer; the clip row says the render ended as soon as it does
    if touched_by_this_attempt and clip_status in RUN_ENDED and clip_age_s >= limits.orphan_grace_s:
        return "orphaned"
    # ours: Prefect's zombie detection needs flow heartbeats plus an automation on the server
    # (none on a process pool or a test server); the clip row's beat is in Postgres, which we read anyway
    if touched_by_this_attempt and clip_status in IN_WORK and clip_age_s >= limits.stall_s:
        return "stalled"
    # ours: a flow's timeout_seconds is enforced inside the engine it should stop, which a
    # wedged render ignores; a cancel from here is carried out by the supervisor and the worker
    if phase_s >= limits.timeout_s:
        return "timed_out"
    return "wait"


def _give_up_reason(verdict: Verdict, clip_id: int, limits: WaitLimits) -> str:
    return {
        "orphaned": f"no report from the run {limits.orphan_grace_s:g} s after clip {clip_id} ended",
        "stalled": f"clip {clip_id} silent for {limits.stall_s:g} s: its render is gone",
        "timed_out": f"still running after {limits.timeout_s:g} s (PICAIVID_RENDER_RUN_TIMEOUT_S)",
        "no_capacity": f"no GPU capacity: clip {clip_id} waited {limits.queue_timeout_s:g} s for a GPU "
                       "(PICAIVID_RENDER_QUEUE_TIMEOUT_S)",
    }[verdict]


def _wait_for_render(run_id: uuid.UUID, clip_id: int, settings: Settings) -> Verdict:
    """Poll the run and the clip row until `run_verdict` stops waiting; a run given up on is
    stopped with the reason (flows.stop_run), and a run that found no GPU raises NoGpuCapacity."""
    from prefect.client.orchestration import get_client

    from flows.stop_run import stop_flow_run
    from tasks.render.clip_unit import latest_in_chain
    from tasks.render.heartbeat import last_change

    limits = WaitLimits.from_settings(settings)
    clock = PhaseClock(time.monotonic())
    with get_client(sync_client=True) as client:
        while True:
            phase = run_phase(client.read_flow_run(run_id).state)
            status, age = last_change(latest_in_chain(clip_id))
            verdict = run_verdict(phase, status, age, clock.observe(phase, time.monotonic()), limits)
            if verdict == "wait":
                time.sleep(settings.render_poll_s)
                continue
            break
    if verdict != "ended":
        reason = _give_up_reason(verdict, clip_id, limits)
        log.warning("clip.run_given_up", clip_id=clip_id, flow_run_id=str(run_id), verdict=verdict, reason=reason)
        stop_flow_run(run_id, reason, confirm_s=limits.orphan_grace_s, poll_s=settings.render_poll_s)
        if verdict == "no_capacity":
            raise NoGpuCapacity(reason)
    return verdict


def _retry_unless_final(task: Any, task_run: Any, state: Any) -> bool:
    """Re-dispatch an interrupted or lost render; not one that found no GPU (it would only wait
    again) or whose job was cancelled (the cancel means stop)."""
    from flows.state import JobCancelled

    return not isinstance(state.result(raise_on_failure=False), (NoGpuCapacity, JobCancelled))


@task(name="dispatch-clip", tags=["gpu-render"], retry_condition_fn=_retry_unless_final)
def dispatch_clip(clip_id: int) -> dict:
    """Have one clip rendered and return its final state from Postgres.

    `deployment` dispatch starts a render-clip flow run on the GPU pool and waits for it. The
    idempotency key names the job, the clip, this dispatch and its try: a reused key hands
    back the old run (even a crashed one, or another render of the clip) instead of a new one.
    """
    from flows.state import raise_if_cancelled

    settings = get_settings()
    state = clip_state(clip_id)
    if state["status"] in CHAIN_ENDED:
        return state
    raise_if_cancelled(state["job_id"])  # no new GPU work for a cancelled job
    if settings.render_dispatch == "deployment":
        from prefect.deployments import run_deployment
        from prefect.runtime import task_run

        from flows.naming import carried_tags, clip_run_name

        run = run_deployment(
            settings.render_clip_deployment,
            parameters={"clip_id": clip_id},
            idempotency_key=f"render-clip:{state['job_id']}:{clip_id}:{task_run.id}:try-{task_run.run_count}",
            flow_run_name=clip_run_name(clip_id, task_run.run_count),
            # the job's tags (flows.cancel finds the job's GPU runs by job:<id>), even from a bare call
            tags=sorted({*carried_tags(), f"job:{state['job_id']}"}),
            timeout=0,  # created, not awaited: _wait_for_render watches the run and the clip row
        )
        log.info("clip.dispatched", clip_id=clip_id, flow_run_id=str(run.id))
        _wait_for_render(run.id, clip_id, settings)
    else:
        from tasks.render.clip_unit import render_clip

        render_clip(clip_id)
    state = clip_state(clip_id)
    if state["status"] not in CHAIN_ENDED:
        raise ClipNotFinished(f"clip {clip_id} is {state['status']} after its render run")
    return state
