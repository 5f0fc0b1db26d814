"""A phase run alone leaves the job stopped after it; inside create_video, the run decides."""

from __future__ import annotations

import pytest
from prefect import flow

from db.enums import JobStatus, Phase
from db.models import Job
from db.session import session_scope
from flows.phases import phases_of_one_run, run_phase
from flows.state import load_job


@flow
def timeline_like(job_id: str) -> str:
    """A phase flow whose work reports the job's status while it runs."""
    return run_phase(job_id, Phase.timeline, lambda jid: load_job(jid).status.value)


@flow
def parent_run(job_id: str) -> str:
    with phases_of_one_run():
        timeline_like(job_id)
    return load_job(job_id).status.value


@pytest.fixture
def job_id(db: str) -> str:
    with session_scope() as s:
        job = Job()
        s.add(job)
        s.flush()
        return str(job.id)


def test_phase_alone_stops_the_job_after_it(prefect_api: None, job_id: str) -> None:
    assert timeline_like(job_id) == "running"
    job = load_job(job_id)
    assert (job.status, job.current_phase) == (JobStatus.stopped, Phase.timeline)


def test_phase_inside_a_run_leaves_the_status_to_the_run(prefect_api: None, job_id: str) -> None:
    assert parent_run(job_id) == "running"


def test_a_phase_logs_its_wall_and_cpu_seconds(job_id: str) -> None:
    """What bench/bench_pipeline.py reads: CPU seconds include the children the phase waited for."""
    import subprocess
    import sys
    import time

    import structlog

    def work(jid: object) -> str:
        busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
        subprocess.run([sys.executable, "-c", busy], check=True)
        time.sleep(0.3)
        return "done"

    with structlog.testing.capture_logs() as logs:
        run_phase(job_id, Phase.timeline, work)
    finished = next(e for e in logs if e["event"] == "phase.finished")
    assert finished["cpu_s"] >= 0.28
    assert finished["wall_s"] >= finished["cpu_s"] + 0.25
