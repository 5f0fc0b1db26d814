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
from flows.artifacts import publish_analysis, publish_clips, publish_timeline, publish_video
from flows.dispatch import clip_state, dispatch_clip
from flows.job_lock import JobLockLost, ensure_held, job_lock
from flows.logs import send_logs_to_prefect
from flows.naming import name_from_parameters, tagged_as
from flows.parameters import JobId, TimelineVersion
from flows.progress import notify
from flows.state import JobCancelled, load_job, mark_failed, mark_finished, mark_phase_started
from tasks.domain.clip_lifecycle import CHAIN_ENDED
from tasks.domain.formats import FormatName
from tasks.settings import get_settings
from tasks.stages import stage
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


def run_phase(job_id: uuid.UUID, phase: Phase, work: Callable[[uuid.UUID], Any],
              publish: Callable[[uuid.UUID, Any], None] | None = None) -> Any:
    """Move the job into `phase`, do the work, show it (`publish` its artifacts), and on
    failure record it on the job.

    Earlier phases' rows and artifacts are never touched here: each phase replaces only its
    own outputs, and only once it has succeeded. A phase run alone (its own deployment)
    leaves the job stopped after it (completed after assembly), so a later create_video
    resumes from the next phase. The job row's writes retry while the database restarts
    (flows.state), and the job lock is checked at both edges (flows.job_lock.ensure_held).
    """
    send_logs_to_prefect()
    job = load_job(job_id)
    bound = log.bind(job_id=str(job.id), phase=phase.value)
    with tagged_as(job), job_lock(job.id, run_owner(phase.value), get_settings().job_lock_wait_s):
        ensure_held(job.id)
        mark_phase_started(job.id, phase)
        started = Usage.now()
        bound.info("phase.started")
        notify(phase.value, "started")
        try:
            result = work(job.id)
            ensure_held(job.id)
        except JobCancelled:
            bound.info("phase.cancelled")
            notify(phase.value, "cancelled")
            raise
        except JobLockLost as err:  # the job row is the other run's now
            bound.error("phase.lock_lost", error=str(err))
            raise
        except BaseException as err:
            message = f"{phase.value} failed: {type(err).__name__}: {err}"
            mark_failed(job.id, phase, message)
            bound.error("phase.failed", error=message)
            notify(phase.value, "failed")
            raise
        if publish is not None:
            show(publish, job.id, result)
        bound.info("phase.finished", result=result, **started.since())
        if not _in_create_video.get():
            mark_finished(job.id, phase)
        notify(phase.value, "finished")
        return result


def show(publish: Callable[..., None], *args: Any) -> None:
    """Artifacts are a view of Postgres: one that cannot be made is logged, the work stands."""
    try:
        publish(*args)
    except Exception as err:
        log.warning("artifact.failed", artifact=publish.__name__, error=f"{type(err).__name__}: {err}")


@flow(name="analyze", flow_run_name=name_from_parameters)
def analyze(job_id: JobId) -> Any:
    """Phase 1: quality, rooms, depth, overlap, overrides and the motion plan (CPU)."""
    from tasks.analyze.phase import run_analyze

    return run_phase(job_id, Phase.analyze, run_analyze, lambda jid, _: publish_analysis(jid))


class ClipsFailed(RuntimeError):
    """Some clips of the plan could not be rendered; the message names each and why."""


def _render_all(job_id: uuid.UUID) -> dict:
    """Dispatch every unfinished clip; any clip left unfinished fails the phase, naming it."""
    from tasks.render.phase import plan_clips

    clip_ids = stage("plan clips", io=True)(plan_clips)(job_id)
    todo = [c for c in clip_ids if clip_state(c)["status"] not in CHAIN_ENDED]
    settings = get_settings()
    dispatch = dispatch_clip.with_options(
        task_run_name="render clip {clip_id}",
        retries=settings.render_dispatch_retries, retry_delay_seconds=settings.render_dispatch_retry_delays,
    )
    try:
        outcomes = [f.result(raise_on_failure=False) for f in dispatch.map(todo)] if todo else []
    finally:
        show(publish_clips, job_id)
    problems = [f"clip {clip_id}: {_clip_problem(outcome)}" for clip_id, outcome in zip(todo, outcomes)
                if not isinstance(outcome, dict) or outcome["status"] != "done"]
    problems += [f"clip {c}: {state['error']}" for c in clip_ids if c not in todo
                 and (state := clip_state(c))["status"] != "done"]
    if problems:
        raise ClipsFailed(f"{len(problems)} of {len(clip_ids)} clips not rendered: " + "; ".join(problems))
    return {"planned": len(clip_ids), "rendered_now": len(todo), "done": len(clip_ids)}


def _clip_problem(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {outcome}"
    return f"{outcome['status']}: {outcome['error']}"  # type: ignore[index]


def _render_slots() -> int:
    """Deployment dispatch waits on remote GPU runs, so several at once; inline renders share
    this process's cores: one clip per core, in threads (OpenCV's warp, libx264 and the
    validator's numpy and OpenCV work all release the GIL, so the clips really run in parallel)."""
    settings = get_settings()
    if settings.render_dispatch == "deployment":
        return settings.gpu_render_concurrency
    return settings.inline_render_concurrency or cores()


class RenderSlots(ThreadPoolTaskRunner):
    """The render flow's thread pool, sized by `_render_slots` when a run starts (Prefect enters
    a duplicate of the flow's runner for each run), so the settings are read then, not at import."""

    def duplicate(self) -> ThreadPoolTaskRunner:
        return ThreadPoolTaskRunner(max_workers=_render_slots())


@flow(name="render", flow_run_name=name_from_parameters, task_runner=RenderSlots())
def render(job_id: JobId) -> Any:
    """Phase 2: one idempotent unit per clip; Postgres says which clips are already done."""
    return run_phase(job_id, Phase.render, _render_all)


@flow(name="timeline", flow_run_name=name_from_parameters)
def timeline(job_id: JobId) -> Any:
    """Phase 3: beat grid, template, ordered shots with trims and transitions (data only)."""
    from tasks.timeline.phase import run_timeline

    return run_phase(job_id, Phase.timeline, run_timeline, lambda jid, result: publish_timeline(jid, result["version"]))


@flow(name="assemble", flow_run_name=name_from_parameters)
def assemble(job_id: JobId, timeline_version: TimelineVersion | None = None, fmt: FormatName | None = None,
             preview: bool = False) -> Any:
    """Phase 4: ffmpeg renders a timeline version (default: the newest); nothing else is read.

    A preview leaves the job's state and final video alone, so it is not a phase run.

    Args:
        job_id: The job's id (jobs.id).
        timeline_version: Which version to render; empty: the newest.
        fmt: The output aspect; empty: the one the timeline's template chose.
        preview: A quick 540p render beside the finals, for review.
    """
    from tasks.assemble.phase import run_assemble

    if not preview:
        return run_phase(job_id, Phase.assemble, lambda jid: run_assemble(jid, timeline_version, fmt), publish_video)
    send_logs_to_prefect()
    job = load_job(job_id)
    with tagged_as(job):
        result = run_assemble(job.id, timeline_version, fmt, preview=True)
        show(publish_video, job.id, result)
        return result


PHASE_FLOWS = {Phase.analyze: analyze, Phase.render: render, Phase.timeline: timeline, Phase.assemble: assemble}
