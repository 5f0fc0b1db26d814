"""Which clips the video shows, in what order (pure).

The choices of opening, closing and each room's first photo come in as inputs: the design's
priority rules live in tasks.domain.selection, and Phase 3's glue applies them to the photos
that lead a rendered clip. Here the shots are only ordered: the opening, then the rooms in the
order a visitor walks through a home, each room led by its chosen photo, then the closing.
Only footage passed in can appear (the glue leaves out failed clips and excluded photos), and
no clip appears twice unless `fit_shot_count` is told the template allows repeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from db.enums import RoomType

WALK_THROUGH: tuple[tuple[RoomType, ...], ...] = (
    (RoomType.aerial, RoomType.front_exterior),  # exterior
    (RoomType.hallway, RoomType.living_room),  # entry / living
    (RoomType.kitchen,),
    (RoomType.dining_room,),
    (RoomType.bedroom,),
    (RoomType.bathroom,),
    (RoomType.office, RoomType.laundry, RoomType.garage, RoomType.other),  # other rooms
    (RoomType.backyard, RoomType.pool),  # outdoor / pool
)


def walk_rank(room_type: RoomType) -> tuple[int, int]:
    """(stop on the walk, place within the stop)."""
    stop = next(i for i, types in enumerate(WALK_THROUGH) if room_type in types)
    return stop, WALK_THROUGH[stop].index(room_type)


@dataclass(frozen=True)
class Footage:
    """A rendered clip that may be shown, described by the photo it starts from."""

    clip_id: int
    room_cluster_id: int
    room_type: RoomType
    lead_photo_id: int
    duration: float  # seconds of rendered video
    score: float  # the lead photo's final_score


@dataclass(frozen=True)
class Picks:
    """Photo ids chosen by the selection priorities (None: nothing to choose from)."""

    opening: int | None
    closing: int | None
    room_starts: Mapping[int, int] = field(default_factory=dict)  # room_cluster_id -> photo id


@dataclass(frozen=True)
class Shot:
    footage: Footage
    role: str  # opening, room_start, room, closing, repeat
    occurrence: int = 0  # 0 the first time a clip is shown, 1 the second...


def _by_lead(footage: Sequence[Footage], photo_id: int | None) -> Footage | None:
    """The longest clip that starts from the photo (the most footage to cut from)."""
    led = [f for f in footage if f.lead_photo_id == photo_id]
    return max(led, key=lambda f: (f.duration, -f.clip_id), default=None)


def sequence_shots(footage: Sequence[Footage], picks: Picks) -> list[Shot]:
    """Opening, the rooms in walk-through order (each led by its chosen start), closing."""
    opening = _by_lead(footage, picks.opening)
    closing = _by_lead(footage, picks.closing)
    if closing is not None and opening is not None and closing.clip_id == opening.clip_id:
        closing = None  # one clip cannot both open and close without a repeat
    bookends = {f.clip_id for f in (opening, closing) if f is not None}
    rooms: dict[int, list[Footage]] = {}
    for f in footage:
        if f.clip_id not in bookends:
            rooms.setdefault(f.room_cluster_id, []).append(f)

    def room_key(cluster_id: int) -> tuple:
        clips = rooms[cluster_id]
        return (*walk_rank(clips[0].room_type), -max(c.score for c in clips), cluster_id)

    shots = [Shot(opening, "opening")] if opening is not None else []
    for cluster_id in sorted(rooms, key=room_key):
        start = picks.room_starts.get(cluster_id)
        ordered = sorted(rooms[cluster_id], key=lambda c: (c.lead_photo_id != start, -c.score, c.clip_id))
        shots.append(Shot(ordered[0], "room_start"))
        shots.extend(Shot(c, "room") for c in ordered[1:])
    if closing is not None:
        shots.append(Shot(closing, "closing"))
    return shots


_DROP_ORDER = {"room": 0, "repeat": 0, "room_start": 1}  # dropped first: a room's extra clips


def fit_shot_count(shots: Sequence[Shot], max_shots: int, min_shots: int, allow_repeats: bool) -> list[Shot]:
    """At most `max_shots`: the opening and closing stay, then each room's first shot, best
    scores first. Fewer than `min_shots`, and only where the template allows repeats: the
    middle shots are shown again, in order, before the closing, never a clip right after itself."""
    shots = list(shots)
    middle = [i for i, s in enumerate(shots) if s.role not in ("opening", "closing")]
    excess = len(shots) - max(max_shots, 1)
    if excess > 0:
        drop = sorted(middle, key=lambda i: (_DROP_ORDER[shots[i].role], shots[i].footage.score, -i))[:excess]
        if excess > len(middle):  # even the bookends do not fit: keep the opening
            drop = list(range(1, len(shots)))[: excess]
        shots = [s for i, s in enumerate(shots) if i not in set(drop)]
    if allow_repeats and shots and len(shots) < min_shots:
        tail = [shots.pop()] if len(shots) > 1 and shots[-1].role == "closing" else []
        shots += _repeats(shots, tail, min_shots - len(shots) - len(tail)) + tail
    return shots


def _repeats(shots: Sequence[Shot], tail: Sequence[Shot], count: int) -> list[Shot]:
    """Up to `count` repeats to go between `shots` and `tail`: the middle shots again in order
    (every shot when the middle has fewer than two clips), skipping any that would follow the
    same clip; fewer where no other clip can go next (a single clip cannot repeat)."""
    middle = [s for s in shots if s.role not in ("opening", "closing")]
    pool = middle if len({s.footage.clip_id for s in middle}) > 1 else [*shots, *tail]
    seen = Counter(s.footage.clip_id for s in [*shots, *tail])
    added: list[Shot] = []
    previous = shots[-1].footage.clip_id
    k = 0
    while len(added) < count:
        final = len(added) == count - 1 and tail
        for source in pool[k % len(pool):] + pool[: k % len(pool)]:
            k += 1
            clip = source.footage.clip_id
            if clip != previous and not (final and clip == tail[0].footage.clip_id):
                break
        else:
            return added
        added.append(replace(source, role="repeat", occurrence=seen[clip]))
        seen[clip] += 1
        previous = clip
    return added
