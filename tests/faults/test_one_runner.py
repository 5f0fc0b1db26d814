"""Two `picaivid run`s of one job at once, as a redelivered message or a double click starts
them: the second either waits for the first and then finds nothing left to do, or (told not
to wait) ends at once naming the run that has the job. Neither crashes on Prefect's local
database, and the job's rows are those of one run: one clip per planned clip, one timeline."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from db.enums import ClipStatus, JobStatus
from db.models import AnalysisResult, Clip, Photo, Timeline
from tests.faults.runs import Run, count, job_row, small_job, wait_for

pytestmark = pytest.mark.slow

NOISE = ("Traceback", "database is locked")


def test_a_second_run_of_a_job_waits_or_ends_at_once_naming_the_first(db: str, small_runs: None, fault_listing,
                                                                       tmp_path: Path) -> None:
    job_id = small_job(fault_listing, tmp_path / "photos")
    first = Run(job_id, tmp_path / "first.log")
    waiting = impatient = None
    try:
        wait_for("the first run to start the job", lambda: job_row(job_id).status is JobStatus.running, 180, first)
        waiting = Run(job_id, tmp_path / "waiting.log")
        impatient = Run(job_id, tmp_path / "impatient.log", {"PICAIVID_JOB_LOCK_WAIT_S": "0"})
        started = time.monotonic()
        assert impatient.wait(120) == 1, impatient.output()
        refused_after = time.monotonic() - started
        assert first.proc.poll() is None, "the first run was still working when the second gave up"
        assert first.wait(300) == 0, first.output()
        assert waiting.wait(300) == 0, waiting.output()
    finally:
        for run in (first, waiting, impatient):
            if run is not None:
                run.kill()

    refusal = impatient.output()
    assert re.search(rf"error: job {job_id} is running in create-video run [0-9a-f-]{{36}}; gave up waiting "
                     r"after 0 s", refusal), refusal
    print(f"the impatient run ended {refused_after:.1f} s after it started (a Python start included)")
    assert '"held_by": "create-video run' in waiting.output() and '"phases": []' in waiting.output(), waiting.output()
    for run in (first, waiting, impatient):
        assert not [word for word in NOISE if word in run.output()], run.output()

    job = job_row(job_id)
    assert job.status is JobStatus.completed and job.final_video_uri
    assert count(Timeline, job_id) == 1
    assert count(AnalysisResult, job_id) == count(Photo, job_id) == 3
    assert count(Clip, job_id) == count(Clip, job_id, Clip.status == ClipStatus.done)  # none superseded by a twin
