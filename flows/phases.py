"""The four phase subflows. Each reads its inputs from Postgres and writes its outputs there,
so each can run alone (a Prefect deployment per phase) or inside `create_video`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from db.enums import Phase
from flows.dispatch import FINAL_CLIP_STATES, clip_state, dispatch_clip
from flows.job_lock import job_lock
from flows.progress import notify
from flows.state import JobCancelled, load_job, mark_failed, mark_finished, mark_phase_started
from tasks.settings import get_settings
from tasks.usage import Usage, cores

log = structlog.get_logger(__name__)

_in_create_video: ContextVar[bool] = ContextVar("in_create_video", default=False)


@contextmanager
def phases_of_one_run() -> Iterator[None]:
    """create_video runs its phases inside this: it, not each phase, says where the job ends."""
    token = _in_create_video.set(True)
    try:
        yield
    finally:
        _in_create_video.reset(token)


def run_owner(kind: str) -> str:
    """How this run names itself on the job lock (what a waiting run reports)."""
    from prefect.runtime import flow_run

    return f"{kind} run {flow_run.id}" if flow_run.id else f"{kind} (local, pid {os.getpid()})"


def run_phase(job_id: str, phase: Phase, work: Callable[[uuid.UUID], Any]) -> Any:
    """Move the job into `phase`, do the work, and on failure record it on the job.

    Earlier phases' rows and artifacts are never touched here: each phase replaces only its
    own outputs, and only once it has succeeded. A phase run alone (its own deployment)
    leaves the job stopped after it (completed after assembly), so a later create_video
    resumes from the next phase.
    """
    job = load_job(job_id)
    with job_lock(job.id, run_owner(phase.value), get_settings().job_lock_wait_s):
        bound = log.bind(job_id=str(job.id), phase=phase.value)
        mark_phase_started(job.id, phase)
        started = Usage.now()
        bound.info("phase.started")
        notify(phase.value, "started")
        try:
            result = work(job.id)
        except JobCancelled:
            bound.info("phase.cancelled")
            notify(phase.value, "cancelled")
            raise
        except BaseException as err:
            message = f"{phase.value} failed: {type(err).__name__}: {err}"
            mark_failed(job.id, phase, message)
            bound.error("phase.failed", error=message)
            notify(phase.value, "failed")
            raise
        bound.info("phase.finished", result=result, **started.since())
        if not _in_create_video.get():
            mark_finished(job.id, phase)
        notify(phase.value, "finished")
        return result


@flow(name="analyze", log_prints=True)
def analyze(job_id: str) -> Any:
    """Phase 1: quality, rooms, depth, overlap, overrides and the motion plan (CPU)."""
    from tasks.analyze.phase import run_analyze

    return run_phase(job_id, Phase.analyze, run_analyze)


def _render_all(job_id: uuid.UUID) -> dict:
    from tasks.render.phase import plan_clips

    clip_ids = plan_clips(job_id)
    todo = [c for c in clip_ids if clip_state(c)["status"] not in FINAL_CLIP_STATES]
    settings = get_settings()
    dispatch = dispatch_clip.with_options(
        retries=settings.render_dispatch_retries, retry_delay_seconds=settings.render_dispatch_retry_delays
    )
    states = [f.result() for f in dispatch.map(todo)] if todo else []
    done = sum(s["status"] == "done" for s in states) + len(clip_ids) - len(todo)
    if clip_ids and done == 0:
        raise RuntimeError(f"no clip of job {job_id} could be rendered: " + "; ".join(
            f"clip {s['clip_id']}: {s['error']}" for s in states))
    return {"planned": len(clip_ids), "rendered_now": len(todo), "done": done}


def _render_slots() -> int:
    """Deployment dispatch waits on remote GPU runs, so several at once; inline renders share
    this process's cores: one clip per core, in threads (OpenCV's warp, libx264 and the
    validator's numpy and OpenCV work all release the GIL, so the clips really run in parallel)."""
    settings = get_settings()
    if settings.render_dispatch == "deployment":
        return settings.gpu_render_concurrency
    return settings.inline_render_concurrency or cores()


@flow(name="render", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=_render_slots()))
def render(job_id: str) -> Any:
    """Phase 2: one idempotent unit per clip; Postgres says which clips are already done."""
    return run_phase(job_id, Phase.render, _render_all)


@flow(name="timeline", log_prints=True)
def timeline(job_id: str) -> Any:
    """Phase 3: beat grid, template, ordered shots with trims and transitions (data only)."""
    from tasks.timeline.phase import run_timeline

    return run_phase(job_id, Phase.timeline, run_timeline)


@flow(name="assemble", log_prints=True)
def assemble(job_id: str, timeline_version: int | None = None, fmt: str | None = None, preview: bool = False) -> Any:
    """Phase 4: ffmpeg renders a timeline version (default: the newest); nothing else is read.

    `fmt` picks another aspect (16x9, 9x16, 1x1). A preview (540p) leaves the job's state and
    final video alone, so it is not a phase run.
    """
    from tasks.assemble.phase import run_assemble

    if preview:
        return run_assemble(load_job(job_id).id, timeline_version, fmt, preview=True)
    return run_phase(job_id, Phase.assemble, lambda jid: run_assemble(jid, timeline_version, fmt))


PHASE_FLOWS = {Phase.analyze: analyze, Phase.render: render, Phase.timeline: timeline, Phase.assemble: assemble}
