"""Phase 2 glue: plan a job's clips from its analysis, then render them.

`plan_clips(job_id)` turns Phase 1's rows into pending `clips` rows: one per room cluster
(its hero first, the motion the analysis recommends, shrunk to what the cluster's usable
photos support and to what Phase 1 allowed — `allowed_motion_types`, `is_3d_eligible` — and
rendered on the LTX-2 path of its `model_recommendation`: tasks.domain.motions.fit), plus a
clip for the job's opening or closing photo where that photo does not already lead a room's
clip, plus a single-image clip for every other usable view (each within its room's allowed
motions).
Photos the planner must treat apart (`shot_kind`): a panorama gets its own clip, a plain 2D pan
across its whole width; a photo between the soft and the hard upscale limit gets only a short
plain 2D push in; neither is put in a multi-view clip.
Durations are then sized so the clips can fill the job's target length (tasks.render.sizing).
Every clip row is the 16:9 render; the job's other formats (tasks.domain.formats.planned_formats)
go in `render_params["formats"]` (a row not rendered yet follows the job's formats when they
change), and the clip unit renders each of them too, from Phase 1's crop windows
(`clips.format_uris`).
Rows are keyed by the natural key (job, cluster, motion, source photos, attempt) and inserted
with ON CONFLICT DO NOTHING, so planning twice plans once; a planned row not rendered yet
follows a changed duration, a rendered one keeps its footage. Rows from an older analysis that
the current plan no longer contains are marked superseded. `run_render(job_id)` is the local, sequential runner: plan, then
`render_clip` every planned chain (a done one is a no-op). The Prefect fan-out calls the
same two functions.
"""

from __future__ import annotations

import argparse
import json
import uuid
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from db.enums import ClipStatus, ConfidenceTier, MotionType
from db.models import AnalysisResult, Clip, Job, Photo
from db.session import session_scope
from tasks.domain import clip_lifecycle as lifecycle
from tasks.domain.formats import FORMATS, PRIMARY, clip_size, planned_formats
from tasks.domain.motions import MOTIONS, fit
from tasks.domain.photos import usable
from tasks.domain.templates import get_template
from tasks.media.resolution import Fit, is_panorama, judge
from tasks.render.downgrade import sources_for
from tasks.render.interrupt import Interrupted, stop_on_sigterm
from tasks.render.sizing import clip_cap, footage_goal, sized_durations
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

MAX_VIEWS = 4  # views in one multi-image clip: more makes each too short to read
Allowed = dict[int, list[str]]
"""Each analysed room's `allowed_motion_types` by cluster id (a room without analysis: no limit)."""
CHAIN = """
    WITH RECURSIVE chain(id) AS (
        SELECT unnest(CAST(:roots AS integer[]))
        UNION SELECT c.id FROM clips c JOIN chain ON c.downgraded_from_id = chain.id
    )
"""
"""The given root clips and every downgrade that followed them (SQL prefix, `:roots` bound)."""


@dataclass(frozen=True)
class PlannedClip:
    room_cluster_id: int
    motion: MotionType
    source_photo_ids: tuple[int, ...]
    tier: ConfidenceTier
    duration: float
    params: dict[str, Any] = field(default_factory=dict)


def clip_seed(job_id: uuid.UUID, room_cluster_id: int, photo_ids: tuple[int, ...]) -> int:
    """The same seed on every rerun, so a re-render of the same plan reproduces the clip."""
    return zlib.crc32(f"{job_id}:{room_cluster_id}:{photo_ids}".encode()) & 0x7FFFFFFF


PANORAMA, STATIC_SAFE = "panorama", "static_safe"


def shot_kind(photo: Photo, fmt: str, settings: Settings) -> str | None:
    """'panorama', 'static_safe' (between the upscale limits) or None for any shot."""
    if not photo.width or not photo.height:
        return None
    if is_panorama(photo.width, photo.height, settings):
        return PANORAMA
    return STATIC_SAFE if judge(photo.width, photo.height, fmt, settings).fit is Fit.static_safe else None


def special_clip(photo: Photo, kind: str, cluster_id: int, role: str, settings: Settings) -> PlannedClip:
    """A panorama's pan across its width, or a low-resolution photo's short push: both plain 2D
    on the CPU renderer (rigid moves of the photo that no depth error can spoil)."""
    common = {"role": role, "plain_2d": True, "backend": "parallax"}
    if kind == PANORAMA:
        return PlannedClip(cluster_id, MotionType.subtle_pan, (photo.id,), ConfidenceTier.low,  # type: ignore[arg-type]
                           MOTIONS[MotionType.subtle_pan].max_seconds, {**common, "pan_direction": "right", "sweep": True})
    duration = min(MOTIONS[MotionType.micro_push_in].seconds, settings.soft_limit_max_seconds)
    return PlannedClip(cluster_id, MotionType.micro_push_in, (photo.id,), ConfidenceTier.low,  # type: ignore[arg-type]
                       duration, {**common, "static_safe": True})


