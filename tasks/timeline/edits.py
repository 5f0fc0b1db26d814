"""The editor's contract: the design's edit types applied to a timeline version.

Each edit reads the newest version, applies one change (pure, below), and writes the result as
the next version with an `edits` row holding the payload (plus what was actually applied) and
both version ids. An invalid edit raises EditRefused before anything is written. After an edit
only Phase 4 needs to run: the new version is complete, with every start time and trim.

Shots are addressed by their index in the version. What each edit keeps:
- reorder, trim, remove_clip, change_transition keep every other shot's length and trim; with
  beat sync on, each cut is then moved to the nearest beat its clips can reach (so a trim's
  end may move by up to half a beat; the applied values are returned and recorded).
- change_transition keeps every start time: the previous shot plays longer under the overlap.
- swap_music and change_pacing re-cut the same shots, in the same order with the same
  transition types, to the new beat grid or pacing; their trims are recomputed.
- every edit keeps each shot's playback speed: a trim is given in the clip's own (source)
  seconds and checked against its rendered duration, and the shot then lasts (out-in)/speed.
- change_overlay and show_captions change cards and captions (tasks.timeline.overlays), never
  shots; after every other edit the overlays follow their shots and are placed again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlmodel import Session, select

from db.enums import EditStatus, EditType, EventType, OverlayPosition, TransitionType
from db.models import Clip, Edit, Job, Timeline
from db.session import session_scope
from db.validation import one_line
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.overlays import Overlay, read_overlays
from tasks.domain.pacing import Pacing, Pulse, Rhythm, pulse_of
from tasks.domain.templates import Template, get_template
from tasks.storage import ArtifactNotFound, get_store
from tasks.timeline.audio import AudioError
from tasks.timeline.beats import BeatDetectionError
from tasks.timeline.music import analyse_music
from tasks.timeline.overlays import (
    OverlayRefused,
    beats_for,
    captions_shown,
    follow_shots,
    overlay_changed,
    place,
)
from tasks.timeline.timing import (
    Segment,
    ShotInput,
    ShotTiming,
    TimingError,
    audio_policy_for,
    cap_frames,
    frames,
    lay_out,
    plan_timing,
    segments_of,
    total_duration,
)
from tasks.timeline.versions import NoTimeline, lock_job, read_version, write_version

log = structlog.get_logger(__name__)


class EditRefused(ValueError):
    """The edit is invalid for this timeline; nothing was changed. The message says why."""


MAX_PAYLOAD_BYTES = 16 * 1024  # an edit is a few indexes and short texts; a message's payload is bounded


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reorder(_Payload):
    from_index: int = Field(ge=0)
    to_index: int = Field(ge=0)


class Trim(_Payload):
    index: int = Field(ge=0)
    in_time: float | None = Field(default=None, ge=0)
    out_time: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> Trim:
        if self.in_time is None and self.out_time is None:
            raise ValueError("give in_time, out_time or both")
        return self


class ChangeTransition(_Payload):
    index: int = Field(ge=0)
    transition: TransitionType
    duration: float | None = Field(default=None, ge=0)  # seconds; None: the template's length


class RemoveClip(_Payload):
    index: int = Field(ge=0)


class SwapMusic(_Payload):
    music_uri: str | None  # None: no music, a silent video
    bpm: float | None = Field(default=None, gt=0)
    beat_offset: float | None = Field(default=None, ge=0)


class ChangePacing(_Payload):
    beat_sync: bool | None = None
    shot_beats: tuple[float, float] | None = None
    shot_seconds: tuple[float, float] | None = None
    target_length: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ranges(self) -> ChangePacing:
        if all(v is None for v in (self.beat_sync, self.shot_beats, self.shot_seconds, self.target_length)):
            raise ValueError("give beat_sync, shot_beats, shot_seconds or target_length")
        for name in ("shot_beats", "shot_seconds"):
            value = getattr(self, name)
            if value is not None and not 0 < value[0] <= value[1]:
                raise ValueError(f"{name} must be [shortest, longest] with 0 < shortest <= longest")
        return self


class ChangeOverlay(_Payload):
    index: int = Field(ge=0)  # the overlay's index in the version
    content: dict[str, Any] | None = None  # keys to replace, e.g. {"price": "$825,000"}
    shot_index: int | None = Field(default=None, ge=0)  # a room caption onto another shot
    position: OverlayPosition | None = None
    visible: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> ChangeOverlay:
        if all(v is None for v in (self.content, self.shot_index, self.position, self.visible)):
            raise ValueError("give content, shot_index, position or visible")
        return self


class ShowCaptions(_Payload):
    visible: bool


PAYLOADS: dict[EditType, type[_Payload]] = {
    EditType.reorder: Reorder,
    EditType.trim: Trim,
    EditType.change_transition: ChangeTransition,
    EditType.remove_clip: RemoveClip,
    EditType.swap_music: SwapMusic,
    EditType.change_pacing: ChangePacing,
    EditType.change_overlay: ChangeOverlay,
    EditType.show_captions: ShowCaptions,
}


def parse_edit(edit_type: str, payload: dict[str, Any]) -> tuple[EditType, _Payload]:
    size = len(json.dumps(payload, default=str).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EditRefused(f"edit payload is {size:,} bytes; the limit is {MAX_PAYLOAD_BYTES:,}")
    try:
        kind = EditType(edit_type)
    except ValueError:
        raise EditRefused(f"unknown edit type {edit_type!r}; expected one of {', '.join(e.value for e in EditType)}") from None
    try:
        return kind, PAYLOADS[kind].model_validate(payload)
    except ValidationError as err:
        raise EditRefused(one_line(err, kind.value)) from None


@dataclass(frozen=True)
class Base:
    """The version being edited, as the pure edit functions see it."""

    version: int
    rows: list[ShotTiming]
    durations: list[float]  # each row's clip, seconds
    template: Template
    pacing: Pacing
    grid: BeatGrid | None  # the music's grid, whether or not cuts follow it
    fps: int
    overlays: list[Overlay] = field(default_factory=list)

    @property
    def snap(self) -> Pulse | None:
        """The beats cuts move to: none without beat sync or without a reliable beat."""
        if self.pacing.beat_sync and self.grid is not None and self.grid.reliable:
            return pulse_of(self.grid, self.template)
        return None

    @property
    def total(self) -> float:
        return total_duration(self.rows, self.fps)

    def segments(self) -> list[Segment]:
        return segments_of(self.rows, [cap_frames(d, self.fps) for d in self.durations], self.fps)

    def shot(self, index: int) -> int:
        if index >= len(self.rows):
            raise EditRefused(f"no shot at index {index}: version {self.version} has {len(self.rows)} (0-{len(self.rows) - 1})")
        return index


@dataclass(frozen=True)
class Outcome:
    rows: list[ShotTiming]
    grid: BeatGrid | None
    pacing: Pacing
    applied: dict[str, Any]
    overlays: list[Overlay] | None = None  # None: the shots' overlays follow them



def _laid(base: Base, segs: list[Segment]) -> list[ShotTiming]:
    segs[0].transition, segs[0].fade = TransitionType.cut, 0  # the first shot always starts with a cut
    try:
        snap = base.snap
        return lay_out(segs, base.fps, snap.cuts if snap else None, base.grid.music_duration if base.grid else None)
    except TimingError as err:
        raise EditRefused(str(err)) from None


def _outcome(base: Base, rows: list[ShotTiming], **applied: Any) -> Outcome:
    return Outcome(rows, base.grid, base.pacing, applied)


def reorder(base: Base, edit: Reorder) -> Outcome:
    src, dst = base.shot(edit.from_index), base.shot(edit.to_index)
    if src == dst:
        raise EditRefused(f"shot {src} is already at index {dst}")
    segs = base.segments()
    segs.insert(dst, segs.pop(src))
    return _outcome(base, _laid(base, segs))


def trim(base: Base, edit: Trim) -> Outcome:
    i = base.shot(edit.index)
    row, duration = base.rows[i], base.durations[i]
    start = row.in_time if edit.in_time is None else edit.in_time
    end = row.out_time if edit.out_time is None else edit.out_time
    if not 0 <= start < end <= duration + 1e-6:
        raise EditRefused(f"trim [{start:g}, {end:g}] s is outside clip {row.clip_id}'s footage (0-{duration:g} s)")
    segs = base.segments()
    fade_next = segs[i + 1].fade if i + 1 < len(segs) else 0
    length = frames((end - start) / row.speed, base.fps) - fade_next
    if length < max(segs[i].fade, 1):
        raise EditRefused(f"trimmed to {end - start:g} s at {row.speed:g}x, shot {i} is shorter than its transitions")
    segs[i].in_frame, segs[i].length = frames(start, base.fps), length
    rows = _laid(base, segs)
    return _outcome(base, rows, in_time=rows[i].in_time, out_time=rows[i].out_time)


def change_transition(base: Base, edit: ChangeTransition) -> Outcome:
    i = base.shot(edit.index)
    if i == 0 and edit.transition is not TransitionType.cut:
        raise EditRefused("the first shot always starts with a cut")
    if edit.transition is TransitionType.cut:
        seconds = 0.0
    elif edit.duration is not None:
        seconds = edit.duration
    else:
        seconds = base.template.transition_beats * base.snap.period if base.snap else base.template.transition_seconds
    fade = frames(seconds, base.fps)
    if edit.transition is not TransitionType.cut and fade < 1:
        raise EditRefused(f"a {seconds:g} s {edit.transition.value} is shorter than a frame at {base.fps} fps; use cut")
    segs = base.segments()
    if (segs[i].transition, segs[i].fade) == (edit.transition, fade):
        raise EditRefused(f"shot {i} already has a {fade / base.fps:g} s {edit.transition.value}")
    if fade > segs[i].length:
        raise EditRefused(f"a {seconds:g} s transition is longer than shot {i} ({segs[i].length / base.fps:g} s)")
    segs[i].transition, segs[i].fade = edit.transition, fade
    return _outcome(base, _laid(base, segs), transition_duration=fade / base.fps)


def remove_clip(base: Base, edit: RemoveClip) -> Outcome:
    i = base.shot(edit.index)
    if len(base.rows) == 1:
        raise EditRefused("removing the only shot would leave the timeline empty")
    segs = base.segments()
    removed = segs.pop(i)
    return _outcome(base, _laid(base, segs), removed_clip_id=removed.clip_id)


def _recut(base: Base, pacing: Pacing, grid: BeatGrid | None, total: float | None = None) -> list[ShotTiming]:
    """The same shots, transitions and order, timed afresh for new music or pacing."""
    seen: dict[int, int] = {}
    shots = []
    for row, duration in zip(base.rows, base.durations):
        shots.append(ShotInput(row.clip_id, duration, row.transition, seen.get(row.clip_id, 0), row.speed))
        seen[row.clip_id] = seen.get(row.clip_id, 0) + 1
    rhythm = Rhythm.resolve(base.template, pacing, grid)
    if total is not None:
        rhythm = replace(rhythm, total=min(rhythm.total, total))
    try:
        return plan_timing(shots, rhythm, base.fps, audio_policy_for(base.template, grid is not None))
    except TimingError as err:
        raise EditRefused(str(err)) from None


def swap_music(base: Base, edit: SwapMusic, grid: BeatGrid | None) -> Outcome:
    rows = _recut(base, base.pacing, grid)
    return Outcome(rows, grid, base.pacing, {"tempo": grid.tempo if grid else None})


def change_pacing(base: Base, edit: ChangePacing) -> Outcome:
    if edit.beat_sync and base.grid is None:
        raise EditRefused("beat sync needs music: this version has none (swap_music first)")
    given = edit.model_dump(exclude_none=True)
    pacing = replace(base.pacing, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
    if pacing == base.pacing:
        raise EditRefused("the pacing is already that")
    total = None
    if edit.target_length is None:
        # the same shots at the new lengths: the video grows or shrinks with them
        rhythm = Rhythm.resolve(base.template, pacing, base.grid)
        n, (lo, hi) = len(base.rows), rhythm.shot_range
        total = min(max(base.total, n * lo + rhythm.closing_hold), n * hi + rhythm.closing_hold)
        pacing = replace(pacing, target_length=round(total, 3))
    rows = _recut(base, pacing, base.grid, total)
    return Outcome(rows, base.grid, pacing, {"pacing": pacing.to_json()})


def change_overlay(base: Base, edit: ChangeOverlay) -> Outcome:
    try:
        overlays, changed = overlay_changed(
            base.overlays, edit.index, len(base.rows), content=edit.content, shot_index=edit.shot_index,
            position=edit.position, visible=edit.visible,
        )
    except OverlayRefused as err:
        raise EditRefused(str(err)) from None
    return Outcome(base.rows, base.grid, base.pacing, changed, overlays)


def show_captions(base: Base, edit: ShowCaptions) -> Outcome:
    try:
        overlays = captions_shown(base.overlays, edit.visible)
    except OverlayRefused as err:
        raise EditRefused(str(err)) from None
    return Outcome(base.rows, base.grid, base.pacing, {"visible": edit.visible}, overlays)


def shot_moves(kind: EditType, edit: _Payload, shots: int) -> list[int | None]:
    """Where each shot of the base went (its new index; None: removed)."""
    if isinstance(edit, Reorder):
        order = list(range(shots))
        order.insert(edit.to_index, order.pop(edit.from_index))
        return [order.index(i) for i in range(shots)]
    if isinstance(edit, RemoveClip):
        return [None if i == edit.index else i - (i > edit.index) for i in range(shots)]
    return list(range(shots))


def apply_to(base: Base, kind: EditType, edit: _Payload, new_grid: BeatGrid | None = None) -> Outcome:
    """The pure part of an edit: the base version in, the next version's content out."""
    if not base.rows:
        raise EditRefused(f"version {base.version} has no shots: nothing to edit")
    if kind is EditType.swap_music:
        return swap_music(base, edit, new_grid)  # type: ignore[arg-type]
    handlers = {
        EditType.reorder: reorder, EditType.trim: trim, EditType.change_transition: change_transition,
        EditType.remove_clip: remove_clip, EditType.change_pacing: change_pacing,
        EditType.change_overlay: change_overlay, EditType.show_captions: show_captions,
    }
    return handlers[kind](base, edit)  # type: ignore[operator]


