"""A run killed with SIGKILL (the OOM killer, a lost machine: no handler runs, ffmpeg dies with
it) in the middle of analyze, timeline and assembly. Postgres must still say where the job
was, so the next `run` resumes there and finishes; nothing half-made is left as the job's
result; and the final video is replaced only by a complete new one: the previous version's
file and the job's pointer to it stay as they were until the new one is wholly written."""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from db.enums import ClipStatus, JobStatus, Phase, TimelineStatus
from db.models import AnalysisResult, Clip, Photo, RoomCluster, Timeline
from db.session import session_scope
from flows.state import resume_phase
from tasks.media.video import probe
from tasks.storage import get_store
from tests.faults.runs import Run, count, job_row, small_job, wait_for

pytestmark = pytest.mark.slow


def in_phase(job_id: uuid.UUID, phase: Phase) -> bool:
    job = job_row(job_id)
    return job.status is JobStatus.running and job.current_phase is phase


def kill_in(run: Run, job_id: uuid.UUID, phase: Phase, at_work: float = 0.5) -> None:
    """SIGKILL the run's whole process group `at_work` seconds into `phase` (as Postgres shows it)."""
    wait_for(f"{phase.value} to start", lambda: in_phase(job_id, phase), 180, run)
    time.sleep(at_work)
    run.kill()
    assert run.proc.returncode == -9
    assert in_phase(job_id, phase), f"{phase.value} ended before the kill:\n{run.output()[-3000:]}"
    job = job_row(job_id)
    assert resume_phase(job.status, job.current_phase) is phase  # the next run starts there


def sha256(uri: str) -> str:
    return hashlib.sha256(get_store().get_bytes(uri)).hexdigest()


def assembly_writing(data_dir: Path, fmt: str = "1x1") -> bool:
    """ffmpeg has begun writing the format's cut in the assembly's scratch folder (the
    fetched clips lie beside it, under clips/)."""
    return any(p.stat().st_size > 0 for p in data_dir.glob(f"assemble-*/{fmt}/**/*.mp4"))


def test_runs_killed_mid_phase_resume_and_the_final_video_is_only_replaced_whole(
        db: str, small_runs: None, env: Path, fault_listing, tmp_path: Path) -> None:
    job_id = small_job(fault_listing, tmp_path / "photos")
    logs = iter(tmp_path / f"run-{i}.log" for i in range(10))

    # analyze: killed before its one saving transaction; the intake rows are all there is
    kill_in(Run(job_id, next(logs)), job_id, Phase.analyze)
    assert count(Photo, job_id) == 3 and count(AnalysisResult, job_id) == count(RoomCluster, job_id) == 0

    done = Run(job_id, next(logs))
    assert done.wait(300) == 0, done.output()
    first = job_row(job_id)
    assert first.status is JobStatus.completed
    first_hash, first_facts = sha256(first.final_video_uri), first.final_video_facts
    analysis = (count(AnalysisResult, job_id), count(RoomCluster, job_id))
    with session_scope() as s:
        clips = sorted((c.id, c.status, c.s3_uri) for c in s.exec(select(Clip).where(Clip.job_id == job_id)))
    assert analysis == (3, 3) and all(status is ClipStatus.done for _, status, _ in clips)

    # timeline (a new version, as an edit asks for): killed before its version is saved
    kill_in(Run(job_id, next(logs), args=["--start-phase", "timeline"]), job_id, Phase.timeline, at_work=0.3)
    assert count(Timeline, job_id) == 1

    # assembly of that new version: killed while ffmpeg writes it
    run = Run(job_id, next(logs))
    wait_for("the new version's assembly to write", lambda: assembly_writing(env), 240, run, poll_s=0.02)
    kill_in(run, job_id, Phase.assemble, at_work=0)
    killed = job_row(job_id)
    assert killed.final_video_uri == first.final_video_uri and sha256(first.final_video_uri) == first_hash
    assert killed.final_video_facts == first_facts
    with session_scope() as s:
        newest = s.exec(select(Timeline).where(Timeline.job_id == job_id).order_by(Timeline.version.desc())).first()
        assert newest.version == 2 and newest.status is not TimelineStatus.rendered
    assert not get_store().exists(first.final_video_uri.replace("/v1-", "/v2-"))  # nothing of v2 promoted

    again = Run(job_id, next(logs))
    assert again.wait(300) == 0, again.output()
    final = job_row(job_id)
    assert final.status is JobStatus.completed and final.final_video_facts["timeline_version"] == 2
    assert final.final_video_uri == first.final_video_uri.replace("/v1-", "/v2-")
    video = tmp_path / "v2.mp4"
    get_store().get_file(final.final_video_uri, video)
    assert abs(probe(video).duration - 6.0) < 0.1  # a whole video
    assert sha256(first.final_video_uri) == first_hash  # the previous version is kept as it was
    with session_scope() as s:
        assert sorted((c.id, c.status, c.s3_uri) for c in s.exec(select(Clip).where(Clip.job_id == job_id))) == clips
        assert [t.status for t in s.exec(select(Timeline).where(Timeline.job_id == job_id).order_by(Timeline.version))] \
            == [TimelineStatus.rendered, TimelineStatus.rendered]
    assert (count(AnalysisResult, job_id), count(RoomCluster, job_id)) == analysis
