"""Phase 1's output written by hand: a job, its stored photos and depth maps, rooms and plans.

Phase 2 reads exactly these rows and artifacts, so its tests insert them directly instead of
running the analysis.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from db.enums import ConfidenceTier, MotionType
from db.models import AnalysisResult, Job, Photo, RoomCluster
from db.session import session_scope
from tasks.analyze.plan import allowed_motion, is_3d_eligible
from tasks.depth.stats import depth_stats
from tasks.depth.storage import encode_depth_png
from tasks.domain.motions import MOTIONS
from tasks.storage import ArtifactStore, keys, sha256_bytes


@dataclass
class PhotoSpec:
    name: str
    image: np.ndarray
    depth: np.ndarray | None  # None: Phase 1 stored no depth map
    final_score: float = 0.5


@dataclass
class RoomSpec:
    room_type: str
    tier: ConfidenceTier
    motion: MotionType
    photos: list[PhotoSpec]
    duration: float = 1.0
    allowed: tuple[MotionType, ...] | None = None  # None: what Phase 1 allows the tier
    is_3d_eligible: bool | None = None  # None: what Phase 1 decides for the tier


@dataclass
class SeededJob:
    job_id: uuid.UUID
    photo_ids: dict[str, int] = field(default_factory=dict)
    cluster_ids: dict[str, int] = field(default_factory=dict)  # room_type -> cluster id


def _put_photo(store: ArtifactStore, job_id: uuid.UUID, name: str, data: bytes) -> str:
    return store.put_bytes(keys.photo(job_id, sha256_bytes(data), name), data)


def jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def seed_phase1(store: ArtifactStore, rooms: list[RoomSpec], opening: str | None = None,
                closing: str | None = None, target_length: float = 1.0) -> SeededJob:
    """The default target (no music) is one the rooms' own durations cover: clips keep them, not sized up."""
    seeded = SeededJob(uuid.uuid4())
    with session_scope() as session:
        session.add(Job(id=seeded.job_id, listing_id="test", target_length=target_length))
        session.flush()
        for room in rooms:
            cluster = RoomCluster(job_id=seeded.job_id, room_type=room.room_type, confidence_tier=room.tier,
                                  image_count=len(room.photos))
            session.add(cluster)
            session.flush()
            seeded.cluster_ids[room.room_type] = cluster.id  # type: ignore[assignment]
            ids = []
            for spec in room.photos:
                photo = Photo(job_id=seeded.job_id, original_filename=spec.name, room_cluster_id=cluster.id,
                              s3_uri=_put_photo(store, seeded.job_id, spec.name, jpeg(spec.image)),
                              width=spec.image.shape[1], height=spec.image.shape[0],
                              base_score=spec.final_score, final_score=spec.final_score, room_label=room.room_type)
                session.add(photo)
                session.flush()
                if spec.depth is not None:
                    stats = depth_stats(spec.depth)
                    photo.depth_uri = store.put_bytes(keys.depth(seeded.job_id, photo.id),
                                                      encode_depth_png(spec.depth), "image/png")
                    photo.depth_variance, photo.depth_layering = stats.variance, stats.layering
                    photo.planarity = stats.planarity
                seeded.photo_ids[spec.name] = photo.id  # type: ignore[assignment]
                ids.append(photo.id)
            session.add(AnalysisResult(
                job_id=seeded.job_id, room_cluster_id=cluster.id, hero_photo_id=ids[0],
                recommended_motion=room.motion, recommended_duration=room.duration, tier=room.tier,
                # what Phase 1 records for the tier (tasks.analyze.plan), unless the spec says otherwise
                allowed_motion_types=[m.value for m in (room.allowed or allowed_motion(room.tier))],
                is_3d_eligible=is_3d_eligible(room.tier).value if room.is_3d_eligible is None else room.is_3d_eligible,
                model_recommendation=MOTIONS[room.motion].ltx2.model,
            ))
        job = session.get(Job, seeded.job_id)
        job.opening_photo_id = seeded.photo_ids.get(opening) if opening else None  # type: ignore[union-attr]
        job.closing_photo_id = seeded.photo_ids.get(closing) if closing else None  # type: ignore[union-attr]
    return seeded
