"""Phase 3 glue: the job's analysis, rendered clips and music in; a new timeline version out.

1. Read the job, its current analysis (rooms with a plan), its photos and its `done` clips.
   A clip showing an excluded (or unusable) photo is left out, as are failed clips.
2. Apply the design's selection priorities (tasks.domain.selection, the one place they live)
   to the photos that lead a clip: opening, closing, and each room's first shot. Phase 1 picked
   from every photo; here only photos with footage count, so a failed clip moves the pick on.
3. Fetch and analyse the music (beat grid, with the job's bpm/beat_offset overrides).
4. Compose (pure) and write the next version; earlier versions stay as they are.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from sqlmodel import Session, select

from db.enums import RoomType
from db.listing import parse_listing
from db.models import Clip, Job, Photo
from db.queries import current_clusters
from db.session import session_scope
from tasks.domain.beat_grid import BeatGrid
from tasks.domain.clip_lifecycle import FOOTAGE
from tasks.domain.disclosure import is_generated
from tasks.domain.manual_flags import carry_duplicate_flags, effective_flags
from tasks.domain.pacing import Pacing
from tasks.domain.photos import usable
from tasks.domain.selection import (
    Candidate,
    select_closing,
    select_opening,
    select_room_start,
)
from tasks.domain.templates import Template, get_template
from tasks.settings import get_settings
from tasks.stages import stage
from tasks.storage import get_store
from tasks.timeline.compose import Composition, compose_timeline
from tasks.timeline.music import analyse_music
from tasks.timeline.overlays import ShotFacts, beats_for, compose_overlays
from tasks.timeline.sequencing import Footage, Picks
from tasks.timeline.versions import lock_job, write_version

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Inputs:
    job: Job
    footage: list[Footage]
    candidates: dict[int, Candidate]  # lead photo id -> its selection candidate
    left_out: dict[int, str]  # clip id -> why it cannot be shown
    captions: dict[int, str]  # photo id -> the agent's own caption of it
    generated: set[int]  # ids of the clips whose motion a model generated (the disclosure)


def room_type_of(label: str) -> RoomType:
    """A cluster's label as a RoomType; a label Python does not know walks with the other rooms."""
    try:
        return RoomType(label)
    except ValueError:
        return RoomType.other


def load_inputs(session: Session, job_id: uuid.UUID) -> Inputs:
    job = session.get(Job, job_id)
    if job is None:
        raise LookupError(f"no job with id {job_id}")
    clusters = {c.id: c for c in session.exec(current_clusters(job_id))}
    photos = {p.id: p for p in session.exec(select(Photo).where(Photo.job_id == job_id))}
    clips = session.exec(
        select(Clip).where(Clip.job_id == job_id, Clip.status.in_(FOOTAGE)).order_by(Clip.id)  # type: ignore[attr-defined]
    ).all()
    flags = carry_duplicate_flags({
        p.id: effective_flags(p.manual_metadata, p.room_override, p.exclude, photo=p.original_filename)
        for p in photos.values()
    }, {p.id: p.duplicate_of_photo_id for p in photos.values() if p.duplicate_of_photo_id is not None})
    footage, candidates, left_out = [], {}, {}
    travel = get_settings().disclosure_parallax_travel
    generated = {c.id for c in clips if is_generated(c.model_used, c.render_params, travel)}
    captions = {i: f.caption for i, f in flags.items() if f.caption}
    for clip in clips:
        cluster = clusters.get(clip.room_cluster_id)
        unshowable = [i for i in clip.source_photo_ids if i not in photos or not usable(photos[i], excluded=flags[i].exclude)]
        if cluster is None:
            left_out[clip.id] = "its room is not in the current analysis"
        elif not clip.source_photo_ids or unshowable:
            left_out[clip.id] = f"shows excluded, unusable or duplicate photos {unshowable}"
        elif clip.duration <= 0:
            left_out[clip.id] = "has no footage"
        else:
            lead = photos[clip.source_photo_ids[0]]
            room = room_type_of(cluster.room_type)
            score = lead.final_score if lead.final_score is not None else 0.0
            footage.append(Footage(clip.id, cluster.id, room, lead.id, clip.duration, score))  # type: ignore[arg-type]
            candidates[lead.id] = Candidate.from_flags(lead.id, room, score, flags[lead.id])  # type: ignore[arg-type]
    return Inputs(job, footage, candidates, left_out, captions, generated)


def choose_picks(footage: list[Footage], candidates: dict[int, Candidate], template: Template) -> tuple[Picks, dict[str, Any]]:
    """The selection priorities over the photos that lead a clip; returns the picks and why."""
    pool = list(candidates.values())
    opening = select_opening(pool, prefer_drone=template.prefer_drone_opening)
    closing = select_closing(pool, opening_photo_id=opening.photo_id if opening else None)
    starts, why = {}, {}
    for cluster_id in sorted({f.room_cluster_id for f in footage}):
        leads = {f.lead_photo_id for f in footage if f.room_cluster_id == cluster_id}
        choice = select_room_start([candidates[i] for i in sorted(leads)])
        if choice is not None:
            starts[cluster_id] = choice.photo_id
            why[str(cluster_id)] = choice.reason
    picks = Picks(opening.photo_id if opening else None, closing.photo_id if closing else None, starts)
    reasons = {"opening": opening.reason if opening else None, "closing": closing.reason if closing else None,
               "room_starts": why}
    return picks, reasons


