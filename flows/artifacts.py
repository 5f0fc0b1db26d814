"""What each run shows in the Prefect UI's Artifacts tab, read from Postgres (the record).

Keys are per job (`job-<uuid>-photos`, ...), so a key's newest version is the job's current
state and `create-video` can link to all of them by key. A link to a stored file is a
presigned URL on S3 (a file URI on a local store), so a browser opens it directly.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlmodel import select

from db.enums import ClipStatus
from db.models import Clip, Job, Photo, RoomCluster, Timeline, TimelineClip
from db.session import session_scope
from tasks.domain.photos import why_unusable
from tasks.storage import get_store, keys

log = structlog.get_logger(__name__)

KINDS = ("photos", "review", "clips", "timeline", "video")


def artifact_key(job_id: uuid.UUID, kind: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes: a UUID fits as it is."""
    return f"job-{job_id}-{kind}"


def photo_rows(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """Phase 1's table: each photo kept or not and why, its room, tier and score."""
    with session_scope() as s:
        rows = s.exec(
            select(Photo, RoomCluster)
            .join(RoomCluster, RoomCluster.id == Photo.room_cluster_id, isouter=True)
            .where(Photo.job_id == job_id)
            .order_by(Photo.id)
        ).all()
    return [
        {
            "photo": photo.original_filename,
            "kept": "yes" if cluster is not None else "no",
            "why not": why_unusable(photo) or ("-" if cluster is not None else "in no room"),
            "room": photo.room_label or "-",
            "tier": cluster.confidence_tier.value if cluster is not None else "-",
            "score": round(photo.final_score, 3) if photo.final_score is not None else None,
        }
        for photo, cluster in rows
    ]


def publish_analysis(job_id: uuid.UUID) -> None:
    """The photo table, and the HTML review page uploaded to the store with a link to it."""
    from prefect.artifacts import create_link_artifact, create_table_artifact

    from tasks.analyze.report import build_report

    rows = photo_rows(job_id)
    kept = sum(r["kept"] == "yes" for r in rows)
    create_table_artifact(rows, key=artifact_key(job_id, "photos"),
                          description=f"Phase 1: {kept} of {len(rows)} photos kept")
    store = get_store()
    uri = store.put_bytes(keys.review(job_id), build_report(job_id).encode(), "text/html; charset=utf-8")
    create_link_artifact(store.share_url(uri), link_text="Phase 1 review page", key=artifact_key(job_id, "review"),
                         description=f"Every photo, room and decision of the analysis, with its reason ({uri})")


def _verdict(clip: Clip) -> str:
    if clip.status is ClipStatus.done and clip.validation_score is not None:
        return f"passed ({clip.validation_score:.2f})"
    return clip.error or "-"


def clip_rows(job_id: uuid.UUID) -> list[dict[str, Any]]:
    """Phase 2's table: every attempt of every current clip."""
    with session_scope() as s:
        clips = s.exec(
            select(Clip).where(Clip.job_id == job_id, Clip.status != ClipStatus.superseded).order_by(Clip.id)
        ).all()
    return [
        {
            "clip": c.id,
            "step": c.attempt,
            "motion": c.motion_type.value,
            "tier": c.confidence_tier.value,
            "model": c.model_used or "-",
            "tries": c.attempts,
            "gpu s": round(c.gpu_seconds, 1),
            "status": c.status.value,
            "validator": _verdict(c),
        }
        for c in clips
    ]


def publish_clips(job_id: uuid.UUID) -> None:
    from prefect.artifacts import create_table_artifact

    rows = clip_rows(job_id)
    done = sum(r["status"] == "done" for r in rows)
    create_table_artifact(rows, key=artifact_key(job_id, "clips"),
                          description=f"Phase 2: {done} clips done, {sum(r['gpu s'] for r in rows):.1f} GPU s")


def cuts_on_beats(timeline: Timeline, starts: list[float]) -> tuple[int, int]:
    """(cuts within a frame of a beat, cuts): the first shot's start is no cut."""
    beats = timeline.beat_grid.get("beats") or []
    cuts = sorted(starts)[1:]
    on = sum(1 for t in cuts if beats and min(abs(b - t) for b in beats) <= 1 / timeline.fps)
    return on, len(cuts)


def publish_timeline(job_id: uuid.UUID, version: int) -> None:
    from prefect.artifacts import create_markdown_artifact

    with session_scope() as s:
        timeline = s.exec(select(Timeline).where(Timeline.job_id == job_id, Timeline.version == version)).one()
        starts = list(s.exec(select(TimelineClip.start_time).where(TimelineClip.timeline_id == timeline.id)))
    on, cuts = cuts_on_beats(timeline, starts)
    tempo = timeline.beat_grid.get("tempo")
    markdown = "\n".join([
        f"### Timeline v{timeline.version}",
        "| | |", "|---|---|",
        f"| template | {timeline.template_type} |",
        f"| length | {timeline.total_duration:.2f} s |",
        f"| shots | {len(starts)} |",
        f"| tempo | {f'{tempo:.1f} BPM' if tempo else 'no beat grid'} |",
        f"| cuts on beats | {on} of {cuts} |",
    ])
    create_markdown_artifact(markdown, key=artifact_key(job_id, "timeline"),
                             description=f"Phase 3: version {timeline.version}")


def publish_video(job_id: uuid.UUID, result: dict[str, Any]) -> None:
    """The final (or preview) video's link, with its duration, loudness and format."""
    from prefect.artifacts import create_link_artifact

    facts = result["facts"]
    loudness = facts.get("loudness_lufs")
    what = f"{'preview' if result['preview'] else 'final video'} v{result['timeline_version']} {result['format']}"
    description = (f"{what}: {facts['duration']:.2f} s, "
                   f"{f'{loudness:.1f} LUFS' if loudness is not None else 'silent'}, "
                   f"{facts.get('width')}x{facts.get('height')} ({result['uri']})")
    create_link_artifact(get_store().share_url(result["uri"]), link_text=what, description=description,
                         key=artifact_key(job_id, "preview" if result["preview"] else "video"))


def publish_index(job_id: uuid.UUID) -> None:
    """create-video's summary: the job's state and a link to each phase's newest artifact."""
    from prefect.artifacts import create_markdown_artifact

    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
    lines = [f"### Job {job.id}", f"status **{job.status.value}**" + (f": {job.error}" if job.error else ""), ""]
    lines += [f"- [{kind}](/v2/artifacts/key/{artifact_key(job_id, kind)})" for kind in KINDS]
    lines.append(f"- [all runs of this job](/v2/runs?tags=job:{job.id})")
    create_markdown_artifact("\n".join(lines), key=artifact_key(job_id, "run"),
                             description="Links to every phase's artifact of this job")