def _new_music(edit: SwapMusic) -> BeatGrid | None:
    """Analyse the new music before any row is locked; bad music is a refused edit."""
    store = get_store()
    try:
        if edit.music_uri is not None and not store.exists(edit.music_uri):
            raise EditRefused(f"no music at {edit.music_uri}")
        return analyse_music(store, edit.music_uri, bpm=edit.bpm, beat_offset=edit.beat_offset)
    except (ValueError, ArtifactNotFound, AudioError, BeatDetectionError) as err:
        if isinstance(err, EditRefused):
            raise
        raise EditRefused(f"swap_music: {err}") from None


@dataclass
class Draft:
    """The newest version being edited, and the edits applied to it so far (in memory)."""

    timeline: Timeline
    base: Base
    music_uri: str | None
    durations: dict[int, float]  # clip id -> rendered seconds

    def apply(self, kind: EditType, edit: _Payload, new_grid: BeatGrid | None) -> dict[str, Any]:
        """Apply one parsed edit on top of the previous ones; returns what was applied."""
        outcome = apply_to(self.base, kind, edit, new_grid)
        if isinstance(edit, SwapMusic):
            self.music_uri = edit.music_uri
        overlays = outcome.overlays
        if overlays is None:
            overlays = follow_shots(self.base.overlays, shot_moves(kind, edit, len(self.base.rows)))
        beats = beats_for(outcome.grid, outcome.pacing.beat_sync)
        self.base = replace(self.base, rows=outcome.rows, grid=outcome.grid, pacing=outcome.pacing,
                            durations=[self.durations[r.clip_id] for r in outcome.rows],
                            overlays=place(overlays, outcome.rows, beats, self.base.fps))
        return outcome.applied

    @classmethod
    def load(cls, session: Session, job_id: uuid.UUID) -> Draft:
        """Lock the job (versions are numbered one at a time) and read its newest version."""
        try:
            lock_job(session, job_id)
            timeline, rows = read_version(session, job_id)
        except NoTimeline as err:
            raise EditRefused(str(err)) from None
        ids = {r.clip_id for r in rows}
        durations = {c.id: c.duration for c in session.exec(select(Clip).where(Clip.id.in_(ids)))}  # type: ignore[union-attr]
        template = get_template(timeline.template_type)
        stored = timeline.beat_grid or {}
        pacing = (Pacing.from_json(stored["pacing"]) if "pacing" in stored
                  else Pacing.from_template(template, True, timeline.total_duration))
        base = Base(timeline.version, rows, [durations[r.clip_id] for r in rows], template, pacing,
                    BeatGrid.from_json(stored) if "beats" in stored else None, timeline.fps,
                    read_overlays(session, timeline.id))
        return cls(timeline, base, timeline.music_uri, durations)

    def write(self, session: Session, job_id: uuid.UUID) -> Timeline:
        """The edited content as the job's next version."""
        t = self.timeline
        return write_version(
            session, job_id, self.base.rows,
            beat_grid={**(self.base.grid.to_json() if self.base.grid else {}), "pacing": self.base.pacing.to_json()},
            template_type=t.template_type, music_uri=self.music_uri, fps=t.fps, width=t.width, height=t.height,
            overlays=self.base.overlays,
        )


