"""`room_override`: a person's room label beats the model's, photo by photo.

The model proposes groups (same room, several views) and a label per group. Then:

1. A group that holds overridden photos takes the room most of them name (ties: the room named
   first in the group's order): the model saw one room, the person told us which.
2. An overridden photo whose room differs from its group's leaves that group. It joins the group
   of its room whose embedding centroid is closest, or, where no group has that room, a new group
   with the other photos that name it.

Every move and relabel is written down, so the report can show each override's effect.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from db.enums import RoomType
from tasks.analyze.rooms import RoomLabel

OVERRIDE_BACKEND = "manual_override"


@dataclass
class RoomGroup:
    room_type: RoomType
    members: list[int]  # indices into the photos the caller grouped
    model_label: RoomLabel | None  # None for a group made only of overridden photos
    label_source: str  # the model backend, or OVERRIDE_BACKEND
    label_confidence: float  # 1.0 when a person named the room
    notes: list[str] = field(default_factory=list)


def apply_room_overrides(
    groups: Sequence[int],
    labels: Mapping[int, RoomLabel],
    overrides: Sequence[RoomType | None],
    embeddings: np.ndarray,
    names: Sequence[str],
) -> tuple[list[RoomGroup], dict[int, str]]:
    """Final room groups, and for each overridden photo (by index) what its override did.

    `groups[i]` is photo i's model group, `labels` the model's label per group,
    `overrides[i]` photo i's room_override, `names[i]` how to call it in the notes.
    """
    result: list[RoomGroup] = []
    leavers: list[int] = []
    effects: dict[int, str] = {}
    decided: dict[int, RoomType] = {}  # model group -> its room after step 1
    for g, label in sorted(labels.items()):
        members = [i for i, gi in enumerate(groups) if gi == g]
        if not members:
            continue
        named = [overrides[i] for i in members if overrides[i] is not None]
        group = RoomGroup(label.room_type, members, label, label.backend, label.confidence)
        if named:
            counts = Counter(named)
            top = max(counts.values())
            room = next(r for r in named if counts[r] == top)
            group.room_type, group.label_source, group.label_confidence = room, OVERRIDE_BACKEND, 1.0
            if room != label.room_type:
                group.notes.append(
                    f"room {room.value} by override ({top} of {len(members)} photos), model said "
                    f"{label.room_type.value} ({label.confidence:.2f})"
                )
        decided[g] = group.room_type
        for i in members:
            if overrides[i] is None:
                continue
            if overrides[i] == group.room_type:
                effects[i] = (
                    f"room_override {overrides[i].value}: agrees with the model"
                    if group.room_type == label.room_type
                    else f"room_override {overrides[i].value}: relabelled its group from {label.room_type.value}"
                )
            else:
                leavers.append(i)
        group.members = [i for i in members if i not in leavers]
        if group.members:
            result.append(group)

    for i in leavers:
        room = overrides[i]
        assert room is not None
        origin = decided[groups[i]].value
        same_room = [grp for grp in result if grp.room_type == room]
        if same_room:
            target = max(
                same_room, key=lambda grp: float(embeddings[grp.members].mean(axis=0) @ embeddings[i])
            )
            effects[i] = (
                f"room_override {room.value}: moved out of a {origin} group into the {room.value} group"
            )
        else:
            target = RoomGroup(room, [], None, OVERRIDE_BACKEND, 1.0)
            result.append(target)
            effects[i] = (
                f"room_override {room.value}: moved out of a {origin} group into a new {room.value} group"
            )
        target.members.append(i)
        target.notes.append(f"{names[i]} joined by room_override")
    return result, effects
