"""The design's three selection priorities as pure functions over plain candidates.

Phase 1 uses them to pick each room's hero and the job's opening and closing photos; Phase 3
reuses them when it sequences the timeline. Callers pass only photos that may be used at all
(usable, not excluded, past the quality gates). Ties at one priority step go to the higher
final_score, then the lower photo id, so every choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from db.enums import EXTERIOR_ROOMS, RoomType


@dataclass(frozen=True)
class Candidate:
    photo_id: int
    room_type: RoomType
    final_score: float
    hero_global: bool = False
    hero_room: bool = False
    preferred_opening: bool = False
    preferred_closing: bool = False


@dataclass(frozen=True)
class Choice:
    photo_id: int
    rule: str  # which priority step decided, e.g. "preferred_opening"
    reason: str  # one sentence for a person reading debug_metrics or the report


Step = tuple[str, Callable[[Candidate], bool]]


def _is_interior(c: Candidate) -> bool:
    return c.room_type not in EXTERIOR_ROOMS


def _best(candidates: Iterable[Candidate]) -> Candidate | None:
    return min(candidates, key=lambda c: (-c.final_score, c.photo_id), default=None)


def _first_step(candidates: Sequence[Candidate], steps: Sequence[Step], what: str) -> Choice | None:
    for number, (rule, test) in enumerate(steps, start=1):
        matching = [c for c in candidates if test(c)]
        best = _best(matching)
        if best is not None:
            others = f", best final_score of {len(matching)}" if len(matching) > 1 else ""
            reason = f"{what} priority step {number} ({rule}): photo {best.photo_id}{others}"
            return Choice(best.photo_id, rule, reason)
    return None


def opening_steps(prefer_drone: bool) -> list[Step]:
    steps: list[Step] = [
        ("preferred_opening", lambda c: c.preferred_opening),
        ("hero_global", lambda c: c.hero_global),
    ]
    if prefer_drone:
        steps.append(("drone", lambda c: c.room_type == RoomType.aerial))
    steps += [
        ("front_exterior", lambda c: c.room_type == RoomType.front_exterior),
        ("best_interior", _is_interior),
    ]
    return steps


CLOSING_STEPS: list[Step] = [
    ("preferred_closing", lambda c: c.preferred_closing),
    ("hero_global", lambda c: c.hero_global),
    ("exterior_or_drone", lambda c: c.room_type in EXTERIOR_ROOMS),
    ("best_interior", _is_interior),
]

ROOM_START_STEPS: list[Step] = [
    ("hero_room", lambda c: c.hero_room),
    ("preferred_opening", lambda c: c.preferred_opening),
    ("highest_final_score", lambda c: True),
]

# Not in the design's lists: a set with, say, only a backyard and a pool has no front exterior and
# no interior. Rather than open on nothing, the best remaining photo is used, and says so.
_LAST_RESORT: Step = ("best_available", lambda c: True)


def select_opening(candidates: Sequence[Candidate], *, prefer_drone: bool) -> Choice | None:
    """Opening Selection Priority: preferred_opening, hero_global, drone (only if the template
    prefers it), front exterior, best interior."""
    return _first_step(candidates, [*opening_steps(prefer_drone), _LAST_RESORT], "opening")


def select_closing(candidates: Sequence[Candidate], *, opening_photo_id: int | None = None) -> Choice | None:
    """Closing Selection Priority: preferred_closing, hero_global, exterior or drone, best interior.

    The video should not end on the frame it opened with: after step 1 (an explicit request is
    honoured as given) the opening photo is skipped, unless it is the only photo there is.
    """
    first, *rest = CLOSING_STEPS
    choice = _first_step(candidates, [first], "closing")
    if choice is not None:
        return choice
    others = [c for c in candidates if c.photo_id != opening_photo_id]
    choice = _first_step(others, [*rest, _LAST_RESORT], "closing")
    if choice is not None or not candidates:
        return choice
    only = candidates[0].photo_id
    return Choice(only, "only_photo", f"closing: photo {only} is the only usable photo, so it also opens")


def select_room_start(candidates: Sequence[Candidate]) -> Choice | None:
    """Room Start Priority (the room's hero): hero_room, preferred_opening, highest final_score."""
    return _first_step(candidates, ROOM_START_STEPS, "room start")
