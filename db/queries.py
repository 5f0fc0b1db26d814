"""Read-side views of a job, shared by the CLI and reports."""

from __future__ import annotations

import uuid
from collections import Counter

from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster, Timeline
from db.session import session_scope


def current_clusters(job_id: uuid.UUID) -> SelectOfScalar[RoomCluster]:
    """The job's current analysis: its clusters that no rerun has superseded, oldest first."""
    return (
        select(RoomCluster)
        .where(RoomCluster.job_id == job_id, RoomCluster.superseded_at.is_(None))  # type: ignore[union-attr]
        .order_by(RoomCluster.id)
    )


def job_summary(job_id: uuid.UUID) -> dict:
    """What the job is doing and what each phase has produced so far."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job with id {job_id}")
        photos = s.exec(select(Photo).where(Photo.job_id == job_id)).all()
        results = s.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id)).all()
        clusters = s.exec(current_clusters(job_id)).all()
        clips = s.exec(select(Clip).where(Clip.job_id == job_id)).all()
        timelines = s.exec(
            select(Timeline).where(Timeline.job_id == job_id).order_by(Timeline.version)
        ).all()
    return {
        "job": {
            "id": str(job.id), "listing_id": job.listing_id, "status": job.status.value,
            "current_phase": job.current_phase.value if job.current_phase else None,
            "stop_after": job.stop_after.value if job.stop_after else None,
            "template_type": job.template_type, "target_length": job.target_length,
            "music_uri": job.music_uri, "enable_beat_sync": job.enable_beat_sync,
            "error": job.error, "final_video_uri": job.final_video_uri,
            "final_video_facts": job.final_video_facts, "gpu_seconds": job.gpu_seconds,
            "analysis_backends": job.analysis_backends,
        },
        "analyze": {
            "photos": len(photos),
            "unusable": [
                {"file": p.original_filename, "reason": p.unusable_reason} for p in photos if not p.usable
            ],
            "gated": [
                {"file": p.original_filename, "reason": p.quality_gate_reason}
                for p in photos if p.quality_gate_reason
            ],
            "excluded": [p.original_filename for p in photos if p.exclude],
            "clusters": [
                {"id": c.id, "room_type": c.room_type, "tier": c.confidence_tier.value, "images": c.image_count}
                for c in clusters
            ],
            "plans": [
                {"cluster": r.room_cluster_id, "hero_photo_id": r.hero_photo_id,
                 "motion": r.recommended_motion.value, "allowed": r.allowed_motion_types}
                for r in results
            ],
            "opening_photo_id": job.opening_photo_id, "closing_photo_id": job.closing_photo_id,
        },
        "render": {
            "clips": len(clips),
            "by_status": dict(Counter(c.status.value for c in clips)),
            "models": dict(Counter(c.model_used for c in clips if c.model_used)),
        },
        "timeline": {
            "versions": [
                {"version": t.version, "status": t.status.value, "duration": t.total_duration}
                for t in timelines
            ],
        },
        "assemble": {"final_video_uri": job.final_video_uri},
    }
