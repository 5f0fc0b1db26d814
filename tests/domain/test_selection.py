"""Opening, Room Start and Closing Selection Priorities: every step, in order, on hand-made sets."""

from __future__ import annotations

from db.enums import RoomType
from tasks.domain.selection import (
    Candidate,
    select_closing,
    select_opening,
    select_room_start,
)

R = RoomType


def c(pid: int, room: RoomType, score: float, **flags) -> Candidate:
    return Candidate(photo_id=pid, room_type=room, final_score=score, **flags)


# A set where every step of every list has something to pick, so removing the winner of one step
# shows the next step taking over.
FRONT = c(1, R.front_exterior, 0.70)
DRONE = c(2, R.aerial, 0.60)
KITCHEN = c(3, R.kitchen, 0.90)
BACKYARD = c(4, R.backyard, 0.80)
BEDROOM = c(5, R.bedroom, 0.50)


def test_opening_walks_its_priority_list():
    base = [FRONT, DRONE, KITCHEN, BACKYARD, BEDROOM]
    preferred = c(6, R.bedroom, 0.10, preferred_opening=True)
    hero = c(7, R.bathroom, 0.20, hero_global=True)

    choice = select_opening([*base, preferred, hero], prefer_drone=True)
    assert (choice.photo_id, choice.rule) == (6, "preferred_opening")
    choice = select_opening([*base, hero], prefer_drone=True)
    assert (choice.photo_id, choice.rule) == (7, "hero_global")
    choice = select_opening(base, prefer_drone=True)
    assert (choice.photo_id, choice.rule) == (2, "drone")
    choice = select_opening(base, prefer_drone=False)  # drone only if the template prefers it
    assert (choice.photo_id, choice.rule) == (1, "front_exterior")
    assert choice.reason.startswith("opening priority step 4 (front_exterior)")
    choice = select_opening([DRONE, KITCHEN, BACKYARD, BEDROOM], prefer_drone=False)
    assert (choice.photo_id, choice.rule) == (3, "best_interior")  # backyard is not a front exterior
    choice = select_opening([DRONE, BACKYARD], prefer_drone=False)
    assert (choice.photo_id, choice.rule) == (4, "best_available")
    assert "beyond the priority list" in choice.reason
    assert select_opening([], prefer_drone=True) is None


def test_ties_go_to_the_higher_final_score_then_the_lower_id():
    a = c(10, R.front_exterior, 0.5)
    b = c(11, R.front_exterior, 0.8)
    d = c(9, R.front_exterior, 0.8)
    choice = select_opening([a, b, d], prefer_drone=False)
    assert choice.photo_id == 9
    assert "best final_score of 3" in choice.reason
    two = [c(20, R.kitchen, 0.4, preferred_opening=True), c(21, R.kitchen, 0.6, preferred_opening=True)]
    assert select_opening(two, prefer_drone=False).photo_id == 21


def test_opening_leaves_the_preferred_closing_photo_for_the_close():
    closer = c(8, R.front_exterior, 0.95, preferred_closing=True)
    other = c(9, R.front_exterior, 0.50)
    choice = select_opening([closer, other, KITCHEN], prefer_drone=False)
    assert (choice.photo_id, choice.rule) == (9, "front_exterior")
    assert select_closing([closer, other, KITCHEN], opening_photo_id=9).photo_id == 8
    choice = select_opening([closer], prefer_drone=False)  # nothing else to open with
    assert (choice.photo_id, choice.rule) == (8, "front_exterior")
    hero = c(10, R.kitchen, 0.5, hero_global=True, preferred_closing=True)
    assert select_opening([hero, other], prefer_drone=False).rule == "hero_global"  # explicit steps honour it


def test_closing_walks_its_priority_list():
    base = [FRONT, DRONE, KITCHEN, BACKYARD, BEDROOM]
    preferred = c(6, R.bedroom, 0.10, preferred_closing=True)
    hero = c(7, R.bathroom, 0.20, hero_global=True)
    assert select_closing([*base, preferred, hero]).rule == "preferred_closing"
    choice = select_closing([*base, hero])
    assert (choice.photo_id, choice.rule) == (7, "hero_global")
    choice = select_closing(base)
    assert (choice.photo_id, choice.rule) == (4, "exterior_or_drone")  # best of front, drone, backyard
    choice = select_closing([KITCHEN, BEDROOM])
    assert (choice.photo_id, choice.rule) == (3, "best_interior")


def test_closing_avoids_the_opening_photo_except_when_asked_for_it():
    hero = c(7, R.front_exterior, 0.9, hero_global=True)
    choice = select_closing([hero, BACKYARD, KITCHEN], opening_photo_id=7)
    assert (choice.photo_id, choice.rule) == (4, "exterior_or_drone")
    both = c(8, R.front_exterior, 0.9, preferred_opening=True, preferred_closing=True)
    choice = select_closing([both, BACKYARD], opening_photo_id=8)
    assert (choice.photo_id, choice.rule) == (8, "preferred_closing")
    choice = select_closing([hero], opening_photo_id=7)
    assert (choice.photo_id, choice.rule) == (7, "only_photo")


def test_room_start_walks_its_priority_list():
    best = c(1, R.kitchen, 0.95)
    opener = c(2, R.kitchen, 0.40, preferred_opening=True)
    hero_room = c(3, R.kitchen, 0.30, hero_room=True)
    global_hero = c(4, R.kitchen, 0.50, hero_global=True)  # not a step of its own: only its bonus counts
    assert (select_room_start([best, opener, hero_room, global_hero]).photo_id) == 3
    choice = select_room_start([best, opener, global_hero])
    assert (choice.photo_id, choice.rule) == (2, "preferred_opening")
    choice = select_room_start([best, global_hero])
    assert (choice.photo_id, choice.rule) == (1, "highest_final_score")
    assert select_room_start([]) is None
