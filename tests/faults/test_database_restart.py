"""PostgreSQL stops, cutting every connection, while a job is in analyze, in render with a clip
being written, and in assembly while ffmpeg encodes; it comes back 8 s later.

8 s, not production's ~30 s (PICAIVID_FAULT_OUTAGE_S=30 runs that): what the code does is
the same, because every wait on the database is a retry loop with backoff inside a budget
that 30 s also fits (db.session.retry_db at the phase edges and a clip's state changes backs
off 0.5, 1, 2, 4, 8, 8… s for up to db_retry_s, 60 s), and 8 s already takes each loop round
several times. Where an outage hits a step with a smaller budget (an I/O stage's Prefect
retries, 2+4+8 s), the phase fails cleanly instead, its failure on the job row once the
database is back, and the next `run` resumes it: the test accepts either ending of each
outage, and then requires the same of both. The job completes; no row is
doubled; the clip files in the store are exactly the done clips' files; the earlier phases'
rows are as they were.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlmodel import select

from db.enums import ClipStatus, JobStatus, Phase
from db.models import AnalysisResult, Clip, Photo, RoomCluster, Timeline
from db.session import session_scope
from tasks.storage import get_store, keys
from tests.faults.runs import Run, count, job_row, small_job, wait_for
from tests.faults.test_killed_runs import assembly_writing

pytestmark = pytest.mark.slow

OUTAGE_S = float(os.environ.get("PICAIVID_FAULT_OUTAGE_S", "8"))  # 30 for production's figure


def clip_rendering(job_id: uuid.UUID) -> bool:
    with session_scope() as s:
        return s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.status == ClipStatus.rendering)).first() is not None


def phase_working(job_id: uuid.UUID, phase: Phase) -> bool:
    job = job_row(job_id)
    return job.status is JobStatus.running and job.current_phase is phase


def rows(job_id: uuid.UUID) -> dict:
    with session_scope() as s:
        return {
            "photos": sorted((p.id, p.s3_uri) for p in s.exec(select(Photo).where(Photo.job_id == job_id))),
            "analysis": sorted((a.id, a.room_cluster_id, a.hero_photo_id) for a in
                               s.exec(select(AnalysisResult).where(AnalysisResult.job_id == job_id))),
            "rooms": sorted((r.id, r.room_type) for r in s.exec(select(RoomCluster).where(RoomCluster.job_id == job_id))),
        }


def clip_files(job_id: uuid.UUID) -> set[str]:
    """The clip objects in the file store (partial outputs of interrupted renders aside)."""
    root = Path(urlparse(get_store().uri_for(keys.clip(job_id, 0))).path).parent
    return {p.as_uri() for p in root.glob("*.mp4") if not p.name.endswith(".partial.mp4")}


def test_a_job_survives_database_restarts_in_analyze_render_and_assembly(
        private_db: str, private_postgres, small_runs: None, env: Path, fault_listing, tmp_path: Path) -> None:
    job_id = small_job(fault_listing, tmp_path / "photos")
    logs = iter(tmp_path / f"run-{i}.log" for i in range(10))
    run = Run(job_id, next(logs))
    endings: dict[str, str] = {}
    intake = rows(job_id)["photos"]
    analysed: dict | None = None
    try:
        for phase, working in ((Phase.analyze, lambda: phase_working(job_id, Phase.analyze)),
                               (Phase.render, lambda: clip_rendering(job_id)),
                               (Phase.assemble, lambda: assembly_writing(env))):
            if run.proc.poll() is not None:  # the last outage failed its phase: resume
                run = Run(job_id, next(logs))
            wait_for(f"{phase.value} at work", working, 240, run, poll_s=0.02)
            if phase is Phase.render:
                analysed = rows(job_id)
            restart = private_postgres.outage(OUTAGE_S)
            restart.join()
            endings[phase.value] = settle(run, job_id, phase)
        if run.proc.poll() is None or run.proc.returncode != 0:
            run.wait(300)
            if run.proc.returncode != 0:
                run = Run(job_id, next(logs))
                assert run.wait(300) == 0, run.output()
    finally:
        run.kill()
    print(f"each outage's ending: {endings}")

    job = job_row(job_id)
    assert job.status is JobStatus.completed and job.final_video_uri, job.error
    assert get_store().exists(job.final_video_uri)
    after = rows(job_id)
    assert after["photos"] == intake and len(after["analysis"]) == 3
    assert after == analysed  # analysis written once, untouched by the later phases and outages
    with session_scope() as s:
        clips = s.exec(select(Clip).where(Clip.job_id == job_id)).all()
    live = [c for c in clips if c.status is not ClipStatus.superseded]
    assert all(c.status is ClipStatus.done for c in live), [(c.id, c.status, c.error) for c in live]
    assert len({(tuple(c.source_photo_ids), c.motion_type) for c in live}) == len(live)  # no twin clips
    renders = {c.s3_uri for c in live} | {uri for c in live for uri in (c.format_uris or {}).values()}
    assert clip_files(job_id) == renders  # no orphaned file promoted (each clip and its other formats)
    assert count(Timeline, job_id) == 1


def settle(run: Run, job_id: uuid.UUID, phase: Phase) -> str:
    """How the run came through the outage: carried on past `phase`, or failed it cleanly (the
    failure recorded on the job row, the process ended with a one-line error)."""
    def moved_on_or_ended() -> bool:
        job = job_row(job_id)
        return run.proc.poll() is not None or job.current_phase is not phase or job.status is not JobStatus.running

    wait_for(f"the run to come through the outage in {phase.value}", moved_on_or_ended, 120, poll_s=0.2)
    job = job_row(job_id)
    if job.status is JobStatus.failed:
        run.wait(120)  # it is on its way out
    if run.proc.poll() is None or run.proc.returncode == 0:
        return "carried on"
    assert run.proc.returncode == 1 and job.status is JobStatus.failed, run.output()[-3000:]
    assert job.current_phase is phase and job.error.startswith(f"{phase.value} failed"), job.error
    assert f"error: job {job_id} failed: {phase.value} failed" in run.output()
    return f"failed cleanly: {job.error.splitlines()[0][:160]}"