def apply_edit(
    job_id: uuid.UUID, edit_type: str, payload: dict[str, Any], *, user_id: str | None = None,
    base_version: int | None = None,
) -> dict[str, Any]:
    """Apply one edit to the job's newest timeline version and write the next version (the CLI).

    `base_version`, when given, must be the newest version: an editor working on a stale
    copy is refused instead of silently overwriting someone else's edit. A refused edit
    raises EditRefused and writes nothing.
    """
    kind, edit = parse_edit(edit_type, payload)
    new_grid = _new_music(edit) if isinstance(edit, SwapMusic) else None
    with session_scope() as session:
        draft = Draft.load(session, job_id)
        timeline = draft.timeline
        if base_version is not None and base_version != timeline.version:
            raise EditRefused(f"version {base_version} is not the newest (v{timeline.version}); reload and edit again")
        applied = draft.apply(kind, edit, new_grid)
        new = draft.write(session, job_id)
        recorded = {**edit.model_dump(mode="json", exclude_none=kind is not EditType.swap_music), "applied": applied}
        row = Edit(timeline_id=timeline.id, result_timeline_id=new.id, user_id=user_id, edit_type=kind,
                   payload=recorded, status=EditStatus.applied, applied_at=sa.func.now())
        session.add(row)
        session.flush()
        _report(session, job_id, row, new.version, applied)
        result = {"job_id": str(job_id), "edit_type": kind.value, "base_version": timeline.version,
                  "version": new.version, "total_duration": new.total_duration, "applied": applied}
    log.info("timeline.edited", job_id=str(job_id), **{k: v for k, v in result.items() if k != "job_id"})
    return result


