"""Shot order: the selection priorities (with overrides) and the walk through the home."""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.domain.selection import Candidate
from tasks.domain.templates import get_template
from tasks.timeline.phase import choose_picks, room_type_of
from tasks.timeline.sequencing import (
    Footage,
    Picks,
    Shot,
    fit_shot_count,
    sequence_shots,
)


def listing(*rooms: tuple[str, list[tuple[float, dict]]]) -> tuple[list[Footage], dict[int, Candidate]]:
    """Rooms as (room type, [(final_score, flags) per clip]); clip i leads with photo 100 + i."""
    footage, candidates = [], {}
    for cluster_id, (room_type, clips) in enumerate(rooms, start=1):
        for score, flags in clips:
            clip_id = len(footage) + 1
            photo_id = 100 + clip_id
            footage.append(Footage(clip_id, cluster_id, room_type_of(room_type), photo_id, 4.0, score))
            candidates[photo_id] = Candidate(photo_id, room_type_of(room_type), score, **flags)
    return footage, candidates


def order(footage: list[Footage], candidates: dict[int, Candidate], template: str = "standard") -> list[Shot]:
    picks, _ = choose_picks(footage, candidates, get_template(template))
    return sequence_shots(footage, picks)


def rooms_of(shots: list[Shot]) -> list[str]:
    return [s.footage.room_type for s in shots]


def test_rooms_follow_the_walk_through_order() -> None:
    types = ["pool", "bathroom", "kitchen", "office", "bedroom", "living_room", "backyard", "dining_room",
             "front_exterior", "hallway", "aerial", "garage"]
    footage, _ = listing(*((t, [(0.5, {})]) for t in types))
    shots = sequence_shots(footage, Picks(None, None))
    assert rooms_of(shots) == [
        "aerial", "front_exterior", "hallway", "living_room", "kitchen", "dining_room", "bedroom", "bathroom",
        "office", "garage", "backyard", "pool",
    ]
    assert [s.role for s in shots] == ["room_start"] * len(types)


def test_rooms_of_one_type_go_best_first_and_unknown_labels_walk_with_other_rooms() -> None:
    footage, _ = listing(("bedroom", [(0.4, {})]), ("bedroom", [(0.9, {})]), ("wine_cellar", [(0.9, {})]),
                         ("bathroom", [(0.1, {})]), ("backyard", [(0.2, {})]))
    shots = sequence_shots(footage, Picks(None, None))
    assert [(s.footage.room_type, s.footage.score) for s in shots] == [
        ("bedroom", 0.9), ("bedroom", 0.4), ("bathroom", 0.1), ("other", 0.9), ("backyard", 0.2)]


def test_default_opening_is_the_front_exterior_and_closing_the_best_other_exterior() -> None:
    footage, cands = listing(("kitchen", [(0.9, {})]), ("front_exterior", [(0.5, {}), (0.6, {})]),
                             ("backyard", [(0.3, {})]), ("bedroom", [(0.7, {})]))
    shots = order(footage, cands)
    assert shots[0].role == "opening" and shots[0].footage.room_type == "front_exterior"
    assert shots[0].footage.score == 0.6  # the better front photo opens
    # exterior or drone, best final_score first, not the opening photo: the other front photo
    assert shots[-1].role == "closing" and (shots[-1].footage.room_type, shots[-1].footage.score) == ("front_exterior", 0.5)
    assert rooms_of(shots[1:-1]) == ["kitchen", "bedroom", "backyard"]


def test_preferred_opening_beats_hero_global_and_the_exterior() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("kitchen", [(0.5, {"hero_global": True})]),
                             ("bedroom", [(0.2, {"preferred_opening": True})]))
    shots = order(footage, cands)
    assert shots[0].footage.room_type == "bedroom" and shots[0].role == "opening"
    # the closing: hero_global comes before exterior
    assert shots[-1].footage.room_type == "kitchen" and shots[-1].role == "closing"


def test_hero_global_opens_when_nothing_is_preferred() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("kitchen", [(0.5, {"hero_global": True})]))
    shots = order(footage, cands)
    assert shots[0].footage.room_type == "kitchen"
    assert shots[-1].footage.room_type == "front_exterior"  # the opening photo does not also close


def test_drone_opens_only_where_the_template_prefers_it() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("aerial", [(0.3, {})]), ("kitchen", [(0.8, {})]))
    assert order(footage, cands, "luxury")[0].footage.room_type == "aerial"
    assert order(footage, cands, "standard")[0].footage.room_type == "front_exterior"


