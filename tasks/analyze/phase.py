"""Phase 1 glue: photos from the store, through the models and the rules, into Postgres.

Order of work, and why:
1. Read the job's photo rows, then each photo's bytes once; decode once to analysis size.
   A photo that cannot be decoded (or whose bytes do not match its content_sha256) is kept as
   unusable with its reason; the others go on.
2. Quality scores, manual flags, quality and resolution gates, final scores (pure, per photo).
3. Embeddings of the photos past the gates, then duplicates (tasks.analyze.duplicates): one photo
   of each group is kept, with the group's manual flags; the others are "duplicate of <file>".
4. The photos that may be used at all (decoded, not excluded, past the gates, not duplicates)
   go through the models in batches: room groups and labels, depth, overlap.
5. Room overrides, then each room's plan and hero, then the opening and closing picks.
6. One transaction replaces the job's previous analysis: a failure anywhere (the depth-map
   writes to the store included) leaves the previous analysis as it was.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import structlog
from sqlmodel import Session, delete, exists, func, select, update

from db.enums import ClipStatus
from db.listing import parse_listing
from db.manual_metadata import ManualMetadata
from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster
from db.session import session_scope
from tasks.analyze.duplicates import (
    LEARNED_EMBEDDING_PREFIX,
    DuplicateCandidate,
    DuplicateGroup,
    find_duplicates,
    in_colour,
    perceptual_hash,
)
from tasks.analyze.embeddings import load_embedder
from tasks.analyze.framing import plan_framing
from tasks.analyze.overlap import OverlapResult, assess_overlap
from tasks.analyze.plan import (
    ClusterPlan,
    DepthEvidence,
    OverlapEvidence,
    TierThresholds,
    plan_cluster,
)
from tasks.analyze.quality import QualityScores, score_quality
from tasks.analyze.room_overrides import RoomGroup, apply_room_overrides
from tasks.analyze.rooms import RoomLabel, group_rooms, label_clusters, label_rooms
from tasks.analyze.scoring import (
    QualityThresholds,
    final_score,
    manual_bonus,
    quality_gate,
)
from tasks.depth.estimator import load_depth_estimator
from tasks.depth.stats import depth_stats
from tasks.depth.storage import encode_depth_png
from tasks.domain.clip_lifecycle import sources_of
from tasks.domain.manual_flags import active_flags, effective_flags, merged_flags
from tasks.domain.photos import usable, why_unusable
from tasks.domain.selection import (
    Candidate,
    Choice,
    select_closing,
    select_opening,
    select_room_start,
)
from tasks.domain.formats import planned_formats
from tasks.domain.templates import get_template
from tasks.media.images import UnusablePhoto, decode_for_analysis
from tasks.media.resolution import Fit, ResolutionVerdict, judge
from tasks.settings import Settings, get_settings
from tasks.stages import stage
from tasks.storage import ArtifactNotFound, ArtifactStore, get_store, keys, sha256_bytes
from tasks.uri_policy import RefusedInput

log = structlog.get_logger(__name__)

READ_THREADS = 4  # photo fetches in flight: hides S3 latency; Pillow decodes without the GIL


class NoUsablePhotos(RuntimeError):
    """Nothing in the job can be used; the message says why, photo by photo."""


@dataclass
class PhotoFacts:
    """What Phase 1 learns about one photo before anything is written."""

    photo_id: int
    name: str
    flags: ManualMetadata
    sha256: str | None = None
    pixels: np.ndarray | None = None
    width: int | None = None
    height: int | None = None
    unusable_reason: str | None = None
    quality: QualityScores | None = None
    gate_reason: str | None = None
    final_score: float | None = None
    resolution: ResolutionVerdict | None = None
    duplicate_of: int | None = None  # photo id of the kept photo of its duplicate group

    # The names `tasks.domain.photos` reads, so Phase 1 decides with the same rule as the rows.
    @property
    def usable(self) -> bool:
        return self.pixels is not None

    @property
    def quality_gate_reason(self) -> str | None:
        return self.gate_reason

    @property
    def exclude(self) -> bool:
        return self.flags.exclude

    @property
    def duplicate_of_photo_id(self) -> int | None:
        return self.duplicate_of

    @property
    def eligible(self) -> bool:
        """May take part in any later choice (tasks.domain.photos.usable)."""
        return usable(self)

    def why_not(self) -> str:
        return why_unusable(self) or ""


@dataclass
class RoomPlan:
    group: RoomGroup
    photo_ids: list[int]
    plan: ClusterPlan
    hero: Choice
    overlap: OverlapResult
    debug: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    """Everything one run decided, ready to be written in one transaction."""

    facts: list[PhotoFacts]
    eligible: list[PhotoFacts]  # the photos below are indexed like this list
    embeddings: np.ndarray
    depth: list[DepthEvidence]
    depth_maps: list[np.ndarray]
    rooms: list[RoomPlan]
    opening: Choice
    closing: Choice
    backends: dict[str, Any]
    framing: list[dict] = field(default_factory=list)  # photos.framing, indexed like `eligible`


def run_analyze(job_id: uuid.UUID, *, store: ArtifactStore | None = None) -> dict:
    """Analyse and plan the job; returns a summary (counts, picks, backends, stage timings).

    `store` defaults to the configured artifact store. Every log line of the phase, the models'
    included, carries the job_id.
    """
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        return analyze_job(job_id, store or get_store())


def analyze_job(job_id: uuid.UUID, store: ArtifactStore) -> dict:
    """The stages in order (each a Prefect task inside a flow run, see tasks.stages)."""
    settings = get_settings()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    job, facts = load_photos(job_id, store)
    timings["decode"] = _lap(clock)
    passed = check_quality(job, facts, QualityThresholds.from_settings(settings), settings)
    timings["quality"] = _lap(clock, timings)
    embedder, passed_embeddings = embed_photos([f.pixels for f in passed], settings)
    duplicates = mark_duplicates(facts, passed, passed_embeddings, embedder.backend, settings)
    timings["duplicates"] = _lap(clock, timings)
    eligible = [f for f in facts if f.eligible]
    if not eligible:
        raise NoUsablePhotos(no_usable_message(job_id, facts))
    images = [f.pixels for f in eligible]
    row_of = {f.photo_id: i for i, f in enumerate(passed)}
    embeddings = passed_embeddings[[row_of[f.photo_id] for f in eligible]]
    rooms_found = find_rooms(embedder, images, embeddings, eligible)
    timings["rooms"] = _lap(clock, timings)
    depth_maps, depth, depth_backend = estimate_depth(images, settings)
    timings["depth"] = _lap(clock, timings)
    overlaps = assess_overlaps(images, rooms_found.groups, settings)
    timings["overlap"] = _lap(clock, timings)
    backends = {
        "embedding": embedder.backend,
        "room_label": rooms_found.photo_labels[0].backend,
        "depth": depth_backend,
        "overlap": "pycolmap" if any(ov.assessed for ov in overlaps) else "not-assessed",
    }
    rooms, opening, closing = plan_rooms(job, eligible, depth, rooms_found, overlaps, backends, settings)
    timings["plan"] = _lap(clock, timings)

    framing = frame_photos(job, eligible, depth_maps)
    timings["framing"] = _lap(clock, timings)

    analysis = Analysis(facts, eligible, embeddings, depth, depth_maps, rooms, opening, closing, backends, framing)
    superseded = save_analysis(job_id, store, analysis)
    timings["persist"] = _lap(clock, timings)
    names = {f.photo_id: f.name for f in facts}
    summary = {
        "photos": len(facts),
        "usable": sum(f.pixels is not None for f in facts),
        "eligible": len(eligible),
        "unusable": {f.name: f.unusable_reason for f in facts if f.unusable_reason},
        "gated": {f.name: f.gate_reason for f in facts if f.gate_reason},
        "excluded": [f.name for f in facts if f.flags.exclude],
        "duplicates": [
            {"kept": names[g.kept], "duplicates": {names[m]: g.evidence[m] for m in g.members if m != g.kept}}
            for g in duplicates
        ],
        "rooms": [
            {
                "room_type": r.group.room_type.value,
                "photos": len(r.photo_ids),
                "tier": r.plan.tier.value,
                "motion": r.plan.recommended_motion.value,
                "hero_photo_id": r.hero.photo_id,
            }
            for r in rooms
        ],
        "opening_photo_id": opening.photo_id,
        "closing_photo_id": closing.photo_id,
        "superseded_clips": superseded,
        "backends": backends,
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }
    log.info(
        "analyze.done",
        rooms=len(rooms),
        backends=backends,
        **{k: summary[k] for k in ("photos", "eligible", "opening_photo_id", "closing_photo_id")},
    )
    return summary


@dataclass
class RoomsFound:
    groups: list[RoomGroup]
    photo_labels: list[RoomLabel]
    override_effects: dict[int, str]


@stage("load photos", io=True)
def load_photos(job_id: uuid.UUID, store: ArtifactStore) -> tuple[Job, list[PhotoFacts]]:
    """The job's photo rows, then each photo's bytes once, decoded to analysis size."""
    job, rows = load_job_photos(job_id)
    parse_listing(job.listing)  # what Rails wrote is refused now, with its reason, before any GPU work
    check_music_uri(job, store)
    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:  # store latency and decoding overlap
        return job, list(pool.map(lambda row: read_photo(row, store), rows))


@stage("quality")
def check_quality(job: Job, facts: list[PhotoFacts], thresholds: QualityThresholds,
                  settings: Settings) -> list[PhotoFacts]:
    """Scores and gates every photo (for the job's output format); returns the ones that pass
    (none: NoUsablePhotos)."""
    fmt = get_template(job.template_type).output
    for f in facts:
        score_photo(f, thresholds, fmt, settings)
    passed = [f for f in facts if f.pixels is not None and f.gate_reason is None]
    if not passed:
        raise NoUsablePhotos(no_usable_message(job.id, facts))
    return passed


def frame_photos(job: Job, eligible: list[PhotoFacts], depth_maps: list[np.ndarray]) -> list[dict]:
    """A crop window per planned format for every eligible photo (tasks.analyze.framing)."""
    formats = planned_formats(job.formats, get_template(job.template_type).output)
    return [plan_framing(f.pixels, d, f.width or f.pixels.shape[1], f.height or f.pixels.shape[0], formats)  # type: ignore[union-attr]
            for f, d in zip(eligible, depth_maps, strict=True)]


@stage("embeddings")
def embed_photos(images: list[np.ndarray], settings: Settings) -> tuple[Any, np.ndarray]:
    embedder = load_embedder(settings)
    return embedder, embedder.embed(images)


@stage("rooms")
def find_rooms(embedder: Any, images: list[np.ndarray], embeddings: np.ndarray,
               eligible: list[PhotoFacts]) -> RoomsFound:
    """Model groups and labels, then the people's room overrides."""
    model_groups = group_rooms(embeddings, embedder.backend)
    photo_labels = label_rooms(embedder, images, embeddings)
    groups, override_effects = apply_room_overrides(
        model_groups,
        label_clusters(photo_labels, model_groups),
        [f.flags.room_override for f in eligible],
        embeddings,
        [f.name for f in eligible],
    )
    return RoomsFound(groups, photo_labels, override_effects)


@stage("depth")
def estimate_depth(images: list[np.ndarray], settings: Settings) -> tuple[list[np.ndarray], list[DepthEvidence], str]:
    estimator = load_depth_estimator(settings)
    depth_maps = estimator.estimate(images)
    return depth_maps, [DepthEvidence(**asdict(depth_stats(d))) for d in depth_maps], estimator.backend


@stage("overlap")
def assess_overlaps(images: list[np.ndarray], groups: list[RoomGroup], settings: Settings) -> list[OverlapResult]:
    return [assess_overlap([images[i] for i in g.members], settings) for g in groups]


@stage("plan")
def plan_rooms(
    job: Job,
    eligible: list[PhotoFacts],
    depth: list[DepthEvidence],
    found: RoomsFound,
    overlaps: list[OverlapResult],
    backends: dict[str, Any],
    settings: Settings,
) -> tuple[list[RoomPlan], Choice, Choice]:
    """Opening and closing picks, then each room's plan, hero and debug record."""
    candidates = {
        f.photo_id: Candidate.from_flags(f.photo_id, g.room_type, f.final_score, f.flags)
        for g in found.groups
        for f in (eligible[i] for i in g.members)
    }
    opening = select_opening(
        list(candidates.values()), prefer_drone=get_template(job.template_type).prefer_drone_opening
    )
    closing = select_closing(list(candidates.values()), opening_photo_id=opening.photo_id)
    rooms = [
        plan_room(g, ov, eligible, depth, candidates, closing, TierThresholds.from_settings(settings))
        for g, ov in zip(found.groups, overlaps, strict=True)
    ]
    for room in rooms:
        room.debug = room_debug(
            room, eligible, found.photo_labels, depth, found.override_effects, opening, closing, backends
        )
    return rooms, opening, closing


# ----------------------------------------------------------------------------- reading


def load_job_photos(job_id: uuid.UUID) -> tuple[Job, list[Photo]]:
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job with id {job_id}")
        rows = list(s.exec(select(Photo).where(Photo.job_id == job_id).order_by(Photo.id)).all())
    if not rows:
        raise NoUsablePhotos(f"job {job_id} has no photos")
    return job, rows


def check_music_uri(job: Job, store: ArtifactStore) -> None:
    """A music URI this worker may not read fails the job now, before any clip is rendered.

    No fallback to silence: a video without the music the agent chose is not what was asked
    for; the reason names the URI, and a swap_music edit or a corrected row fixes it."""
    if job.music_uri is not None:
        try:
            store.check_readable(job.music_uri)
        except RefusedInput as err:
            raise RefusedInput(f"music {err}") from None


def read_photo(row: Photo, store: ArtifactStore) -> PhotoFacts:
    """Fetch and decode one photo; a bad file becomes an unusable photo, not a failed job.

    Metadata that breaks its schema fails the job (InvalidManualMetadata): dropping a person's
    override silently would be worse than stopping with a clear message.
    """
    flags = effective_flags(row.manual_metadata, row.room_override, row.exclude, photo=row.original_filename)
    facts = PhotoFacts(photo_id=row.id, name=row.original_filename, flags=flags)
    try:
        data = store.get_bytes(row.s3_uri)
        facts.sha256 = sha256_bytes(data)
        if row.content_sha256 and row.content_sha256 != facts.sha256:
            raise UnusablePhoto(
                f"stored bytes do not match the photo's content_sha256 ({row.content_sha256[:12]}…): "
                "the object was overwritten or damaged; upload the photo again"
            )
        decoded = decode_for_analysis(data, row.original_filename)
    except ArtifactNotFound:
        facts.unusable_reason = f"photo file missing from the artifact store: {row.s3_uri}"
    except RefusedInput as err:  # a URI outside the allowed inputs, or an object over the download limit
        facts.unusable_reason = f"not read: {err}"
    except UnusablePhoto as err:
        facts.unusable_reason = err.reason
    else:
        facts.pixels, facts.width, facts.height = decoded.pixels, decoded.width, decoded.height
    if facts.unusable_reason:
        log.warning(
            "photo.unusable", photo_id=row.id, file=row.original_filename, reason=facts.unusable_reason
        )
    return facts


def score_photo(f: PhotoFacts, thresholds: QualityThresholds, fmt: str, settings: Settings) -> None:
    """Quality scores and gates; a photo too small for the job's output format is refused here."""
    if f.pixels is None:
        return
    assert f.width is not None and f.height is not None
    f.quality = score_quality(f.pixels)
    f.resolution = judge(f.width, f.height, fmt, settings)
    reasons = [quality_gate(f.quality.sharpness, f.quality.exposure_score, thresholds)]
    if f.resolution.fit is Fit.refused:
        reasons.append(f.resolution.reason)
    f.gate_reason = "; ".join(r for r in reasons if r) or None
    f.final_score = final_score(f.quality.base_score, f.flags)


@stage("duplicates")
def mark_duplicates(
    facts: Sequence[PhotoFacts],
    passed: Sequence[PhotoFacts],
    passed_embeddings: np.ndarray | None,
    embedder_backend: str,
    settings: Settings,
) -> list[DuplicateGroup]:
    """Group the decoded photos' duplicates; keep the best of each, which takes the group's flags.

    Photos past the gates bring their embeddings (crops are found through them); gated ones are
    matched by bytes and hash alone, so a thumbnail of a used photo is named as its duplicate.
    """
    embedding_of = {f.photo_id: passed_embeddings[i] for i, f in enumerate(passed)} if passed else {}
    decoded = [f for f in facts if f.pixels is not None]
    candidates = [
        DuplicateCandidate(
            photo_id=f.photo_id, name=f.name, sha256=f.sha256 or "", phash=perceptual_hash(f.pixels),
            rank=(f.gate_reason is None, f.resolution is not None and f.resolution.fit is Fit.full,
                  in_colour(f.pixels), round(f.quality.base_score, 2) if f.quality else 0.0,  # re-encode noise ties
                  (f.width or 0) * (f.height or 0)),
            embedding=embedding_of.get(f.photo_id),
        )
        for f in decoded
    ]
    groups = find_duplicates(candidates, settings, learned=embedder_backend.startswith(LEARNED_EMBEDDING_PREFIX))
    by_id = {f.photo_id: f for f in decoded}
    for group in groups:
        kept = by_id[group.kept]
        others = [by_id[m] for m in group.members if m != group.kept]
        excluded_before = kept.flags.exclude
        kept.flags = merged_flags(kept.flags, [o.flags for o in others])
        if kept.flags.exclude and not excluded_before:
            marked = next(o.name for o in others if o.flags.exclude)
            kept.gate_reason = f"excluded: its duplicate {marked} is marked exclude"
        if kept.quality is not None:
            kept.final_score = final_score(kept.quality.base_score, kept.flags)
        for other in others:
            own = f" ({other.gate_reason})" if other.gate_reason else ""
            other.duplicate_of = kept.photo_id
            other.gate_reason = f"duplicate of {kept.name}{own}"
        named = {by_id[m].name: why for m, why in group.evidence.items()}
        log.info("photo.duplicates", kept=kept.name, duplicates=named)
    return groups


def no_usable_message(job_id: uuid.UUID, facts: Sequence[PhotoFacts]) -> str:
    reasons = "; ".join(f"{f.name}: {f.why_not()}" for f in facts)
    return f"job {job_id} has no usable photo ({len(facts)} photos: {reasons})"


# ----------------------------------------------------------------------------- deciding


def plan_room(
    group: RoomGroup,
    overlap: OverlapResult,
    eligible: Sequence[PhotoFacts],
    depth: Sequence[DepthEvidence],
    candidates: dict[int, Candidate],
    closing: Choice,
    thresholds: TierThresholds,
) -> RoomPlan:
    members = [candidates[eligible[i].photo_id] for i in group.members]
    hero = select_room_start(members)
    assert hero is not None  # a group always has members
    # The order a generator should use the views in: hero first, then by final_score.
    rest = sorted(
        (c for c in members if c.photo_id != hero.photo_id), key=lambda c: (-c.final_score, c.photo_id)
    )
    photo_ids = [hero.photo_id, *(c.photo_id for c in rest)]
    evidence = OverlapEvidence(overlap.assessed, overlap.overlap_score, overlap.sfm_eligible, overlap.reason)
    plan = plan_cluster(
        len(photo_ids),
        [depth[i] for i in group.members],
        evidence,
        thresholds,
        holds_closing=closing.photo_id in photo_ids,
    )
    return RoomPlan(group, photo_ids, plan, hero, overlap)


def room_debug(
    room: RoomPlan,
    eligible: Sequence[PhotoFacts],
    photo_labels: Sequence[RoomLabel],
    depth: Sequence[DepthEvidence],
    override_effects: dict[int, str],
    opening: Choice,
    closing: Choice,
    backends: dict[str, Any],
) -> dict[str, Any]:
    """Every decision about this room with its inputs and reason (analysis_results.debug_metrics)."""
    g = room.group
    members = []
    for i in g.members:
        f = eligible[i]
        assert f.quality is not None
        members.append(
            {
                "photo_id": f.photo_id,
                "file": f.name,
                "sharpness": f.quality.sharpness,
                "exposure_score": f.quality.exposure_score,
                "composition_score": f.quality.composition_score,
                "base_score": f.quality.base_score,
                "manual_bonus": manual_bonus(f.flags),
                "final_score": f.final_score,
                "flags": active_flags(f.flags),
                "quality_metrics": f.quality.metrics,
                "model_label": {
                    "room_type": photo_labels[i].room_type.value,
                    "confidence": round(photo_labels[i].confidence, 4),
                },
                "depth": asdict(depth[i]),
                "room_override_effect": override_effects.get(i),
            }
        )
    debug: dict[str, Any] = {
        **room.plan.debug,
        "room": {
            "room_type": g.room_type.value,
            "source": g.label_source,
            "confidence": round(g.label_confidence, 4),
            "model_label": None
            if g.model_label is None
            else {
                "room_type": g.model_label.room_type.value,
                "confidence": round(g.model_label.confidence, 4),
                "scores": g.model_label.scores,
            },
            "notes": g.notes,
        },
        "members": members,
        "source_photo_ids": room.photo_ids,
        "overlap_pairs": room.overlap.debug()["pairs"],
        "hero": asdict(room.hero),
        "backends": backends,
    }
    ids = set(room.photo_ids)
    if opening.photo_id in ids:
        debug["opening"] = asdict(opening)
    if closing.photo_id in ids:
        debug["closing"] = asdict(closing)
    return debug


# ----------------------------------------------------------------------------- writing


@stage("save", io=True)
def save_analysis(job_id: uuid.UUID, store: ArtifactStore, a: Analysis) -> int:
    """Replace the job's analysis in one transaction; returns how many clips were superseded.

    The depth maps go to the store inside the transaction, so a failed write rolls the rows
    back too. Their keys are per photo: an earlier analysis's maps are overwritten in place.
    """
    pngs = [encode_depth_png(d) for d in a.depth_maps]  # encoded before the transaction opens
    index = {f.photo_id: i for i, f in enumerate(a.eligible)}
    with session_scope() as s:
        job = s.exec(select(Job).where(Job.id == job_id).with_for_update()).one()
        superseded = clear_previous_analysis(s, job_id)
        cluster_of: dict[int, int] = {}
        clusters = []
        for room in a.rooms:
            cluster = RoomCluster(
                job_id=job_id,
                room_type=room.group.room_type.value,
                confidence_tier=room.plan.tier,
                sfm_eligible=room.overlap.sfm_eligible if room.overlap.assessed else None,
                image_count=len(room.photo_ids),
                overlap_score=room.overlap.overlap_score if room.overlap.assessed else None,
                depth_variance=room.plan.depth.variance,
                label_confidence=room.group.label_confidence,
            )
            s.add(cluster)
            clusters.append(cluster)
        s.flush()
        for room, cluster in zip(a.rooms, clusters, strict=True):
            cluster_of.update({pid: cluster.id for pid in room.photo_ids})
        room_type_of = {pid: room.group.room_type.value for room in a.rooms for pid in room.photo_ids}

        rows = {p.id: p for p in s.exec(select(Photo).where(Photo.job_id == job_id)).all()}
        for f in a.facts:
            row = rows[f.photo_id]
            write_photo_scores(row, f)
            i = index.get(f.photo_id)
            if i is None:
                continue
            row.room_cluster_id = cluster_of[f.photo_id]
            row.room_label = room_type_of[f.photo_id]
            row.embedding = [float(x) for x in a.embeddings[i]]
            row.depth_variance = a.depth[i].variance
            row.depth_layering = a.depth[i].layering
            row.planarity = a.depth[i].planarity
            row.depth_uri = store.put_bytes(keys.depth(job_id, f.photo_id), pngs[i], "image/png")
            row.framing = a.framing[i] if a.framing else None
            s.add(row)

        for room, cluster in zip(a.rooms, clusters, strict=True):
            plan = room.plan
            s.add(
                AnalysisResult(
                    job_id=job_id,
                    room_cluster_id=cluster.id,
                    hero_photo_id=room.hero.photo_id,
                    recommended_motion=plan.recommended_motion,
                    allowed_motion_types=[m.value for m in plan.allowed_motion],
                    recommended_duration=plan.recommended_duration,
                    tier=plan.tier,
                    model_recommendation=plan.model_recommendation,
                    is_3d_eligible=plan.is_3d_eligible,
                    debug_metrics=room.debug,
                )
            )
        job.opening_photo_id = a.opening.photo_id
        job.closing_photo_id = a.closing.photo_id
        job.analysis_backends = a.backends
        s.add(job)
    return superseded


def clear_previous_analysis(s: Session, job_id: uuid.UUID) -> int:
    """Retire the job's analysis; returns how many clips were superseded.

    Plan rows go; clips stay (timelines point at them) but are marked superseded. A cluster no
    clip cites goes; one a clip cites stays for that clip, stamped `superseded_at`, so the
    current analysis is exactly the clusters without that stamp.
    """
    superseded = s.exec(
        update(Clip)
        .where(Clip.job_id == job_id, Clip.status.in_(sources_of(ClipStatus.superseded)))  # type: ignore[attr-defined]
        .values(status=ClipStatus.superseded)
    ).rowcount
    s.exec(delete(AnalysisResult).where(AnalysisResult.job_id == job_id))
    s.exec(update(Photo).where(Photo.job_id == job_id).values(room_cluster_id=None))
    cited = exists().where(Clip.room_cluster_id == RoomCluster.id)
    s.exec(delete(RoomCluster).where(RoomCluster.job_id == job_id, ~cited))
    s.exec(
        update(RoomCluster)
        .where(RoomCluster.job_id == job_id, RoomCluster.superseded_at.is_(None))
        .values(superseded_at=func.now())
    )
    return superseded


def write_photo_scores(row: Photo, f: PhotoFacts) -> None:
    """Per-photo columns every rerun rewrites; model outputs are cleared until set again."""
    q = f.quality
    row.usable = f.pixels is not None
    row.unusable_reason = f.unusable_reason
    row.quality_gate_reason = f.gate_reason
    row.duplicate_of_photo_id = f.duplicate_of
    row.width, row.height = f.width, f.height
    row.sharpness = q.sharpness if q else None
    row.exposure_score = q.exposure_score if q else None
    row.composition_score = q.composition_score if q else None
    row.base_score = q.base_score if q else None
    row.final_score = f.final_score
    row.room_label = f.flags.room_override.value if f.flags.room_override else None
    row.room_cluster_id = None
    row.embedding = None
    row.depth_variance = row.depth_layering = row.planarity = None
    row.depth_uri = None
    row.framing = None


def _lap(start: float, done: dict[str, float] | None = None) -> float:
    return time.perf_counter() - start - sum((done or {}).values())
