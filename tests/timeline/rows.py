"""Phase 1 and Phase 2 output written by hand: a job, photos, rooms with plans, rendered clips.

Phase 3 reads exactly these rows, so its tests insert them directly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from db.enums import ClipStatus, ConfidenceTier, MotionType
from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster
from db.session import session_scope
from tasks.storage import ArtifactStore, keys
from tests.timeline.audio_fixtures import write_click_track


@dataclass
class P:
    """A photo and the clip that starts from it (None: no clip)."""

    name: str
    score: float = 0.5
    metadata: dict = field(default_factory=dict)
    exclude: bool = False
    clip: ClipStatus | None = ClipStatus.done
    duration: float = 5.0


@dataclass
class Room:
    room_type: str
    photos: list[P]


@dataclass
class Seeded:
    job_id: uuid.UUID
    photo_ids: dict[str, int] = field(default_factory=dict)
    clip_ids: dict[str, int] = field(default_factory=dict)  # by lead photo name


def music_file(tmp: Path, bpm: float = 120.0, seconds: float = 40.0) -> Path:
    path = tmp / f"clicks-{bpm:g}.wav"
    write_click_track(path, bpm, seconds)
    return path


def seed(store: ArtifactStore, rooms: list[Room], *, music: Path | None = None, **job_fields) -> Seeded:
    seeded = Seeded(uuid.uuid4())
    music_uri = store.put_file(keys.music(seeded.job_id, music.name), music) if music else None
    with session_scope() as session:
        session.add(Job(id=seeded.job_id, listing_id="timeline-test", music_uri=music_uri, **job_fields))
        session.flush()
        for room in rooms:
            cluster = RoomCluster(job_id=seeded.job_id, room_type=room.room_type, confidence_tier=ConfidenceTier.low,
                                  image_count=len(room.photos))
            session.add(cluster)
            session.flush()
            photos = []
            for spec in room.photos:
                photo = Photo(job_id=seeded.job_id, original_filename=spec.name, s3_uri=f"file:///photos/{spec.name}",
                              room_cluster_id=cluster.id, base_score=spec.score, final_score=spec.score,
                              manual_metadata=spec.metadata, exclude=spec.exclude, room_label=room.room_type)
                session.add(photo)
                session.flush()
                seeded.photo_ids[spec.name] = photo.id  # type: ignore[assignment]
                photos.append((spec, photo))
            hero = max(photos, key=lambda sp: sp[0].score)[1]
            session.add(AnalysisResult(
                job_id=seeded.job_id, room_cluster_id=cluster.id, hero_photo_id=hero.id,
                recommended_motion=MotionType.micro_push_in, allowed_motion_types=["micro_push_in"],
                recommended_duration=3.0, tier=ConfidenceTier.low, model_recommendation="parallax",
            ))
            for spec, photo in photos:
                if spec.clip is None:
                    continue
                clip = Clip(job_id=seeded.job_id, room_cluster_id=cluster.id, source_photo_ids=[photo.id],
                            motion_type=MotionType.micro_push_in, confidence_tier=ConfidenceTier.low,
                            duration=spec.duration, status=spec.clip,
                            s3_uri=f"file:///clips/{spec.name}.mp4" if spec.clip is ClipStatus.done else None)
                session.add(clip)
                session.flush()
                seeded.clip_ids[spec.name] = clip.id  # type: ignore[assignment]
    return seeded
