"""Enumerated values of the data contract. The database checks them too (see db.models)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    pending = "pending"
    running = "running"
    stopped = "stopped"  # ran up to jobs.stop_after and stopped cleanly
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"  # stopped on request; a later run resumes from the phase it was in


class Phase(StrEnum):
    analyze = "analyze"
    render = "render"
    timeline = "timeline"
    assemble = "assemble"


PHASE_ORDER: tuple[Phase, ...] = (Phase.analyze, Phase.render, Phase.timeline, Phase.assemble)


class ConfidenceTier(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class MotionType(StrEnum):
    micro_push_in = "micro_push_in"
    micro_push_out = "micro_push_out"
    subtle_pan = "subtle_pan"
    two_image_reveal = "two_image_reveal"
    multi_image_synthesis = "multi_image_synthesis"


class ClipStatus(StrEnum):
    pending = "pending"
    rendering = "rendering"
    validating = "validating"
    done = "done"
    failed = "failed"  # could not be produced; reason in clips.error
    rejected = "rejected"  # rendered but failed validation; a safer attempt follows
    interrupted = "interrupted"  # worker stopped (Spot SIGTERM); retried
    superseded = "superseded"  # its plan was replaced by a newer analysis


class TransitionType(StrEnum):
    """`cut` or an ffmpeg xfade transition name, so the renderer needs no mapping table."""

    cut = "cut"
    fade = "fade"
    fadeblack = "fadeblack"
    fadewhite = "fadewhite"
    dissolve = "dissolve"
    slideleft = "slideleft"
    slideright = "slideright"
    wipeleft = "wipeleft"
    wiperight = "wiperight"
    smoothleft = "smoothleft"
    smoothright = "smoothright"
    circleopen = "circleopen"
    zoomin = "zoomin"


class TimelineStatus(StrEnum):
    draft = "draft"
    ready = "ready"
    rendering = "rendering"
    rendered = "rendered"
    failed = "failed"


class AudioPolicy(StrEnum):
    music_only = "music_only"  # clip audio muted under the music
    duck_music = "duck_music"  # clip audio over lowered music
    clip_only = "clip_only"  # music muted for this clip
    mix = "mix"


class EditType(StrEnum):
    reorder = "reorder"
    trim = "trim"
    change_transition = "change_transition"
    remove_clip = "remove_clip"
    swap_music = "swap_music"
    change_pacing = "change_pacing"
    change_overlay = "change_overlay"  # a card's or caption's text, shot, position or visibility
    show_captions = "show_captions"  # every room caption on or off


class OverlayKind(StrEnum):
    """What a timeline_overlays row draws (tasks.timeline.overlays defines each one's content)."""

    title = "title"  # address, price, facts, status: over the opening
    room_caption = "room_caption"  # lower third: the room, or the agent's own caption for the photo
    agent_card = "agent_card"  # name, brokerage, phone, email, logo, headshot: over the closing (branded cut only)
    disclosure = "disclosure"  # "Motion generated from still photos"


class OverlayPosition(StrEnum):
    """Where in the format's safe area an overlay sits."""

    top = "top"
    middle = "middle"
    bottom = "bottom"


class EditStatus(StrEnum):
    """Where an `edits` row stands: Rails inserts it pending, the pipeline decides."""

    pending = "pending"
    applied = "applied"  # result_timeline_id is the version it made
    rejected = "rejected"  # edits.reason says why; nothing of it was applied


class EventType(StrEnum):
    """What the pipeline tells Rails (db/schemas/event.schema.json is the wire shape)."""

    phase_started = "phase.started"
    job_stopped = "job.stopped"  # ran up to stop_after
    job_completed = "job.completed"  # final video ready
    job_failed = "job.failed"
    job_cancelled = "job.cancelled"
    edit_applied = "edit.applied"
    edit_rejected = "edit.rejected"


class RoomType(StrEnum):
    """Room labels Phase 1 assigns (zero-shot prompts or the classical fallback)."""

    front_exterior = "front_exterior"
    backyard = "backyard"
    aerial = "aerial"
    pool = "pool"
    living_room = "living_room"
    kitchen = "kitchen"
    dining_room = "dining_room"
    bedroom = "bedroom"
    bathroom = "bathroom"
    office = "office"
    laundry = "laundry"
    garage = "garage"
    hallway = "hallway"
    other = "other"


EXTERIOR_ROOMS = frozenset({RoomType.front_exterior, RoomType.backyard, RoomType.aerial, RoomType.pool})
