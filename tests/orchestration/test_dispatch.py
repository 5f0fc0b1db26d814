"""When the dispatcher stops waiting on a render-clip run (pure decision)."""

from __future__ import annotations

import pytest

from flows.dispatch import WaitLimits, run_verdict

LIMITS = WaitLimits(orphan_grace_s=60.0, stall_s=180.0, timeout_s=3600.0)


@pytest.mark.parametrize(
    "run_final,status,age,waited,expected",
    [
        ("running", "rendering", 2.0, 30.0, "wait"),  # rendering, last beat 2 s ago
        ("final", "rendering", 500.0, 600.0, "ended"),  # the run reported, whatever the row says
        ("final", "interrupted", 500.0, 4000.0, "ended"),  # a final run wins over every timer
        ("running", "interrupted", 5.0, 100.0, "wait"),  # the row ended, the engine is still reporting
        ("running", "interrupted", 60.0, 100.0, "orphaned"),  # ended long ago, the run never said so
        ("running", "done", 60.0, 100.0, "orphaned"),
        ("running", "rendering", 180.0, 200.0, "stalled"),  # in work, heartbeat silent: the render is gone
        ("running", "validating", 180.0, 200.0, "stalled"),
        # a retry still queued for a GPU: the row's silence and end belong to the try before
        ("running", "rendering", 500.0, 200.0, "wait"),
        ("running", "interrupted", 500.0, 200.0, "wait"),
        ("running", "pending", 500.0, 3600.0, "timed_out"),  # never picked up
        ("running", "rendering", 10.0, 3601.0, "timed_out"),  # never ends
    ],
)
def test_run_verdict(run_final: str, status: str, age: float, waited: float, expected: str) -> None:
    assert run_verdict(run_final == "final", status, age, waited, LIMITS) == expected