def room_clips(
    results: list[AnalysisResult], photos_by_cluster: dict[int, list[Photo]], kinds: dict[int, str | None],
    settings: Settings,
) -> list[PlannedClip]:
    """One clip per analysed room: hero first, then the best of the rest by final score."""
    planned = []
    for index, result in enumerate(sorted(results, key=lambda r: r.room_cluster_id)):
        candidates = sorted(
            (p for p in photos_by_cluster.get(result.room_cluster_id, []) if usable(p)),
            key=lambda p: (p.id != result.hero_photo_id, -(p.final_score or 0.0), p.id),
        )
        if not candidates:
            log.warning("room_without_usable_photo", room_cluster_id=result.room_cluster_id)
            continue
        if kinds.get(candidates[0].id):  # type: ignore[arg-type]
            planned.append(special_clip(candidates[0], kinds[candidates[0].id], result.room_cluster_id,  # type: ignore[index,arg-type]
                                        "room", settings))
            continue
        ids = tuple(p.id for p in candidates if not kinds.get(p.id))[:MAX_VIEWS]  # type: ignore[misc,arg-type]
        motion = fit(result.recommended_motion, len(ids), result.allowed_motion_types, result.is_3d_eligible)
        planned.append(PlannedClip(
            room_cluster_id=result.room_cluster_id,
            motion=motion,
            source_photo_ids=sources_for(motion, ids),
            tier=result.tier,
            duration=result.recommended_duration,
            # alternate directions so consecutive rooms do not all drift the same way
            params={"role": "room", "pan_direction": "right" if index % 2 == 0 else "left",
                    "planned_motion": result.recommended_motion.value, **planned_model(result, motion)},
        ))
    return planned


def single_view_clip(cluster_id: int, photo_id: int, motion: MotionType, allowed: Allowed,
                     params: dict[str, Any]) -> PlannedClip:
    """One photo's own clip: `motion`, or the ladder's next move the room's analysis allows."""
    motion = fit(motion, 1, allowed.get(cluster_id))
    return PlannedClip(room_cluster_id=cluster_id, motion=motion, source_photo_ids=(photo_id,),
                       tier=ConfidenceTier.low, duration=MOTIONS[motion].seconds,
                       params={**params, "model": MOTIONS[motion].ltx2.model})


def planned_model(result: AnalysisResult, motion: MotionType) -> dict[str, str]:
    """The LTX-2 path the clip renders with: Phase 1's `model_recommendation`, which is the
    recommended motion's path; where the plan had to shrink the motion, the smaller motion's own
    path, with the reason."""
    model = MOTIONS[motion].ltx2.model
    if result.model_recommendation == model:
        return {"model": model}
    return {"model": model, "model_reason": f"Phase 1 recommended {result.model_recommendation} for "
                                            f"{result.recommended_motion.value}; {motion.value} renders with {model}"}


def bookend_clips(job: Job, planned: list[PlannedClip], photos: dict[int, Photo], kinds: dict[int, str | None],
                  allowed: Allowed, settings: Settings) -> list[PlannedClip]:
    """Clips for the opening and closing photos that do not already lead a room's clip."""
    leading = {p.source_photo_ids[0] for p in planned}
    extra = []
    for role, photo_id, motion in (
        ("opening", job.opening_photo_id, MotionType.micro_push_in),
        ("closing", job.closing_photo_id, MotionType.micro_push_out),  # the video pulls back to end
    ):
        photo = photos.get(photo_id) if photo_id is not None else None
        if photo is None or photo_id in leading:
            continue
        if photo.room_cluster_id is None:
            log.warning("bookend_without_room", role=role, photo_id=photo_id)
            continue
        if kinds.get(photo_id):
            extra.append(special_clip(photo, kinds[photo_id], photo.room_cluster_id, role, settings))  # type: ignore[arg-type]
            leading.add(photo_id)
            continue
        extra.append(single_view_clip(photo.room_cluster_id, photo_id, motion, allowed,
                                      {"role": role, "pan_direction": "right"}))
        leading.add(photo_id)
    return extra


