"""room_override: relabel, move out, join the nearest same-room group, or start a new one."""

from __future__ import annotations

import numpy as np

from db.enums import RoomType
from tasks.analyze.room_overrides import OVERRIDE_BACKEND, apply_room_overrides
from tasks.analyze.rooms import RoomLabel

R = RoomType


def label(room: RoomType, conf: float = 0.6) -> RoomLabel:
    return RoomLabel(room, conf, "test-backend")


def unit_rows(*angles: float) -> np.ndarray:
    return np.array([[np.cos(a), np.sin(a)] for a in angles], np.float32)


NAMES = [f"p{i}.jpg" for i in range(10)]


def by_room(groups):
    return {g.room_type: sorted(g.members) for g in groups}


def test_without_overrides_the_model_decides():
    groups, effects = apply_room_overrides(
        [0, 0, 1], {0: label(R.kitchen), 1: label(R.bedroom)}, [None, None, None], unit_rows(0, 0, 1), NAMES
    )
    assert by_room(groups) == {R.kitchen: [0, 1], R.bedroom: [2]}
    assert effects == {}
    assert all(g.label_source == "test-backend" for g in groups)


def test_override_relabels_its_whole_group():
    groups, effects = apply_room_overrides(
        [0, 0, 0], {0: label(R.dining_room)}, [R.kitchen, None, None], unit_rows(0, 0, 0), NAMES
    )
    (group,) = groups
    assert group.room_type is R.kitchen and group.members == [0, 1, 2]
    assert group.label_source == OVERRIDE_BACKEND and group.label_confidence == 1.0
    assert "model said dining_room" in group.notes[0]
    assert "relabelled its group from dining_room" in effects[0]


def test_override_that_agrees_changes_nothing_but_says_so():
    groups, effects = apply_room_overrides(
        [0, 0], {0: label(R.kitchen)}, [R.kitchen, None], unit_rows(0, 0), NAMES
    )
    assert by_room(groups) == {R.kitchen: [0, 1]}
    assert "agrees" in effects[0]


def test_majority_of_overrides_names_the_group_and_dissenters_leave():
    # Group 0 has three photos saying living_room, one saying bedroom; a bedroom group exists.
    groups_in = [0, 0, 0, 0, 1, 2]
    labels = {0: label(R.dining_room), 1: label(R.bedroom), 2: label(R.bedroom)}
    overrides = [R.living_room, R.living_room, R.bedroom, None, None, None]
    emb = unit_rows(0, 0, 1.0, 0, 1.05, 2.5)  # photo 2 looks like group 1 (angle 1.05), not group 2
    groups, effects = apply_room_overrides(groups_in, labels, overrides, emb, NAMES)
    rooms = [(g.room_type, sorted(g.members)) for g in groups]
    assert (R.living_room, [0, 1, 3]) in rooms
    assert (R.bedroom, [2, 4]) in rooms  # joined the nearer bedroom group
    assert (R.bedroom, [5]) in rooms
    assert "moved out of a living_room group into the bedroom group" in effects[2]


def test_override_to_a_room_nobody_has_makes_a_new_group():
    groups, effects = apply_room_overrides(
        [0, 0, 0], {0: label(R.kitchen)}, [None, R.laundry, R.laundry], unit_rows(0, 0, 0), NAMES
    )
    # Two laundry votes beat zero kitchen votes: the group itself becomes laundry.
    assert by_room(groups) == {R.laundry: [0, 1, 2]}
    groups, effects = apply_room_overrides(
        [0, 0, 0, 0],
        {0: label(R.kitchen)},
        [R.kitchen, R.kitchen, R.laundry, None],
        unit_rows(0, 0, 0, 0),
        NAMES,
    )
    assert by_room(groups) == {R.kitchen: [0, 1, 3], R.laundry: [2]}
    new = next(g for g in groups if g.room_type is R.laundry)
    assert new.model_label is None and new.label_source == OVERRIDE_BACKEND
    assert "into a new laundry group" in effects[2]


def test_tied_votes_go_to_the_room_named_first():
    groups, effects = apply_room_overrides(
        [0, 0, 0], {0: label(R.kitchen)}, [None, R.office, R.laundry], unit_rows(0, 0, 0), NAMES
    )
    assert by_room(groups) == {R.office: [0, 1], R.laundry: [2]}
    assert "relabelled" in effects[1] and "new laundry group" in effects[2]
