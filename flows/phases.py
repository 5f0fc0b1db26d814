"""The four phase subflows. Each reads its inputs from Postgres and writes its outputs there,
so each can run alone (a Prefect deployment per phase) or inside `create_video`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import structlog
from prefect import flow, task

from db.enums import Phase
from flows.progress import notify
from flows.state import load_job, mark_failed, mark_phase_started

log = structlog.get_logger(__name__)


def run_phase(job_id: str, phase: Phase, work: Callable[[uuid.UUID], Any]) -> Any:
    """Move the job into `phase`, do the work, and on failure record it on the job.

    Earlier phases' rows and artifacts are never touched here: each phase replaces only its
    own outputs, and only once it has succeeded.
    """
    job = load_job(job_id)
    bound = log.bind(job_id=str(job.id), phase=phase.value)
    mark_phase_started(job.id, phase)
    bound.info("phase.started")
    notify(phase.value, "started")
    try:
        result = work(job.id)
    except BaseException as err:
        message = f"{phase.value} failed: {type(err).__name__}: {err}"
        mark_failed(job.id, phase, message)
        bound.error("phase.failed", error=message)
        notify(phase.value, "failed")
        raise
    bound.info("phase.finished", result=result)
    notify(phase.value, "finished")
    return result


@flow(name="analyze", log_prints=True)
def analyze(job_id: str) -> Any:
    """Phase 1: quality, rooms, depth, overlap, overrides and the motion plan (CPU)."""
    from tasks.analyze.phase import run_analyze

    return run_phase(job_id, Phase.analyze, run_analyze)


@task(name="render-clip-local", retries=2, retry_delay_seconds=[5, 30])
def render_clip_local(clip_id: int) -> dict:
    """One clip, in this process (the local stand-in for the GPU pool's render-clip flow)."""
    from tasks.render.phase import render_clip

    return render_clip(clip_id)


def _render_all(job_id: uuid.UUID) -> dict:
    from tasks.render.phase import pending_clip_ids, plan_clips

    plan_clips(job_id)
    clip_ids = pending_clip_ids(job_id)
    results = [f.result() for f in render_clip_local.map(clip_ids)] if clip_ids else []
    return {"clips": len(clip_ids), "results": results}


@flow(name="render", log_prints=True)
def render(job_id: str) -> Any:
    """Phase 2: one idempotent unit per clip; Postgres says which clips are already done."""
    return run_phase(job_id, Phase.render, _render_all)


@flow(name="timeline", log_prints=True)
def timeline(job_id: str) -> Any:
    """Phase 3: beat grid, template, ordered shots with trims and transitions (data only)."""
    from tasks.timeline.phase import run_timeline

    return run_phase(job_id, Phase.timeline, run_timeline)


@flow(name="assemble", log_prints=True)
def assemble(job_id: str) -> Any:
    """Phase 4: ffmpeg renders the newest timeline version; nothing else is read."""
    from tasks.assemble.phase import run_assemble

    return run_phase(job_id, Phase.assemble, run_assemble)


PHASE_FLOWS = {Phase.analyze: analyze, Phase.render: render, Phase.timeline: timeline, Phase.assemble: assemble}