def view_clips(planned: list[PlannedClip], photos_by_cluster: dict[int, list[Photo]], kinds: dict[int, str | None],
               allowed: Allowed, settings: Settings) -> list[PlannedClip]:
    """A single-image clip for each usable view that no planned clip shows yet.

    A room photographed from several angles then gives several shots, so the timeline has
    footage to fill its target length without repeating a clip.
    """
    shown = {photo_id for p in planned for photo_id in p.source_photo_ids}
    extra: list[PlannedClip] = []
    for cluster_id, photos in sorted(photos_by_cluster.items()):
        for photo in sorted((p for p in photos if usable(p)), key=lambda p: (-(p.final_score or 0.0), p.id)):
            if photo.id in shown:
                continue
            if kinds.get(photo.id):  # type: ignore[arg-type]
                extra.append(special_clip(photo, kinds[photo.id], cluster_id, "view", settings))  # type: ignore[index,arg-type]
                shown.add(photo.id)  # type: ignore[arg-type]
                continue
            motion = (MotionType.subtle_pan, MotionType.micro_push_out)[len(extra) % 2]
            extra.append(single_view_clip(cluster_id, photo.id, motion, allowed,  # type: ignore[arg-type]
                                          {"role": "view", "pan_direction": "left" if len(extra) % 4 < 2 else "right"}))
            shown.add(photo.id)  # type: ignore[arg-type]
    return extra


def plan_clips(job_id: uuid.UUID | str) -> list[int]:
    """Create (or find) the pending clip rows of the job's plan; returns their ids in plan order."""
    job_id = uuid.UUID(str(job_id))
    settings = get_settings()
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        results = list(session.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id)))
        photos = {p.id: p for p in session.exec(select(Photo).where(Photo.job_id == job_id))}
        by_cluster: dict[int, list[Photo]] = {}
        for photo in photos.values():
            if photo.room_cluster_id is not None:
                by_cluster.setdefault(photo.room_cluster_id, []).append(photo)
        template = get_template(job.template_type)
        kinds = {pid: shot_kind(p, template.output, settings) for pid, p in photos.items()}
        allowed: Allowed = {r.room_cluster_id: r.allowed_motion_types for r in results}
        planned = room_clips(results, by_cluster, kinds, settings)
        planned += bookend_clips(job, planned, photos, kinds, allowed, settings)  # type: ignore[arg-type]
        planned += view_clips(planned, by_cluster, kinds, allowed, settings)
        fps = settings.clip_fps or FORMATS[PRIMARY].fps
        planned = size_clips(planned, job, fps, settings.soft_limit_max_seconds)
        extra = [f for f in planned_formats(job.formats, template.output) if f != PRIMARY]
        planned = [replace(p, params={**p.params, "formats": extra}) for p in planned]
        ids = [_insert_planned(session, job_id, p, fps, settings) for p in planned]
        short = [i for i, p in zip(ids, planned) if _follow_duration(session, i, p.duration, fps)]
        for clip_id in ids:
            _follow_formats(session, clip_id, extra)
        superseded = _supersede_others(session, job_id, ids)
    log.info("clips_planned", job_id=str(job_id), clips=len(ids), superseded=superseded,
             seconds=round(sum(p.duration for p in planned), 3))
    if short:
        log.warning("rendered_clips_shorter_than_plan", job_id=str(job_id), clip_ids=short)
    return ids


def size_clips(planned: list[PlannedClip], job: Job, fps: int, static_safe_cap: float) -> list[PlannedClip]:
    """The plan with durations sized to fill the job's target length (tasks.render.sizing);
    a static-safe shot stays short."""
    template = get_template(job.template_type)
    goal = footage_goal(template, job.target_length or template.target_length,
                        job.enable_beat_sync and job.music_uri is not None, job.bpm, len(planned))
    caps = [min(clip_cap(p.motion, fps), static_safe_cap) if p.params.get("static_safe") else clip_cap(p.motion, fps)
            for p in planned]
    durations = sized_durations([p.duration for p in planned], caps, goal, fps)
    return [replace(p, duration=d, params={**p.params, "natural_duration": p.duration})
            for p, d in zip(planned, durations)]


