"""Timeline versions in Postgres: read one, write the next. Versions are never changed or
deleted here; every build and every edit adds one, so the history is the table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from db.enums import TimelineStatus
from db.models import Edit, Job, Timeline, TimelineClip, TimelineOverlay
from db.session import session_scope
from tasks.domain.overlays import Overlay, read_overlays
from tasks.timeline.timing import ShotTiming, total_duration


class NoTimeline(LookupError):
    """The job, or the asked-for version of its timeline, does not exist."""


def lock_job(session: Session, job_id: uuid.UUID) -> Job:
    """The job row, locked until the transaction ends: version numbers are taken one at a time."""
    job = session.exec(select(Job).where(Job.id == job_id).with_for_update()).one_or_none()
    if job is None:
        raise NoTimeline(f"no job with id {job_id}")
    return job


def write_version(
    session: Session,
    job_id: uuid.UUID,
    rows: Sequence[ShotTiming],
    *,
    beat_grid: dict[str, Any],
    template_type: str,
    music_uri: str | None,
    fps: int,
    width: int,
    height: int,
    overlays: Sequence[Overlay] = (),
) -> Timeline:
    """The job's next version with its shots and overlays; call with the job row locked (lock_job)."""
    if not rows:
        raise ValueError("a timeline needs at least one shot")
    newest = session.exec(select(sa.func.max(Timeline.version)).where(Timeline.job_id == job_id)).one()
    timeline = Timeline(
        job_id=job_id,
        version=(newest or 0) + 1,
        status=TimelineStatus.ready,
        beat_grid=beat_grid,
        total_duration=total_duration(rows, fps),
        template_type=template_type,
        music_uri=music_uri,
        fps=fps,
        width=width,
        height=height,
    )
    session.add(timeline)
    session.flush()
    for index, row in enumerate(rows):
        session.add(TimelineClip(
            timeline_id=timeline.id, clip_id=row.clip_id, order_index=index,
            in_time=row.in_time, out_time=row.out_time, start_time=row.start_time,
            transition_type=row.transition, transition_duration=row.transition_duration,
            audio_policy=row.audio_policy, speed=row.speed,
        ))
    for index, item in enumerate(overlays):
        session.add(TimelineOverlay(
            timeline_id=timeline.id, order_index=index, kind=item.kind, shot_index=item.shot_index,
            start_time=item.start_time, end_time=item.end_time, fade_duration=item.fade_duration,
            position=item.position, content=item.content, branded_only=item.branded_only, visible=item.visible,
        ))
    session.flush()
    return timeline


def read_version(
    session: Session, job_id: uuid.UUID, version: int | None = None
) -> tuple[Timeline, list[ShotTiming]]:
    """A version (the newest by default) and its shots in order."""
    query = select(Timeline).where(Timeline.job_id == job_id)
    query = query.where(Timeline.version == version) if version is not None else query.order_by(Timeline.version.desc())
    timeline = session.exec(query.limit(1)).first()
    if timeline is None:
        what = f"version {version} of its timeline" if version is not None else "timeline yet (run Phase 3 first)"
        raise NoTimeline(f"job {job_id} has no {what}")
    clips = session.exec(
        select(TimelineClip).where(TimelineClip.timeline_id == timeline.id).order_by(TimelineClip.order_index)
    ).all()
    rows = [
        ShotTiming(c.clip_id, c.in_time, c.out_time, c.start_time, c.transition_type, c.transition_duration,
                   c.audio_policy, c.speed)
        for c in clips
    ]
    return timeline, rows


def describe_version(job_id: uuid.UUID, version: int | None = None) -> dict[str, Any]:
    """What `timeline show` prints: the version, its beat summary, every shot, and the edit
    that made it (None for a version Phase 3 built)."""
    with session_scope() as session:
        timeline, rows = read_version(session, job_id, version)
        made_by = session.exec(select(Edit).where(Edit.result_timeline_id == timeline.id)).first()
        overlays = read_overlays(session, timeline.id)
    grid = timeline.beat_grid or {}
    return {
        "job_id": str(timeline.job_id),
        "version": timeline.version,
        "status": timeline.status.value,
        "template": timeline.template_type,
        "total_duration": timeline.total_duration,
        "fps": timeline.fps, "width": timeline.width, "height": timeline.height,
        "music_uri": timeline.music_uri,
        "tempo": grid.get("tempo"),
        "beat_source": grid.get("source"),
        "pacing": grid.get("pacing"),
        "made_by_edit": None if made_by is None else {
            "id": made_by.id, "edit_type": made_by.edit_type.value, "user_id": made_by.user_id,
            "payload": made_by.payload, "created_at": made_by.created_at,
        },
        "shots": [
            {
                "index": i, "clip_id": r.clip_id, "start_time": r.start_time, "in_time": r.in_time,
                "out_time": r.out_time, "transition": r.transition.value,
                "transition_duration": r.transition_duration, "audio_policy": r.audio_policy.value,
                "speed": r.speed,
            }
            for i, r in enumerate(rows)
        ],
        "overlays": [{"index": i, **o.to_json()} for i, o in enumerate(overlays)],
    }


def list_versions(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """Every version of the job's timeline, oldest first, with the edit that made each."""
    with session_scope() as session:
        timelines = session.exec(select(Timeline).where(Timeline.job_id == job_id).order_by(Timeline.version)).all()
        edits = {
            e.result_timeline_id: e for e in session.exec(
                select(Edit).where(Edit.result_timeline_id.in_([t.id for t in timelines]))  # type: ignore[union-attr]
            )
        } if timelines else {}
    return [
        {"version": t.version, "status": t.status.value, "total_duration": t.total_duration,
         "created_at": t.created_at, "edit": edits[t.id].edit_type.value if t.id in edits else None}
        for t in timelines
    ]
