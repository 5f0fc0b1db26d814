"""When the dispatcher stops waiting on a render-clip run (pure decision)."""

from __future__ import annotations

import pytest

from flows.dispatch import run_verdict

GRACE, TIMEOUT = 60.0, 3600.0


@pytest.mark.parametrize(
    "run_final,clip_ended_for,waited,expected",
    [
        (False, None, 10.0, "wait"),  # rendering
        (True, None, 10.0, "ended"),  # the run reported (whatever the row says)
        (True, 500.0, 4000.0, "ended"),  # a final run wins over every timer
        (False, 5.0, 100.0, "wait"),  # the row ended, the engine is still reporting
        (False, GRACE, 100.0, "orphaned"),  # the row ended long ago and the run never said so
        (False, None, TIMEOUT, "timed_out"),  # a render that never ends
        (False, GRACE - 1, TIMEOUT + 1, "timed_out"),
    ],
)
def test_run_verdict(run_final: bool, clip_ended_for: float | None, waited: float, expected: str) -> None:
    assert run_verdict(run_final, clip_ended_for, waited, GRACE, TIMEOUT) == expected
