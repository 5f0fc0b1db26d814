"""When the dispatcher stops waiting on a render-clip run (pure decision), and how it times a run."""

from __future__ import annotations

import numpy as np
import pytest

from flows.dispatch import NoGpuCapacity, PhaseClock, WaitLimits, _retry_unless_final, _wait_for_render, run_verdict

LIMITS = WaitLimits(orphan_grace_s=60.0, stall_s=180.0, timeout_s=3600.0, queue_timeout_s=7200.0)


@pytest.mark.parametrize(
    "phase,status,age,phase_s,expected",
    [
        ("running", "rendering", 2.0, 30.0, "wait"),  # rendering, last beat 2 s ago
        ("final", "rendering", 500.0, 600.0, "ended"),  # the run reported, whatever the row says
        ("final", "interrupted", 500.0, 4000.0, "ended"),  # a final run wins over every timer
        ("running", "interrupted", 5.0, 100.0, "wait"),  # the row ended, the engine is still reporting
        ("running", "interrupted", 60.0, 100.0, "orphaned"),  # ended long ago, the run never said so
        ("running", "done", 60.0, 100.0, "orphaned"),
        ("running", "rendering", 180.0, 200.0, "stalled"),  # in work, heartbeat silent: the render is gone
        ("running", "validating", 180.0, 200.0, "stalled"),
        # the attempt just started running: the row's silence and end belong to the try before
        ("running", "rendering", 500.0, 200.0, "wait"),
        ("running", "interrupted", 500.0, 200.0, "wait"),
        ("running", "rendering", 10.0, 3601.0, "timed_out"),  # runs for too long
        # queued for a GPU (Spot capacity, or rescheduled after a Spot SIGTERM): only the queue limit counts
        ("queued", "pending", 5000.0, 3601.0, "wait"),  # longer than the run timeout: still waits
        ("queued", "interrupted", 10.0, 3601.0, "wait"),
        ("queued", "pending", 9000.0, 7200.0, "no_capacity"),
    ],
)
def test_run_verdict(phase: str, status: str, age: float, phase_s: float, expected: str) -> None:
    assert run_verdict(phase, status, age, phase_s, LIMITS) == expected


def test_running_time_starts_when_the_run_leaves_the_queue() -> None:
    """A clip that waited in the queue longer than the run timeout still gets the whole run timeout."""
    clock = PhaseClock(now=0.0)
    assert clock.observe("queued", 3000.0) == 3000.0
    assert clock.observe("queued", 4000.0) == 4000.0
    assert clock.observe("running", 4005.0) == 5.0  # from the last poll that still saw it queued
    assert run_verdict("running", "rendering", 1.0, clock.observe("running", 4100.0), LIMITS) == "wait"
    assert clock.observe("queued", 5000.0) == 0.0  # rescheduled: back in the queue, a fresh wait
    assert clock.observe("running", 5010.0) == 10.0


@pytest.mark.slow
def test_a_run_that_never_gets_a_gpu_is_cancelled_and_fails_the_job_with_the_reason(
    db: str, store, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker ever picks the run up (no Spot capacity): past the queue limit, and long past
    the run timeout, the run is cancelled, so no task starts later, and the render phase fails
    the job saying why; the dispatch task does not retry it."""
    from prefect.client.orchestration import get_client
    from prefect.states import Failed

    from db.enums import ConfidenceTier, JobStatus, MotionType, Phase
    from db.models import Job
    from db.session import session_scope
    from flows.phases import run_phase
    from tasks.render.phase import plan_clips
    from tasks.settings import get_settings
    from tests.render.phase1_rows import PhotoSpec, RoomSpec, seed_phase1

    image = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, MotionType.micro_push_in,
                                          [PhotoSpec("living_a", image, None)])])
    (clip_id,) = plan_clips(seeded.job_id)
    for name, value in (("QUEUE_TIMEOUT_S", "2"), ("RUN_TIMEOUT_S", "1"), ("POLL_S", "0.2"), ("ORPHAN_GRACE_S", "5")):
        monkeypatch.setenv(f"PICAIVID_RENDER_{name}", value)
    get_settings.cache_clear()
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("render-clip")
        deployment_id = client.create_deployment(flow_id=flow_id, name="render-clip",
                                                 entrypoint="flows/render_clip.py:render_clip_flow")
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"clip_id": clip_id})

    with pytest.raises(NoGpuCapacity, match="no GPU capacity: clip .* waited 2 s for a GPU") as raised:
        run_phase(str(seeded.job_id), Phase.render, lambda _: _wait_for_render(run.id, clip_id, get_settings()))
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.is_cancelled()
    with session_scope() as session:
        job = session.get(Job, seeded.job_id)
        assert job.status is JobStatus.failed and "no GPU capacity" in job.error
    assert not _retry_unless_final(None, None, Failed(data=raised.value))
    assert _retry_unless_final(None, None, Failed(data=RuntimeError("clip 1 is interrupted")))
    from flows.state import JobCancelled

    assert not _retry_unless_final(None, None, Failed(data=JobCancelled(seeded.job_id)))
