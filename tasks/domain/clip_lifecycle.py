"""The clip lifecycle: one state machine over `db.enums.ClipStatus`, read by dispatch, render,
timeline and costs so that none of them keeps its own idea of "finished".

    pending ──claim──▶ rendering ──stored──▶ validating ──passed──▶ done
       ▲                  │  ▲                  │
       │                  │  └──── re-claim ────┤ (a stale row whose worker died)
       │                  ├──▶ failed           ├──▶ failed     (could not be produced)
       │                  ├──▶ interrupted ─────┤──▶ interrupted (SIGTERM; claimed again)
       │                  └──▶ done/rejected    └──▶ rejected   (failed validation; a successor row follows)
       └──── re-planned ◀── superseded ◀── any state (a newer analysis dropped the clip)

A row is **final** once done, failed, rejected or superseded: `render_clip` does nothing on it
(a rejected row's successor carries on; a failed row may have one too). Only pending,
interrupted and stale in-work rows are **retried** (claimed again). `failed` is final, as the
data contract says ("could not be produced") and as the dispatcher always read it: the row is
never claimed again; only a new analysis that plans the clip again (superseded, then pending)
renders it anew. A downgrade chain
**ends** when its newest row is done or failed. Time spent **rendering** on a GPU backend is GPU
spend, whatever state follows it (tasks.costs).
"""

from __future__ import annotations

from typing import Protocol

from db.enums import ClipStatus

S = ClipStatus

TRANSITIONS: dict[ClipStatus, frozenset[ClipStatus]] = {
    S.pending: frozenset({S.rendering, S.failed, S.superseded}),
    # rendering → done/rejected: a row whose mp4 was already stored is validated again, not re-rendered
    S.rendering: frozenset({S.rendering, S.validating, S.done, S.rejected, S.failed, S.interrupted, S.superseded}),
    S.validating: frozenset({S.rendering, S.done, S.rejected, S.failed, S.interrupted, S.superseded}),
    S.interrupted: frozenset({S.rendering, S.failed, S.superseded}),
    S.done: frozenset({S.superseded}),
    S.failed: frozenset({S.superseded}),
    S.rejected: frozenset({S.superseded}),
    S.superseded: frozenset({S.pending}),  # an older analysis dropped it, a newer one wants it again
}
"""Every allowed change of one row's status (a state absent from a set cannot follow)."""

FINAL = frozenset({S.done, S.failed, S.rejected, S.superseded})
"""Settled rows: nothing more is done to them until a new plan re-pends them."""
RETRIED = frozenset({S.pending, S.rendering, S.validating, S.interrupted})
"""Rows `render_clip` claims (rendering and validating only when their worker died)."""
IN_WORK = frozenset({S.rendering, S.validating})
"""A worker holds the row and keeps its heartbeat."""
CHAIN_ENDED = frozenset({S.done, S.failed})
"""The newest row of a downgrade chain in one of these: the clip is finished, well or not."""
RUN_ENDED = CHAIN_ENDED | {S.interrupted}
"""Nothing more happens to the clip in the render run that had it."""
GPU_SPEND = frozenset({S.rendering})
"""Generation runs here: a GPU backend's time in this state is recorded as GPU spend."""
FOOTAGE = frozenset({S.done})
"""Rows whose mp4 the timeline may use."""


class IllegalClipTransition(ValueError):
    """A status change the lifecycle does not allow."""


def can_move(current: ClipStatus | str, target: ClipStatus | str) -> bool:
    return ClipStatus(target) in TRANSITIONS[ClipStatus(current)]


def check_move(current: ClipStatus | str, target: ClipStatus | str, clip_id: int | None = None) -> ClipStatus:
    """`target` when the lifecycle allows it after `current`; raises IllegalClipTransition otherwise."""
    source, target = ClipStatus(current), ClipStatus(target)
    if target not in TRANSITIONS[source]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[source])) or "nothing"
        who = f"clip {clip_id}" if clip_id is not None else "a clip"
        raise IllegalClipTransition(f"{who} cannot go from {source.value} to {target.value} (allowed: {allowed})")
    return target


class ClipRow(Protocol):
    id: int | None
    status: ClipStatus
    error: str | None


def move(clip: ClipRow, target: ClipStatus, error: str | None = None) -> None:
    """Set a clip row's status (and error) through the machine; raises on an illegal move."""
    clip.status = check_move(clip.status, target, clip.id)
    clip.error = error


def sources_of(target: ClipStatus) -> frozenset[ClipStatus]:
    """Every status a row may move to `target` from (for bulk SQL updates)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)
