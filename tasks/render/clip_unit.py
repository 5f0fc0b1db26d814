"""One clip = one idempotent unit of work: `render_clip(clip_id)`.

A clip row moves pending → rendering → validating → done, or ends failed (could not be
produced; reason in `error`), rejected (rendered but failed validation) or interrupted
(SIGTERM); every change goes through the lifecycle (tasks.domain.clip_lifecycle), which says
which rows are final (done, failed, rejected, superseded) and which are claimed again.
Rejected and downgradable failures create the next attempt — a new row with attempt + 1,
the safer step of `tasks.render.downgrade`, and `downgraded_from_id` pointing back — and
render it at once, so every attempt stays in the database. Calling `render_clip` on any row
of such a chain continues from the chain's latest row; on a final row it does nothing.

Side effects are safe to repeat: the mp4 goes to the store under its deterministic key
(`keys.clip`) as soon as it exists, and a row that already has its mp4 (a worker died while
validating) is validated again rather than re-rendered. Each state change is one transaction
that waits out a database restart (db.session.retry_db), so a clip being written when the
database goes away is recorded once it is back, not rendered again. While an attempt runs, a heartbeat
keeps the row's `updated_at` fresh (tasks.render.heartbeat). GPU wall seconds are added to the
clip and the job even when the generation fails or is interrupted: they were spent.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from db.enums import ClipStatus, ConfidenceTier
from db.models import Clip, Photo, RoomCluster
from db.session import retry_db, session_scope
from tasks.costs import record_gpu_seconds
from tasks.domain import clip_lifecycle as lifecycle
from tasks.domain.formats import clip_size
from tasks.domain.motions import MOTIONS, validation_flags
from tasks.media.video import VideoError, probe
from tasks.render.downgrade import FailureKind, RenderStep, safer_step
from tasks.render.generator import (
    BackendUnavailable,
    ClipBackend,
    ClipRequest,
    RenderedClip,
    choose_backend,
    generate_clip,
    gpu_available,
    load_backend,
)
from tasks.render.heartbeat import heartbeat
from tasks.render.inputs import PhotoRef, Sources, load_framed_sources, load_sources
from tasks.render.interrupt import STOPS, Interrupted, flush_logs, request_stop, stop_on_sigterm
from tasks.render.validate import ValidationReport, validate_analysed, validate_clip
from tasks.settings import Settings, get_settings
from tasks.storage import ArtifactStore, get_store, keys
from tasks.usage import release_free_memory

log = structlog.get_logger(__name__)


class ClipNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Claim:
    """What one render attempt of a row needs, read when the row is claimed."""

    clip_id: int
    job_id: uuid.UUID
    step: RenderStep
    room_type: str
    tier: ConfidenceTier
    duration: float
    fps: int
    width: int
    height: int
    seed: int
    attempt: int
    render_params: dict[str, Any]
    s3_uri: str | None
    photos: list[PhotoRef]
    framing: dict[int, dict]  # photo id -> photos.framing (Phase 1's crop window per format)
    format_uris: dict[str, str]  # renders at other formats already made
    flat_stats: dict[int, tuple[float | None, float | None, float | None]]  # variance, layering, planarity


@dataclass(frozen=True)
class Outcome:
    status: ClipStatus
    next_clip_id: int | None = None


# --------------------------------------------------------------------------- the public unit


def render_clip(clip_id: int) -> dict[str, Any]:
    """Render (or finish) the clip chain that `clip_id` belongs to; returns its final state."""
    settings, store = get_settings(), get_store()
    chain: list[int] = []
    current: int | None = latest_in_chain(clip_id)
    noop = True
    with stop_on_sigterm(settings.sigterm_grace_s):
        while current is not None:
            chain.append(current)
            outcome = _attempt(current, settings, store)
            if outcome is None:
                break  # already final: nothing was done
            noop = False
            current = outcome.next_clip_id
    release_free_memory()
    return {**clip_summary(chain[-1]), "chain": chain, "noop": noop}


@retry_db
def latest_in_chain(clip_id: int) -> int:
    """The newest row of the downgrade chain through `clip_id` (itself when nothing followed)."""
    with session_scope() as session:
        if session.get(Clip, clip_id) is None:
            raise ClipNotFound(f"no clip {clip_id}")
        while (nxt := session.exec(select(Clip.id).where(Clip.downgraded_from_id == clip_id)).first()) is not None:
            clip_id = nxt
    return clip_id


@retry_db
def clip_summary(clip_id: int) -> dict[str, Any]:
    with session_scope() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        return {
            "clip_id": clip.id,
            "job_id": str(clip.job_id),
            "status": clip.status.value,
            "motion_type": clip.motion_type.value,
            "attempt": clip.attempt,
            "model_used": clip.model_used,
            "validation_score": clip.validation_score,
            "s3_uri": clip.s3_uri,
            "error": clip.error,
        }


# --------------------------------------------------------------------------- one attempt


def _attempt(clip_id: int, settings: Settings, store: ArtifactStore) -> Outcome | None:
    claim = _claim(clip_id, settings)
    if isinstance(claim, Outcome) or claim is None:
        return claim
    bound = log.bind(job_id=str(claim.job_id), clip_id=clip_id, attempt=claim.attempt)
    with heartbeat(clip_id, settings.render_heartbeat_s), tempfile.TemporaryDirectory(prefix=f"clip-{clip_id}-") as tmp:
        out_path = Path(tmp) / f"{clip_id}.mp4"
        try:
            return _render_validate(claim, out_path, settings, store, bound)
        except STOPS:
            request_stop(settings.sigterm_grace_s)  # frame loops on other threads stop too; the watchdog is armed
            _mark_interrupted(claim, out_path, store, bound)
            raise


@retry_db
def _claim(clip_id: int, settings: Settings) -> Claim | Outcome | None:
    """Lock the row and move it to `rendering` (or say why there is nothing to do)."""
    with session_scope() as session:
        clip = session.exec(select(Clip).where(Clip.id == clip_id).with_for_update()).one()
        if clip.status not in lifecycle.RETRIED:
            return None  # final: done, failed, superseded, or rejected (its successor carries on)
        if clip.attempts >= settings.max_render_attempts:
            lifecycle.move(clip, ClipStatus.failed, f"gave up after {clip.attempts} render tries (max_render_attempts)")
            return Outcome(ClipStatus.failed)
        clip.attempts += 1
        lifecycle.move(clip, ClipStatus.rendering)
        cluster = session.get(RoomCluster, clip.room_cluster_id)
        assert cluster is not None  # clips.room_cluster_id is a NOT NULL, cascading foreign key
        photos = {p.id: p for p in session.exec(select(Photo).where(Photo.id.in_(clip.source_photo_ids)))}  # type: ignore[union-attr]
        refs = [PhotoRef(pid, photos[pid].s3_uri, photos[pid].depth_uri) if pid in photos
                else PhotoRef(pid, "", None) for pid in clip.source_photo_ids]
        stats = {pid: (p.depth_variance, p.depth_layering, p.planarity) for pid, p in photos.items()}
        forced = clip.render_params.get("backend")
        backend = choose_backend(settings.generator, settings.ltx2_model, gpu_available, forced)
        session.flush()
        return Claim(
            clip_id=clip.id, job_id=clip.job_id,  # type: ignore[arg-type]
            step=RenderStep(clip.motion_type, tuple(clip.source_photo_ids), backend,
                            plain_2d=bool(clip.render_params.get("plain_2d"))),
            room_type=cluster.room_type, tier=clip.confidence_tier,
            duration=clip.duration, fps=clip.fps, width=clip.width, height=clip.height, seed=clip.seed,
            attempt=clip.attempt, render_params=dict(clip.render_params), s3_uri=clip.s3_uri,
            photos=refs, framing={pid: p.framing for pid, p in photos.items() if p.framing},
            format_uris=dict(clip.format_uris or {}), flat_stats=stats,
        )


def _render_validate(claim: Claim, out_path: Path, settings: Settings, store: ArtifactStore,
                     bound: Any) -> Outcome:
    existing = claim.s3_uri and store.exists(claim.s3_uri)
    rendered: RenderedClip | None = None
    sources = load_sources(store, claim.photos, claim.width, claim.height)
    if sources.unreadable:
        reasons = "; ".join(f"photo {pid}: {why}" for pid, why in sources.unreadable.items())
        step = safer_step(claim.step, FailureKind.unreadable_sources, tuple(sources.photo_ids))
        return _fail(claim, f"unreadable source photos: {reasons}", step, FailureKind.unreadable_sources)
    checks = validation_flags(claim.step.motion, flat=_is_flat(claim, sources), plain_2d=claim.step.plain_2d)
    if existing:
        bound.info("clip_output_exists_revalidating", uri=claim.s3_uri)
        store.get_file(claim.s3_uri, out_path)  # type: ignore[arg-type]
    else:
        try:
            backend = load_backend(claim.step.backend, settings)
        except BackendUnavailable as err:
            step = safer_step(claim.step, FailureKind.gpu_failure)
            return _fail(claim, str(err), step, FailureKind.gpu_failure)
        request = _request(claim, sources)
        bound.info("clip_render_started", backend=backend.name, motion=claim.step.motion.value,
                   frames=request.n_frames, size=f"{request.width}x{request.height}")
        try:
            rendered = _timed_generation(claim, request, backend, out_path, settings)
        except Interrupted:
            raise
        except Exception as err:  # noqa: BLE001 — any backend failure is recorded, never lost
            kind = FailureKind.gpu_failure if backend.uses_gpu else None
            step = safer_step(claim.step, kind) if kind else None
            bound.exception("clip_generation_failed", backend=backend.name)
            return _fail(claim, f"{backend.name} failed: {type(err).__name__}: {err}", step, kind)
        uri = store.put_file(keys.clip(claim.job_id, claim.clip_id), out_path, "video/mp4")
        _mark_validating(claim, uri, rendered, sources)
    try:
        if rendered is not None and rendered.analysis is not None:  # the frames as made: no decode
            report = validate_analysed(rendered.analysis.lumas, rendered.analysis.samples, "rendered", **checks)
        else:  # a stored clip from an earlier attempt
            report = validate_clip(out_path, **checks)
    except Interrupted:
        raise
    except Exception as err:  # noqa: BLE001
        bound.exception("clip_validation_crashed")
        return _fail(claim, f"validation crashed: {type(err).__name__}: {err}", None, None)
    if report.passed:
        failed = _render_formats(claim, settings, store, out_path.parent, bound)
        if failed is not None:
            return failed
    return _conclude(claim, report, bound)


def _render_formats(claim: Claim, settings: Settings, store: ArtifactStore, folder: Path, bound: Any) -> Outcome | None:
    """The validated move again at each of the job's other formats, rendered at that format's
    size from each photo's crop window (a portrait clip from a portrait slice of the photo, not
    cut from the landscape clip: bench/results/framing.md); each is stored as it is made."""
    for fmt in claim.render_params.get("formats", []):
        uri = claim.format_uris.get(fmt)
        if uri and store.exists(uri):
            continue
        width, height = clip_size(fmt, settings.clip_width, settings.clip_height)
        windows = {pid: None if claim.render_params.get("sweep") else claim.framing.get(pid, {}).get("windows", {}).get(fmt)
                   for pid in (ref.photo_id for ref in claim.photos)}
        sources = load_framed_sources(store, claim.photos, windows, width, height)
        if sources.unreadable:
            return _fail(claim, f"{fmt} render: unreadable source photos {sorted(sources.unreadable)}", None, None)
        out = folder / f"{claim.clip_id}-{fmt}.mp4"
        try:
            backend = load_backend(claim.step.backend, settings)
        except BackendUnavailable as err:
            return _fail(claim, str(err), safer_step(claim.step, FailureKind.gpu_failure), FailureKind.gpu_failure)
        try:
            request = replace(_request(claim, sources), width=width, height=height)
            _timed_generation(claim, request, backend, out, settings)
        except Interrupted:
            raise
        except Exception as err:  # noqa: BLE001 — recorded like the main render's failure
            kind = FailureKind.gpu_failure if backend.uses_gpu else None
            step = safer_step(claim.step, kind) if kind else None
            bound.exception("clip_format_render_failed", fmt=fmt)
            return _fail(claim, f"{fmt} render failed: {type(err).__name__}: {err}", step, kind)
        uri = store.put_file(keys.clip(claim.job_id, claim.clip_id, fmt=fmt), out, "video/mp4")
        claim.format_uris[fmt] = uri
        with session_scope() as session:
            clip = session.get(Clip, claim.clip_id)
            assert clip is not None
            clip.format_uris = dict(claim.format_uris)
        bound.info("clip_format_rendered", fmt=fmt, size=f"{width}x{height}", uri=uri)
    return None


def _is_flat(claim: Claim, sources: Sources) -> bool:
    """The hero's scene is flat by Phase 1's own rule (asked only where the validator would expect
    parallax otherwise: a single-view motion that is not a plain 2D move)."""
    from tasks.depth.stats import FlatRule, depth_stats

    if not MOTIONS[claim.step.motion].checks.single_view or claim.step.plain_2d:
        return False
    hero = sources.photo_ids[0]
    variance, layering, planarity = claim.flat_stats.get(hero, (None, None, None))
    if variance is None or layering is None or planarity is None:
        stats = depth_stats(sources.depths[0])
        variance, layering, planarity = stats.variance, stats.layering, stats.planarity
    return FlatRule.from_settings(get_settings())(variance, planarity)


def _request(claim: Claim, sources: Sources) -> ClipRequest:
    return ClipRequest(
        images=tuple(sources.images),
        depths=tuple(sources.depths),
        motion=claim.step.motion,
        room_type=claim.room_type,
        duration=claim.duration,
        fps=claim.fps,
        width=claim.width,
        height=claim.height,
        tier=claim.tier,
        seed=claim.seed,
        pan_direction=claim.render_params.get("pan_direction", "right"),
        plain_2d=claim.step.plain_2d,
        sweep=bool(claim.render_params.get("sweep")),
        model=claim.render_params.get("model"),
    )


def _timed_generation(claim: Claim, request: ClipRequest, backend: ClipBackend, out_path: Path,
                      settings: Settings) -> RenderedClip:
    started = time.monotonic()
    try:
        return generate_clip(request, backend, out_path, settings)
    finally:
        if backend.uses_gpu:
            record_gpu_seconds(claim.job_id, claim.clip_id, time.monotonic() - started)


# --------------------------------------------------------------------------- state changes


@retry_db
def _mark_validating(claim: Claim, uri: str, rendered: RenderedClip, sources: Sources) -> None:
    with session_scope() as session:
        clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        clip.s3_uri = uri
        clip.model_used = rendered.backend
        clip.is_3d = rendered.is_3d
        clip.duration = rendered.info.duration
        lifecycle.move(clip, ClipStatus.validating)
        clip.render_params = {
            **claim.render_params,
            "backend": claim.step.backend.value,
            "generator": rendered.metadata,
            "depth_sources": {str(k): v for k, v in sources.depth_sources.items()},
            "wall_seconds": round(rendered.wall_seconds, 3),
        }


@retry_db
def _conclude(claim: Claim, report: ValidationReport, bound: Any) -> Outcome:
    if report.passed:
        with session_scope() as session:
            clip = session.get(Clip, claim.clip_id)
            assert clip is not None
            lifecycle.move(clip, ClipStatus.done)
            clip.validation_score, clip.validation_metrics = report.score, _jsonable(report.metrics)
        bound.info("clip_done", score=round(report.score, 3))
        return Outcome(ClipStatus.done)
    reason = f"failed validation: {', '.join(report.failures)}"
    step = safer_step(claim.step, FailureKind.rejected)
    if step is None:
        return _fail(claim, f"{reason} (nothing safer is left)", None, None, report)
    with session_scope() as session:
        clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        lifecycle.move(clip, ClipStatus.rejected, reason)
        clip.validation_score, clip.validation_metrics = report.score, _jsonable(report.metrics)
        next_id = _insert_successor(session, claim, step, FailureKind.rejected, reason)
    bound.warning("clip_rejected", failures=list(report.failures), next_clip_id=next_id,
                  next_motion=step.motion.value, next_backend=step.backend.value)
    return Outcome(ClipStatus.rejected, next_id)


@retry_db
def _fail(claim: Claim, reason: str, step: RenderStep | None, kind: FailureKind | None,
          report: ValidationReport | None = None) -> Outcome:
    """Mark the row failed with its reason and, where a safer step exists, queue it."""
    with session_scope() as session:
        clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        lifecycle.move(clip, ClipStatus.failed, reason)
        if report is not None:
            clip.validation_score, clip.validation_metrics = report.score, _jsonable(report.metrics)
        next_id = _insert_successor(session, claim, step, kind, reason) if step and kind else None
    log.warning("clip_failed", job_id=str(claim.job_id), clip_id=claim.clip_id, reason=reason,
                next_clip_id=next_id)
    return Outcome(ClipStatus.failed, next_id)


def _insert_successor(session: Session, claim: Claim, step: RenderStep, kind: FailureKind, reason: str) -> int:
    """The next attempt's row (idempotent on the natural key), in the caller's transaction."""
    params = {k: v for k, v in claim.render_params.items() if k in ("pan_direction", "role", "natural_duration", "formats")}
    params.update({"backend": step.backend.value, "downgrade": {"from_clip_id": claim.clip_id,
                                                                 "kind": kind.value, "reason": reason}})
    if step.plain_2d:
        params["plain_2d"] = True
    params["model"] = MOTIONS[step.motion].ltx2.model
    current = session.get(Clip, claim.clip_id)
    assert current is not None
    values = {
        "job_id": claim.job_id, "room_cluster_id": current.room_cluster_id,
        "source_photo_ids": list(step.source_photo_ids), "motion_type": step.motion,
        "attempt": claim.attempt + 1, "confidence_tier": current.confidence_tier,
        "duration": current.duration,
        "fps": claim.fps, "width": claim.width, "height": claim.height, "seed": claim.seed,
        "render_params": params, "downgraded_from_id": claim.clip_id,
        "status": ClipStatus.pending,
    }
    session.execute(insert(Clip).values(**values).on_conflict_do_nothing(constraint="uq_clips_natural_key"))
    successor = session.exec(select(Clip).where(
        Clip.job_id == claim.job_id, Clip.room_cluster_id == current.room_cluster_id,
        Clip.motion_type == step.motion, Clip.source_photo_ids == list(step.source_photo_ids),
        Clip.attempt == claim.attempt + 1,
    )).one()
    if successor.downgraded_from_id != claim.clip_id:
        raise RuntimeError(f"clip {successor.id} already holds the key of clip {claim.clip_id}'s next attempt")
    return successor.id  # type: ignore[return-value]


def _mark_interrupted(claim: Claim, out_path: Path, store: ArtifactStore, bound: Any) -> None:
    """SIGTERM: keep any partial output, record the stop, flush the logs."""
    with session_scope() as session:
        clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        complete = clip.s3_uri is not None  # the whole clip was already stored before the stop
    partial_uri = None
    if out_path.exists() and not complete:
        try:
            frames = probe(out_path).frame_count
        except VideoError:
            frames = 0
        if frames:
            partial_uri = store.put_file(keys.clip(claim.job_id, claim.clip_id, partial=True), out_path, "video/mp4")
    with session_scope() as session:
        clip = session.get(Clip, claim.clip_id)
        assert clip is not None
        if clip.status in lifecycle.IN_WORK:
            lifecycle.move(clip, ClipStatus.interrupted,
                           "interrupted by SIGTERM" + (f"; partial output at {partial_uri}" if partial_uri else ""))
    bound.warning("clip_interrupted", partial_uri=partial_uri)
    flush_logs()


def _jsonable(value: Any) -> Any:
    """Metrics as plain JSON (numpy scalars and tuples made native)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value
