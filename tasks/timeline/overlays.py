"""Cards and captions as timeline items: which ones a version has, what they say, and when.

Phase 3 composes them from the listing (db.listing) and the shots: a title over the opening
(address, price, facts, status), a lower-third caption where a new room starts (its name in the
caption language, or the agent's own caption of the photo, which always shows), an agent card
over the closing (left out of the MLS-unbranded cut), and the disclosure label when the
template asks for it and some shot was generated. They are `timeline_overlays` rows, so edits
change them like shots; Phase 4 only draws what the rows say.

Each overlay belongs to a shot. `place` times it on that shot, entering on a beat after the
cut has settled and leaving on a beat before the next transition, and holding each long
enough to read; edits that move or drop shots carry captions with their shot (`follow_shots`)
and then place everything again, so overlays always sit on the version's own cuts and beats.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from db.enums import OverlayKind, OverlayPosition, RoomType
from db.listing import Line, Listing, MediaUri
from db.validation import one_line
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.overlays import Overlay
from tasks.timeline.timing import ShotTiming, total_duration
from tasks.timeline.wording import DISCLOSURE, facts_text, price_text, room_name

SETTLE_S = 0.2  # after a cut, before text comes in
TITLE_MIN_S = 3.0  # the least time a title stays fully readable
CAPTION_MIN_S = 1.2
AGENT_MIN_S = 4.0  # name and phone need the longest read
FADE_S = 0.3  # in and out; at most half a beat with music
MAX_SNAP_S = 0.6  # an entry or exit moves at most this far to land on a beat


class OverlayRefused(ValueError):
    """Content or a change an overlay cannot take; the message says which field and why."""


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class TitleContent(_Content):
    status: Short | None = None  # "Just listed", "Open house Sat 2-4"
    address: list[Line] = Field(default_factory=list, max_length=3)
    price: Short | None = None
    facts: Line | None = None


class CaptionContent(_Content):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class AgentContent(_Content):
    name: Line | None = None
    brokerage: Line | None = None
    phone: Short | None = None
    email: Line | None = None
    logo_uri: MediaUri | None = None
    headshot_uri: MediaUri | None = None


class DisclosureContent(_Content):
    text: Line


CONTENT: dict[OverlayKind, type[_Content]] = {
    OverlayKind.title: TitleContent,
    OverlayKind.room_caption: CaptionContent,
    OverlayKind.agent_card: AgentContent,
    OverlayKind.disclosure: DisclosureContent,
}


def checked_content(kind: OverlayKind, content: Mapping[str, Any]) -> dict[str, Any]:
    """`content` as the kind's schema has it (JSON-ready), or OverlayRefused naming the field."""
    try:
        return CONTENT[kind].model_validate(dict(content)).model_dump(mode="json", exclude_none=True)
    except ValidationError as err:
        raise OverlayRefused(one_line(err, f"{kind.value} content", join=".")) from None


@dataclass(frozen=True)
class ShotFacts:
    """What Phase 3 knows of a shot that its caption needs."""

    room: RoomType
    room_cluster_id: int
    caption: str | None = None  # the agent's own caption of the shot's lead photo


def title_content(listing: Listing) -> dict[str, Any] | None:
    content = {"status": listing.status, "address": list(listing.address_lines), "price": price_text(listing),
               "facts": facts_text(listing)}
    return checked_content(OverlayKind.title, content) if any(content.values()) else None


def agent_content(listing: Listing) -> dict[str, Any] | None:
    agent = listing.agent.model_dump(exclude_none=True) if listing.agent else {}
    return checked_content(OverlayKind.agent_card, agent) if agent else None


def compose_overlays(
    listing: Listing, shots: Sequence[ShotFacts], rows: Sequence[ShotTiming], beats: Sequence[float] | None,
    fps: int, *, captions: bool, disclosure: bool,
) -> list[Overlay]:
    """The new version's overlays, placed (see the module doc)."""
    last = len(rows) - 1
    title, agent = title_content(listing), agent_content(listing)
    items = []
    if title:
        items.append(Overlay(OverlayKind.title, 0, title, OverlayPosition.middle))
    for i, shot in enumerate(shots):
        if not captions or (i == 0 and title) or (i == last and agent):
            continue
        new_room = i == 0 or shot.room_cluster_id != shots[i - 1].room_cluster_id
        text = shot.caption or (room_name(shot.room, listing.caption_language) if new_room else None)
        if text:
            items.append(Overlay(OverlayKind.room_caption, i, checked_content(OverlayKind.room_caption, {"text": text}),
                                 OverlayPosition.bottom))
    if agent:
        items.append(Overlay(OverlayKind.agent_card, last, agent, OverlayPosition.middle, branded_only=True))
    if disclosure:
        items.append(Overlay(OverlayKind.disclosure, None, {"text": DISCLOSURE[listing.caption_language]},
                             OverlayPosition.top))
    return place(items, rows, beats, fps)


def follow_shots(overlays: Sequence[Overlay], moves: Sequence[int | None]) -> list[Overlay]:
    """After shots moved (`moves[old index]` = new index, None: removed): captions go with
    their shot and leave with it; the title stays on the first shot, the agent card on the last."""
    last = sum(m is not None for m in moves) - 1
    moved = []
    for overlay in overlays:
        if overlay.kind is OverlayKind.title:
            moved.append(replace(overlay, shot_index=0))
        elif overlay.kind is OverlayKind.agent_card:
            moved.append(replace(overlay, shot_index=last))
        elif overlay.shot_index is None:
            moved.append(overlay)
        elif moves[overlay.shot_index] is not None:
            moved.append(replace(overlay, shot_index=moves[overlay.shot_index]))
    return moved