def timeline_beat_grid(grid: BeatGrid | None, pacing: Pacing, composition: Composition) -> dict[str, Any]:
    """The timeline.beat_grid document: the grid (when there is music: its beats, bars,
    confidence and tempo curve), the pulse cuts were chosen from, the pacing used, how the length
    was filled and what fell short, so the row says what happened."""
    pulse = composition.rhythm.pulse
    return {**(grid.to_json() if grid else {}), "pulse": pulse.to_json() if pulse else None,
            "pacing": pacing.to_json(), "fill": composition.fill, "notes": composition.notes}


@stage("load inputs", io=True)
def read_inputs(job_id: uuid.UUID) -> Inputs:
    with session_scope() as session:
        return load_inputs(session, job_id)


@stage("beats", io=True)
def beat_grid(job: Job) -> BeatGrid | None:
    """The music's beat grid (None without music), with the job's bpm/beat_offset overrides."""
    return analyse_music(get_store(), job.music_uri, bpm=job.bpm, beat_offset=job.beat_offset)


@stage("sequence")
def sequence(inputs: Inputs, template: Template, pacing: Pacing, grid: BeatGrid | None) -> tuple[Composition, dict[str, Any]]:
    """The picks over the photos with footage, then the ordered, trimmed shots (pure)."""
    job = inputs.job
    picks, reasons = choose_picks(inputs.footage, inputs.candidates, template)
    for role, phase1 in (("opening", job.opening_photo_id), ("closing", job.closing_photo_id)):
        if phase1 is not None and getattr(picks, role) != phase1:
            log.info("timeline.pick_moved", job_id=str(job.id), role=role, phase1_photo_id=phase1,
                     photo_id=getattr(picks, role))
    return compose_timeline(inputs.footage, picks, template, pacing, grid), reasons


@stage("cards and captions")
def cards_and_captions(inputs: Inputs, composition: Composition, template: Template, pacing: Pacing,
                       grid: BeatGrid | None) -> list:
    """The title, room captions, agent card and disclosure as timeline rows, timed to the beats."""
    shown = [s.footage for s in composition.shots]
    return compose_overlays(
        parse_listing(inputs.job.listing),
        [ShotFacts(f.room_type, f.room_cluster_id, inputs.captions.get(f.lead_photo_id)) for f in shown],
        composition.rows, beats_for(grid, pacing.beat_sync), template.fps, captions=template.room_captions,
        disclosure=template.disclosure_label and any(f.clip_id in inputs.generated for f in shown),
    )


@stage("save", io=True)
def save_timeline(job_id: uuid.UUID, composition: Composition, beat_grid_doc: dict[str, Any], template: Template,
                  music_uri: str | None, overlays: list) -> int:
    """The next version, written under the job's lock; returns its number."""
    with session_scope() as session:
        lock_job(session, job_id)
        timeline = write_version(
            session, job_id, composition.rows, beat_grid=beat_grid_doc,
            template_type=template.name, music_uri=music_uri,
            fps=template.fps, width=template.width, height=template.height, overlays=overlays,
        )
        return timeline.version


def run_timeline(job_id: uuid.UUID) -> dict:
    """Build the job's next timeline version from its analysis, clips and music."""
    bound = log.bind(job_id=str(job_id))
    inputs = read_inputs(job_id)
    job = inputs.job
    template = get_template(job.template_type)
    grid = beat_grid(job)
    pacing = Pacing.from_template(template, job.enable_beat_sync, job.target_length or template.target_length)
    composition, reasons = sequence(inputs, template, pacing, grid)
    overlays = cards_and_captions(inputs, composition, template, pacing, grid)
    version = save_timeline(job_id, composition, timeline_beat_grid(grid, pacing, composition), template,
                            job.music_uri, overlays)
    for note in composition.notes:
        bound.warning("timeline.note", note=note)
    summary = {
        "version": version,
        "template": template.name,
        "shots": len(composition.rows),
        "total_duration": composition.total_duration,
        "target": composition.rhythm.total,
        "beat_sync": composition.rhythm.grid is not None,
        "tempo": grid.tempo if grid else None,
        "tempo_alternatives": list(grid.tempo_alternatives) if grid else [],
        "beat_confidence": grid.confidence if grid else None,
        "cut_on": composition.rhythm.pulse.on if composition.rhythm.pulse else None,
        "picks": reasons,
        "order": [{"clip_id": s.footage.clip_id, "room": s.footage.room_type.value, "role": s.role} for s in composition.shots],
        "left_out": {str(k): v for k, v in inputs.left_out.items()},
        "fill": composition.fill,
        "notes": composition.notes,
        "overlays": [{"kind": o.kind.value, "shot_index": o.shot_index, "start": o.start_time, "end": o.end_time}
                     for o in overlays],
    }
    bound.info("timeline.built", version=version, shots=summary["shots"], total=summary["total_duration"],
               tempo=summary["tempo"], beat_sync=summary["beat_sync"])
    return summary