def test_best_interior_opens_and_closes_a_listing_without_exteriors() -> None:
    footage, cands = listing(("kitchen", [(0.5, {})]), ("living_room", [(0.8, {})]), ("bedroom", [(0.7, {})]))
    shots = order(footage, cands)
    assert shots[0].footage.room_type == "living_room"
    assert shots[-1].footage.room_type == "bedroom"  # best interior after the opening one


def test_preferred_closing_wins_the_close() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("backyard", [(0.8, {})]),
                             ("bathroom", [(0.1, {"preferred_closing": True})]), ("kitchen", [(0.5, {"hero_global": True})]))
    shots = order(footage, cands)
    assert shots[-1].footage.room_type == "bathroom" and shots[-1].role == "closing"


def test_room_start_priority_hero_room_then_preferred_opening_then_score() -> None:
    footage, cands = listing(
        ("front_exterior", [(0.9, {})]),
        ("kitchen", [(0.9, {}), (0.3, {"hero_room": True}), (0.5, {"preferred_opening": True})]),
        ("living_room", [(0.95, {}), (0.35, {"preferred_opening": True})]),
        ("bedroom", [(0.4, {}), (0.6, {"preferred_opening": True}), (0.8, {})]),
        ("bathroom", [(0.2, {}), (0.7, {})]),
    )
    picks, reasons = choose_picks(footage, cands, get_template("standard"))
    shots = sequence_shots(footage, picks)
    # the best preferred_opening photo opens the video (and so leaves its room)
    assert (shots[0].footage.room_type, shots[0].footage.score) == ("bedroom", 0.6)
    by_room: dict[str, list[float]] = {}
    for s in shots[1:-1]:
        by_room.setdefault(s.footage.room_type, []).append(s.footage.score)
    assert by_room["kitchen"] == [0.3, 0.9, 0.5]  # hero_room first, then by score
    assert by_room["living_room"] == [0.35, 0.95]  # preferred_opening before a higher score
    assert by_room["bathroom"] == [0.7, 0.2]  # highest final_score
    assert by_room["bedroom"] == [0.8, 0.4]
    assert list(by_room) == ["living_room", "kitchen", "bedroom", "bathroom"]
    assert "hero_room" in reasons["room_starts"]["2"] and "preferred_opening" in reasons["room_starts"]["3"]


def test_no_clip_is_shown_twice() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("kitchen", [(0.5, {}), (0.4, {})]))
    shots = order(footage, cands)
    counts = Counter(s.footage.clip_id for s in shots)
    assert max(counts.values()) == 1 and len(counts) == len(footage)


def test_a_single_clip_opens_and_is_not_repeated_to_close() -> None:
    footage, cands = listing(("kitchen", [(0.5, {})]))
    shots = order(footage, cands)
    assert [s.role for s in shots] == ["opening"]


def test_dropping_keeps_the_bookends_and_room_starts_first() -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("kitchen", [(0.5, {}), (0.45, {})]),
                             ("bedroom", [(0.3, {}), (0.2, {})]), ("backyard", [(0.8, {})]))
    shots = order(footage, cands)
    assert len(shots) == 6
    four = fit_shot_count(shots, 4, 0, allow_repeats=False)
    assert [s.role for s in four] == ["opening", "room_start", "room_start", "closing"]
    assert [s.footage.room_type for s in four] == ["front_exterior", "kitchen", "bedroom", "backyard"]
    three = fit_shot_count(shots, 3, 0, allow_repeats=False)
    assert [s.footage.room_type for s in three] == ["front_exterior", "kitchen", "backyard"]  # the weaker room goes


@pytest.mark.parametrize("allow", [True, False])
def test_repeats_only_where_the_template_allows(allow: bool) -> None:
    footage, cands = listing(("front_exterior", [(0.9, {})]), ("kitchen", [(0.5, {})]), ("bedroom", [(0.4, {})]),
                             ("backyard", [(0.8, {})]))
    shots = fit_shot_count(order(footage, cands), 10, 7, allow_repeats=allow)
    if not allow:
        assert len(shots) == 4
        return
    assert len(shots) == 7 and shots[-1].role == "closing"
    repeats = [s for s in shots if s.role == "repeat"]
    assert [s.footage.room_type for s in repeats] == ["kitchen", "bedroom", "kitchen"]
    assert [s.occurrence for s in repeats] == [1, 1, 2]