def _snap(t: float, beats: Sequence[float] | None, up: bool) -> float:
    """The nearest beat at or after (`up`) or before `t`, if one is within MAX_SNAP_S."""
    if not beats:
        return t
    i = bisect.bisect_left(beats, t - 1e-6) if up else bisect.bisect_right(beats, t + 1e-6) - 1
    if 0 <= i < len(beats) and abs(beats[i] - t) <= MAX_SNAP_S:
        return beats[i]
    return t


def place(overlays: Sequence[Overlay], rows: Sequence[ShotTiming], beats: Sequence[float] | None,
          fps: int) -> list[Overlay]:
    """Every overlay's start, end and fade on these shots (and beats, when cuts follow them)."""
    total = total_duration(rows, fps)
    clear = [  # where each shot is alone on screen: after its transition in, before the next one
        (row.start_time + row.transition_duration, rows[i + 1].start_time if i + 1 < len(rows) else total)
        for i, row in enumerate(rows)
    ]
    period = (beats[1] - beats[0]) if beats and len(beats) > 1 else None

    def on_frames(t: float) -> float:
        return round(min(max(t, 0.0), total) * fps) / fps

    placed = []
    for overlay in overlays:
        if overlay.kind is OverlayKind.disclosure or overlay.shot_index is None:
            start, end = 0.0, total
        elif overlay.kind is OverlayKind.agent_card:
            start = _snap(min(clear[overlay.shot_index][0] + SETTLE_S, total - AGENT_MIN_S), beats, up=False)
            end = total
        elif overlay.kind is OverlayKind.title:
            start = _snap(SETTLE_S, beats, up=True)
            end = _snap(max(clear[overlay.shot_index][1] - SETTLE_S, start + TITLE_MIN_S), beats, up=True)
        else:
            a, b = clear[overlay.shot_index]
            start, end = _snap(a + SETTLE_S, beats, up=True), _snap(b - SETTLE_S, beats, up=False)
            if end - start < CAPTION_MIN_S:  # a short shot: the caption may run into the next one
                start, end = a + SETTLE_S, max(b - SETTLE_S, a + SETTLE_S + CAPTION_MIN_S)
        start, end = on_frames(start), on_frames(end)
        if end - start < 1 / fps:  # a video shorter than the reading times: the overlay spans it
            start, end = 0.0, on_frames(total)
        fade = 0.0 if overlay.kind is OverlayKind.disclosure else min(FADE_S, (end - start) / 4, *(
            [period / 2] if period else []))
        placed.append(replace(overlay, start_time=start, end_time=end, fade_duration=round(fade, 4)))
    return clear_of_agent_card(placed, fps)


def clear_of_agent_card(overlays: list[Overlay], fps: int) -> list[Overlay]:
    """Captions end where the agent card comes in (one card at a time at the close)."""
    agent = next((o for o in overlays if o.kind is OverlayKind.agent_card), None)
    if agent is None:
        return overlays
    return [replace(o, end_time=max(agent.start_time, o.start_time + 1 / fps))
            if o.kind is OverlayKind.room_caption and o.end_time > agent.start_time else o for o in overlays]


def beats_for(grid: BeatGrid | None, beat_sync: bool) -> Sequence[float] | None:
    """The beats overlays enter and leave on: the music's, when cuts follow them."""
    return grid.beats if grid is not None and beat_sync and grid.reliable else None


def overlay_changed(overlays: Sequence[Overlay], index: int, shots: int, *, content: Mapping[str, Any] | None = None,
                   shot_index: int | None = None, position: OverlayPosition | None = None,
                   visible: bool | None = None) -> tuple[list[Overlay], dict[str, Any]]:
    """One overlay changed (content merged key by key, then checked); returns all and what changed."""
    if not 0 <= index < len(overlays):
        raise OverlayRefused(f"no overlay at index {index}: this version has {len(overlays)}"
                             + (f" (0-{len(overlays) - 1})" if overlays else ""))
    old = overlays[index]
    new = old
    if content is not None:
        new = replace(new, content=checked_content(old.kind, {**old.content, **content}))
    if shot_index is not None:
        if old.kind is not OverlayKind.room_caption:
            raise OverlayRefused(f"a {old.kind.value} stays where it is; only room captions move to another shot")
        if shot_index >= shots:
            raise OverlayRefused(f"no shot at index {shot_index}: the version has {shots} (0-{shots - 1})")
        new = replace(new, shot_index=shot_index)
    if position is not None:
        new = replace(new, position=position)
    if visible is not None:
        new = replace(new, visible=visible)
    if new == old:
        raise OverlayRefused(f"overlay {index} ({old.kind.value}) already is that")
    changed = {k: v for k, v in new.to_json().items() if v != old.to_json()[k]}
    return [new if i == index else o for i, o in enumerate(overlays)], changed


def captions_shown(overlays: Sequence[Overlay], visible: bool) -> list[Overlay]:
    """Every room caption on or off."""
    captions = [o for o in overlays if o.kind is OverlayKind.room_caption]
    if not captions:
        raise OverlayRefused("this version has no room captions")
    if all(o.visible == visible for o in captions):
        raise OverlayRefused(f"the room captions are already {'on' if visible else 'off'}")
    return [replace(o, visible=visible) if o.kind is OverlayKind.room_caption else o for o in overlays]