def _insert_planned(session: Session, job_id: uuid.UUID, planned: PlannedClip, fps: int, settings: Settings) -> int:
    key = {
        "job_id": job_id, "room_cluster_id": planned.room_cluster_id, "motion_type": planned.motion,
        "source_photo_ids": list(planned.source_photo_ids), "attempt": 0,
    }
    width, height = clip_size(PRIMARY, settings.clip_width, settings.clip_height)
    session.execute(insert(Clip).values(
        **key,
        confidence_tier=planned.tier, duration=planned.duration,
        fps=fps, width=width, height=height,
        seed=clip_seed(job_id, planned.room_cluster_id, planned.source_photo_ids),
        render_params=planned.params, status=ClipStatus.pending,
    ).on_conflict_do_nothing(constraint="uq_clips_natural_key"))
    row = session.exec(select(Clip.id, Clip.status).where(*(getattr(Clip, k) == v for k, v in key.items()))).one()
    if row.status in lifecycle.sources_of(ClipStatus.pending):  # an older analysis dropped it, this one wants it again
        session.execute(sa.text(CHAIN + """
            UPDATE clips SET status = 'pending', updated_at = now()
            WHERE id IN (SELECT id FROM chain) AND status IN :from_states
        """).bindparams(sa.bindparam("from_states", expanding=True)),
            {"roots": [row.id], "from_states": _values(lifecycle.sources_of(ClipStatus.pending))})
    return row.id


def _follow_duration(session: Session, clip_id: int, duration: float, fps: int) -> bool:
    """Rows of the clip's chain not rendered yet take the plan's duration. A rendered clip keeps
    its footage (GPU time is the cost; Phase 3 fills with what exists): True when it is shorter
    than the plan now asks by more than a frame."""
    session.execute(sa.text(CHAIN + """
        UPDATE clips SET duration = :duration, updated_at = now()
        WHERE id IN (SELECT id FROM chain) AND status = 'pending' AND s3_uri IS NULL AND duration <> :duration
    """), {"roots": [clip_id], "duration": duration})
    shortest = session.execute(sa.text(CHAIN + """
        SELECT min(duration) FROM clips WHERE id IN (SELECT id FROM chain) AND status = 'done'
    """), {"roots": [clip_id]}).scalar()
    return shortest is not None and shortest < duration - 1 / fps


def _follow_formats(session: Session, clip_id: int, formats: list[str]) -> None:
    """Rows of the clip's chain not rendered yet take the job's formats as they are now."""
    session.execute(sa.text(CHAIN + """
        UPDATE clips SET render_params = render_params || jsonb_build_object('formats', CAST(:formats AS jsonb)),
                         updated_at = now()
        WHERE id IN (SELECT id FROM chain) AND status = 'pending' AND s3_uri IS NULL
          AND render_params -> 'formats' IS DISTINCT FROM CAST(:formats AS jsonb)
    """), {"roots": [clip_id], "formats": json.dumps(formats)})


def _supersede_others(session: Session, job_id: uuid.UUID, plan_ids: list[int]) -> int:
    """Mark superseded every clip of the job outside the plan's chains (root and downgrades)."""
    result = session.execute(sa.text(CHAIN + """
        UPDATE clips SET status = 'superseded', updated_at = now()
        WHERE job_id = :job AND status IN :from_states AND id NOT IN (SELECT id FROM chain)
    """).bindparams(sa.bindparam("from_states", expanding=True)),
        {"roots": plan_ids, "job": job_id, "from_states": _values(lifecycle.sources_of(ClipStatus.superseded))})
    return result.rowcount or 0


def _values(states: frozenset[ClipStatus]) -> list[str]:
    return sorted(s.value for s in states)


def run_render(job_id: uuid.UUID | str) -> dict[str, Any]:
    """Plan, then render every planned chain in turn; one clip's failure never stops the rest."""
    from tasks.render.clip_unit import render_clip

    summaries = []
    with stop_on_sigterm(get_settings().sigterm_grace_s):  # also between clips, not only inside one
        ids = plan_clips(job_id)
        for clip_id in ids:
            try:
                summaries.append(render_clip(clip_id))
            except Interrupted:
                raise
            except Exception as err:
                log.exception("clip_unit_crashed", job_id=str(job_id), clip_id=clip_id)
                summaries.append({"clip_id": clip_id, "status": "failed", "error": f"{type(err).__name__}: {err}"})
    counts: dict[str, int] = {}
    for summary in summaries:
        counts[summary["status"]] = counts.get(summary["status"], 0) + 1
    return {"job_id": str(job_id), "planned": len(ids), "statuses": counts, "clips": summaries}


def main(argv: list[str] | None = None) -> None:
    """`python -m tasks.render.phase JOB_ID` renders a job; `--clip ID` renders one clip."""
    import json

    from tasks.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m tasks.render.phase", description=main.__doc__)
    parser.add_argument("job_id", nargs="?")
    parser.add_argument("--clip", type=int, help="render this clip (and its downgrades) only")
    args = parser.parse_args(argv)
    configure_logging()
    if args.clip is not None:
        from tasks.render.clip_unit import render_clip

        result = render_clip(args.clip)
    elif args.job_id:
        result = run_render(args.job_id)
    else:
        parser.error("give a JOB_ID or --clip ID")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
