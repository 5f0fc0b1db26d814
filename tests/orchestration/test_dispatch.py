"""When the dispatcher stops waiting on a render-clip run (pure decision), and how it times a run."""

from __future__ import annotations

import pytest

from flows.dispatch import PhaseClock, WaitLimits, run_verdict

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
