"""The job lock across a database restart: the restart drops the lock with its connection, so
the run takes it again at its next phase edge, or stops if another run has the job by then."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from db.models import Job
from db.session import get_engine, session_scope
from flows.job_lock import JobLockLost, ensure_held, holder, job_lock

pytestmark = pytest.mark.slow


def _job() -> uuid.UUID:
    with session_scope() as s:
        job = Job()
        s.add(job)
    return job.id


def _holder(job_id: uuid.UUID) -> str | None:
    with get_engine().connect() as conn:
        return holder(conn, job_id)


def test_a_run_takes_its_lock_again_after_a_restart_or_stops_if_another_run_took_it(
        private_db: str, private_postgres) -> None:
    job_id = _job()
    with job_lock(job_id, "create-video run 1111", wait_s=0):
        private_postgres.outage(2).join()
        assert _holder(job_id) is None  # the restart released it
        ensure_held(job_id)
        assert _holder(job_id) == "create-video run 1111"
        ensure_held(job_id)  # a live lock: nothing to do

        private_postgres.outage(2).join()
        with get_engine().connect() as other:  # a waiting run gets the job first
            other.execute(sa.text("SELECT set_config('application_name', 'create-video run 2222', false)"))
            assert other.execute(sa.text("SELECT pg_try_advisory_lock(hashtextextended(:n, 0))"),
                                 {"n": f"picaivid-job:{job_id}"}).scalar()
            with pytest.raises(JobLockLost, match=f"job {job_id} is running in create-video run 2222"):
                ensure_held(job_id)
