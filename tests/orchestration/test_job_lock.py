"""One job, one runner: the advisory lock on real PostgreSQL, across threads as across processes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from db.models import Job
from db.session import session_scope
from flows.job_lock import JobBusy, job_lock


def _job() -> uuid.UUID:
    with session_scope() as s:
        job = Job()
        s.add(job)
    return job.id


def test_a_second_runner_waits_names_the_holder_and_gets_the_job_once_it_is_free(db: str) -> None:
    job_id = _job()
    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with job_lock(job_id, "create-video run 1111", wait_s=5):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(10)
    with pytest.raises(JobBusy, match=f"job {job_id} is running in create-video run 1111; gave up waiting after 0.5 s"):
        with job_lock(job_id, "create-video run 2222", wait_s=0.5, poll_s=0.1):
            pass
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with job_lock(job_id, "create-video run 2222", wait_s=10, poll_s=0.1):
        waited = time.monotonic() - started
    thread.join()
    assert 0.3 < waited < 5


def test_other_jobs_and_nested_use_do_not_wait(db: str) -> None:
    a, b = _job(), _job()
    with job_lock(a, "run a", wait_s=0):
        with job_lock(b, "run b", wait_s=0):  # another job: free
            pass
        with job_lock(a, "run a, a phase inside it", wait_s=0):  # the same run: no self-deadlock
            pass
