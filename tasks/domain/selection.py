"""The design's three selection priorities as pure functions over plain candidates.

Phase 1 uses them to pick each room's hero and the job's opening and closing photos; Phase 3
reuses them when it sequences the timeline. Callers pass only photos that may be used at all
(`tasks.domain.photos.usable`: decoded, past the quality gates, not excluded, not a duplicate).
Ties at one priority step go to the higher final_score, then the lower photo id, so every
choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from db.enums import EXTERIOR_ROOMS, RoomType
from db.manual_metadata import ManualMetadata


@dataclass(frozen=True)
class Candidate:
    photo_id: int
    room_type: RoomType
    final_score: float
    hero_global: bool = False
    hero_room: bool = False
    preferred_opening: bool = False
    preferred_closing: bool = False

    @classmethod
    def from_flags(
        cls, photo_id: int, room_type: RoomType, final_score: float, flags: ManualMetadata
    ) -> Candidate:
        """From a photo's effective flags (tasks.domain.manual_flags.effective_flags of its row)."""
        return cls(
            photo_id=photo_id,
            room_type=room_type,
            final_score=final_score,
            hero_global=flags.hero_global,
            hero_room=flags.hero_room,
            preferred_opening=flags.preferred_opening,
            preferred_closing=flags.preferred_closing,
        )


@dataclass(frozen=True)
class Choice:
    photo_id: int
    rule: str  # which priority step decided, e.g. "preferred_opening"
    reason: str  # one sentence for a person reading debug_metrics or the report


@dataclass(frozen=True)
class Step:
    number: int | None  # its place in the design's list; None for the fallback beyond it
    rule: str
    test: Callable[[Candidate], bool]


def _is_interior(c: Candidate) -> bool:
    return c.room_type not in EXTERIOR_ROOMS


def _best(candidates: Iterable[Candidate]) -> Candidate | None:
    return min(candidates, key=lambda c: (-c.final_score, c.photo_id), default=None)


def _first_step(candidates: Sequence[Candidate], steps: Sequence[Step], what: str) -> Choice | None:
    for step in steps:
        matching = [c for c in candidates if step.test(c)]
        best = _best(matching)
        if best is not None:
            others = f", best final_score of {len(matching)}" if len(matching) > 1 else ""
            where = f"priority step {step.number}" if step.number else "beyond the priority list"
            reason = f"{what} {where} ({step.rule}): photo {best.photo_id}{others}"
            return Choice(best.photo_id, step.rule, reason)
    return None


def opening_steps(prefer_drone: bool) -> list[Step]:
    drone = [Step(3, "drone", lambda c: c.room_type == RoomType.aerial)] if prefer_drone else []
    return [
        Step(1, "preferred_opening", lambda c: c.preferred_opening),
        Step(2, "hero_global", lambda c: c.hero_global),
        *drone,
        Step(4, "front_exterior", lambda c: c.room_type == RoomType.front_exterior),
        Step(5, "best_interior", _is_interior),
    ]


CLOSING_STEPS: list[Step] = [
    Step(1, "preferred_closing", lambda c: c.preferred_closing),
    Step(2, "hero_global", lambda c: c.hero_global),
    Step(3, "exterior_or_drone", lambda c: c.room_type in EXTERIOR_ROOMS),
    Step(4, "best_interior", _is_interior),
]

ROOM_START_STEPS: list[Step] = [
    Step(1, "hero_room", lambda c: c.hero_room),
    Step(2, "preferred_opening", lambda c: c.preferred_opening),
    Step(3, "highest_final_score", lambda c: True),
]

# Not in the design's lists: a set with, say, only a backyard and a pool has no front exterior and
# no interior. Rather than open on nothing, the best remaining photo is used, and says so.
_LAST_RESORT = Step(None, "best_available", lambda c: True)


def select_opening(candidates: Sequence[Candidate], *, prefer_drone: bool) -> Choice | None:
    """Opening Selection Priority: preferred_opening, hero_global, drone (only if the template
    prefers it), front exterior, best interior.

    A photo someone flagged preferred_closing is kept for the close: after the two explicit steps
    it is skipped, unless no other photo is left, so the video does not open on its last frame.
    """
    steps = opening_steps(prefer_drone)
    explicit, rest = steps[:2], [*steps[2:], _LAST_RESORT]
    choice = _first_step(candidates, explicit, "opening")
    if choice is None:
        choice = _first_step([c for c in candidates if not c.preferred_closing], rest, "opening")
    if choice is None:
        choice = _first_step(candidates, rest, "opening")
    return choice


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