def _report(session: Session, job_id: uuid.UUID, row: Edit, version: int | None, outcome: dict[str, Any] | str) -> None:
    """The edit.applied (with what was applied) or edit.rejected (with why) event, in the edit's transaction."""
    from db.events import record_event

    job = session.get(Job, job_id)
    kind = EditType(row.edit_type).value
    if version is not None:
        record_event(session, job, EventType.edit_applied,
                     {"edit_id": row.id, "edit_type": kind, "timeline_version": version, "applied": outcome})
    else:
        record_event(session, job, EventType.edit_rejected, {"edit_id": row.id, "edit_type": kind, "reason": outcome})


@dataclass(frozen=True)
class BatchResult:
    """What one pass over a job's pending edits did."""

    applied: list[int]
    rejected: dict[int, str]  # edit id -> reason
    version: int | None  # the version written, None when nothing was applied


def _pending(session: Session, job_id: uuid.UUID) -> list[Edit]:
    return list(session.exec(
        select(Edit).join(Timeline, Timeline.id == Edit.timeline_id)
        .where(Timeline.job_id == job_id, Edit.status == EditStatus.pending)
        .order_by(Edit.id).with_for_update(of=Edit)  # type: ignore[arg-type]
    ))


def apply_pending_edits(job_id: uuid.UUID) -> BatchResult:
    """Apply the job's pending `edits` rows (as Rails inserts them) and write one new version.

    The edits apply in id order, each on top of the ones before it, onto the newest version;
    all of them must have been made against that version (a row naming an older one is
    rejected: its shot indexes may point at other shots now). The first edit that is refused
    is rejected with its reason and every later pending edit with "not applied: edit N before
    it was rejected" (they may build on it); the ones before it are applied. Each row is marked,
    with an edit.applied/edit.rejected event, in the transaction that writes the version.
    """
    with session_scope() as session:
        pending = _pending(session, job_id)
        if not pending:
            return BatchResult([], {}, None)
        parsed: dict[int, tuple[EditType, _Payload, BeatGrid | None] | str] = {}
        for row in pending:  # parse and analyse music before the job row is locked
            try:
                kind, edit = parse_edit(row.edit_type, row.payload)
                parsed[row.id] = (kind, edit, _new_music(edit) if isinstance(edit, SwapMusic) else None)
            except EditRefused as err:
                parsed[row.id] = str(err)
        try:
            draft: Draft | None = Draft.load(session, job_id)
        except EditRefused as err:
            draft, no_draft = None, str(err)
        applied: dict[int, dict[str, Any]] = {}
        rejected: dict[int, str] = {}
        for row in pending:
            if rejected:
                rejected[row.id] = f"not applied: edit {next(iter(rejected))} before it was rejected"
                continue
            step = parsed[row.id]
            try:
                if draft is None:
                    raise EditRefused(no_draft)
                if row.timeline_id != draft.timeline.id:
                    version = session.get(Timeline, row.timeline_id)
                    raise EditRefused(f"made against version {version.version if version else '?'}, but the newest "
                                      f"is v{draft.timeline.version}; reload and edit again")
                if isinstance(step, str):
                    raise EditRefused(step)
                applied[row.id] = draft.apply(*step)
            except EditRefused as err:
                rejected[row.id] = str(err)
        new = draft.write(session, job_id) if applied and draft is not None else None
        for row in pending:
            if row.id in applied:
                row.status, row.result_timeline_id, row.applied_at = EditStatus.applied, new.id, sa.func.now()
                _report(session, job_id, row, new.version, applied[row.id])
            else:
                row.status, row.reason = EditStatus.rejected, rejected[row.id]
                _report(session, job_id, row, None, rejected[row.id])
            session.add(row)
        result = BatchResult(list(applied), rejected, new.version if new else None)
    log.info("edits.applied", job_id=str(job_id), applied=result.applied, rejected=result.rejected, version=result.version)
    return result
