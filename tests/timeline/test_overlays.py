"""Cards and captions as timeline rows: what Phase 3 composes from the listing, where and when
it places them, and how edits change them (Rails' pending-edits path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from db.enums import AudioPolicy, EditStatus, OverlayKind, RoomType, TransitionType
from db.listing import parse_listing
from db.models import Edit
from db.session import session_scope
from tasks.domain.disclosure import is_generated
from tasks.domain.overlays import read_overlays
from tasks.timeline.edits import apply_pending_edits
from tasks.timeline.overlays import (
    AGENT_MIN_S,
    CAPTION_MIN_S,
    TITLE_MIN_S,
    ShotFacts,
    compose_overlays,
    place,
)
from tasks.timeline.phase import run_timeline
from tasks.timeline.timing import ShotTiming
from tasks.timeline.versions import read_version
from tests.timeline.rows import P, Room, Seeded, music_file, seed
from tests.timeline.test_pending_edits import rails_edit

LISTING = {
    "address_lines": ["1428 Orchard Lane", "Springfield, IL 62704"], "price": {"amount": 849000, "currency": "USD"},
    "beds": 4, "baths": 2.5, "status": "Just listed",
    "agent": {"name": "Jordan Avery", "phone": "(217) 555-0142"},
}


def rows_of(lengths: list[float], fade: float = 0.0) -> list[ShotTiming]:
    rows, start = [], 0.0
    for i, length in enumerate(lengths):
        transition = TransitionType.fade if i and fade else TransitionType.cut
        rows.append(ShotTiming(i + 1, 0.0, length, start, transition, fade if i else 0.0, AudioPolicy.music_only))
        start += length - fade
    return rows


SHOTS = [ShotFacts(RoomType.front_exterior, 1), ShotFacts(RoomType.kitchen, 2), ShotFacts(RoomType.kitchen, 2),
         ShotFacts(RoomType.bedroom, 3, caption="Primary suite"), ShotFacts(RoomType.bathroom, 4)]


def test_composes_title_captions_agent_card_and_disclosure() -> None:
    rows = rows_of([3.0] * 5)
    overlays = compose_overlays(parse_listing(LISTING), SHOTS, rows, None, 30, captions=True, disclosure=True)
    kinds = [(o.kind, o.shot_index) for o in overlays]
    # the title over the opening; a caption where the kitchen starts (not on its 2nd shot), the
    # agent's own caption, then the agent card over the closing instead of a bathroom caption
    assert kinds == [(OverlayKind.title, 0), (OverlayKind.room_caption, 1), (OverlayKind.room_caption, 3),
                     (OverlayKind.agent_card, 4), (OverlayKind.disclosure, None)]
    title, kitchen, suite, agent, disclosure = overlays
    assert title.content == {"status": "Just listed", "address": ["1428 Orchard Lane", "Springfield, IL 62704"],
                             "price": "$849,000", "facts": "4 bd · 2.5 ba"}
    assert (kitchen.content, suite.content) == ({"text": "Kitchen"}, {"text": "Primary suite"})
    assert agent.branded_only and not title.branded_only and not kitchen.branded_only
    assert disclosure.content == {"text": "Motion generated from still photos"}
    assert title.end_time - title.start_time >= TITLE_MIN_S and agent.end_time == 15.0
    assert agent.end_time - agent.start_time >= AGENT_MIN_S
    assert 3.0 < kitchen.start_time < kitchen.end_time <= 6.0 and kitchen.end_time - kitchen.start_time >= CAPTION_MIN_S
    assert (disclosure.start_time, disclosure.end_time) == (0.0, 15.0)
    assert all(o.end_time <= agent.start_time for o in overlays if o.kind is OverlayKind.room_caption)


def test_words_follow_the_caption_language_and_nothing_is_made_without_listing() -> None:
    rows = rows_of([3.0] * 5)
    spanish = compose_overlays(parse_listing({**LISTING, "caption_language": "es"}), SHOTS, rows, None, 30,
                               captions=True, disclosure=False)
    assert spanish[0].content["price"] == "849.000\xa0US$" and spanish[1].content == {"text": "Cocina"}
    bare = compose_overlays(parse_listing(None), SHOTS, rows, None, 30, captions=False, disclosure=False)
    assert bare == []


def test_overlays_enter_and_leave_on_beats() -> None:
    rows = rows_of([3.0] * 5, fade=0.5)
    beats = [round(0.25 + 0.5 * k, 3) for k in range(40)]  # 120 BPM, first beat at 0.25 s
    overlays = compose_overlays(parse_listing(LISTING), SHOTS, rows, beats, 30, captions=True, disclosure=False)
    for o in overlays:
        if o.kind is OverlayKind.room_caption:
            # on the frame nearest a beat
            assert min(abs(o.start_time - b) for b in beats) <= 1 / 60 + 1e-9 and min(abs(o.end_time - b) for b in beats) <= 1 / 60 + 1e-9
            shot = rows[o.shot_index]
            assert o.start_time >= shot.start_time + shot.transition_duration  # after the transition in
        assert o.fade_duration <= 0.25  # at most half a beat


def test_placement_follows_shots_that_moved() -> None:
    overlays = compose_overlays(parse_listing(LISTING), SHOTS, rows_of([3.0] * 5), None, 30, captions=True,
                                disclosure=False)
    longer = place(overlays, rows_of([5.0] * 5), None, 30)
    kitchen = longer[1]
    assert 5.0 < kitchen.start_time and kitchen.end_time <= 10.0 and longer[-1].end_time == 25.0


def test_generated_motion() -> None:
    assert is_generated("ltx2:Lightricks/LTX-2", {}, 0.05)
    assert is_generated("parallax-cpu", {"generator": {"profile": {"push_travel": 0.09, "pan_travel": 0.05}}}, 0.05)
    assert not is_generated("parallax-cpu", {"generator": {"profile": {"push_travel": 0.04}}}, 0.05)
    assert not is_generated(None, None, 0.05)


@pytest.fixture
def job(db: str, store, tmp_path: Path) -> Seeded:
    rooms = [Room("front_exterior", [P("front", 0.95, duration=6.0)]),
             Room("kitchen", [P("kit", 0.6, duration=6.0, metadata={"caption": "Chef's kitchen"})]),
             Room("bedroom", [P("bed", 0.6, duration=6.0)]),
             Room("bathroom", [P("bath", 0.5, duration=6.0, metadata={"preferred_closing": True})])]
    seeded = seed(store, rooms, music=music_file(tmp_path, 120.0, 40.0), target_length=16.0, listing=LISTING)
    run_timeline(seeded.job_id)
    return seeded


def newest(job: Seeded):
    with session_scope() as s:
        timeline, rows = read_version(s, job.job_id)
        return timeline, rows, read_overlays(s, timeline.id)


def test_phase3_writes_overlay_rows_and_edits_change_them(job: Seeded, db: str) -> None:
    timeline, rows, overlays = newest(job)
    kinds = [o.kind for o in overlays]
    assert kinds[0] is OverlayKind.title and kinds[-1] is OverlayKind.agent_card
    captions = {rows[o.shot_index].clip_id: o.content["text"] for o in overlays if o.kind is OverlayKind.room_caption}
    assert captions[job.clip_ids["kit"]] == "Chef's kitchen"  # the agent's own caption of the photo
    kit = next(i for i, o in enumerate(overlays) if o.content.get("text") == "Chef's kitchen")
    moved_from = overlays[kit].shot_index

    first = rails_edit(db, timeline.id, "change_overlay", json.dumps({"index": 0, "content": {"price": "$825,000"}}))
    second = rails_edit(db, timeline.id, "reorder", json.dumps({"from_index": moved_from, "to_index": 2}))
    third = rails_edit(db, timeline.id, "show_captions", '{"visible": false}')
    result = apply_pending_edits(job.job_id)

    assert (result.applied, result.rejected) == ([first, second, third], {})
    _, after_rows, after = newest(job)
    assert after[0].content["price"] == "$825,000" and after[0].content["status"] == "Just listed"
    caption = next(o for o in after if o.content.get("text") == "Chef's kitchen")
    assert after_rows[caption.shot_index].clip_id == job.clip_ids["kit"]  # the caption moved with its shot
    assert moved_from == 1 and caption.shot_index == 2 and not caption.visible
    assert all(not o.visible for o in after if o.kind is OverlayKind.room_caption)
    assert after[-1].kind is OverlayKind.agent_card and after[-1].visible


@pytest.mark.parametrize("payload, reason", [
    ({"index": 0, "content": {"price": "x" * 40}}, "title content.price: String should have at most 32 characters"),
    ({"index": 0, "shot_index": 2}, "a title stays where it is; only room captions move to another shot"),
    ({"index": 40, "visible": False}, "no overlay at index 40"),
    ({"index": 0, "content": {"colour": "red"}}, "title content.colour: Extra inputs are not permitted"),
])
def test_invalid_overlay_edits_are_rejected_with_the_reason(job: Seeded, db: str, payload: dict, reason: str) -> None:
    timeline, _, _ = newest(job)
    edit = rails_edit(db, timeline.id, "change_overlay", json.dumps(payload))
    result = apply_pending_edits(job.job_id)
    assert result.version is None and result.rejected[edit].startswith(reason)
    with session_scope() as s:
        row = s.exec(select(Edit).where(Edit.id == edit)).one()
    assert row.status is EditStatus.rejected and row.reason.startswith(reason)
