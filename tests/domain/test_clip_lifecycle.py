"""The clip lifecycle: every legal move passes, every other one raises with a clear reason."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import pytest

from db.enums import ClipStatus as S
from tasks.domain.clip_lifecycle import (
    CHAIN_ENDED,
    FINAL,
    GPU_SPEND,
    IN_WORK,
    RETRIED,
    RUN_ENDED,
    TRANSITIONS,
    IllegalClipTransition,
    can_move,
    check_move,
    move,
    sources_of,
)

LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a, b in product(S, S) if b not in TRANSITIONS[a]]


@dataclass
class Row:
    id: int | None
    status: S
    error: str | None = None


def test_every_state_has_its_moves_and_is_either_final_or_retried() -> None:
    assert set(TRANSITIONS) == set(S)
    assert FINAL | RETRIED == set(S) and not FINAL & RETRIED
    assert all(TRANSITIONS[s] <= {S.superseded} for s in FINAL - {S.superseded})  # settled until re-planned
    assert IN_WORK <= RETRIED and GPU_SPEND <= IN_WORK
    assert CHAIN_ENDED <= FINAL and RUN_ENDED - CHAIN_ENDED == {S.interrupted}
    assert S.failed in FINAL and S.failed not in RETRIED  # the design's meaning: could not be produced


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_moves(current: S, target: S) -> None:
    row = Row(7, current, "old reason")
    move(row, target, "why")
    assert (row.status, row.error) == (target, "why") and can_move(current, target)
    assert current in sources_of(target)


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_moves_raise_and_leave_the_row_alone(current: S, target: S) -> None:
    row = Row(7, current, "old reason")
    with pytest.raises(IllegalClipTransition, match=f"clip 7 cannot go from {current} to {target}"):
        move(row, target)
    assert (row.status, row.error) == (current, "old reason") and not can_move(current, target)


def test_the_reason_names_what_is_allowed() -> None:
    with pytest.raises(IllegalClipTransition, match=r"allowed: superseded\)"):
        check_move("failed", "rendering")
    assert check_move("interrupted", "rendering") is S.rendering  # plain strings (rows read by SQL) work too
