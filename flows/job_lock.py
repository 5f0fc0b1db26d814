"""One job, one runner: a PostgreSQL advisory lock held for as long as a run works on a job.

Two runs of the same job (a redelivered message, a double click, an edit arriving while the
video is still being made) would otherwise supersede each other's clips or race to write the
final video. The lock lives on its own connection, so it is released the moment the process
holding it dies, and the waiting run then reads the job's state afresh.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa
import structlog

from db.session import get_engine

log = structlog.get_logger(__name__)

_held: ContextVar[frozenset[uuid.UUID]] = ContextVar("job_locks_held", default=frozenset())


class JobBusy(RuntimeError):
    """Another run held the job for longer than this one may wait."""


def _key(job_id: uuid.UUID) -> sa.TextClause:
    return sa.text("hashtextextended(:name, 0)").bindparams(name=f"picaivid-job:{job_id}")


def holder(conn: sa.Connection, job_id: uuid.UUID) -> str | None:
    """Who holds the job's lock, as its connection named itself (application_name)."""
    return conn.execute(sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = (SELECT hashtextextended(:name, 0))"
    ), {"name": f"picaivid-job:{job_id}"}).scalar()


@contextmanager
def job_lock(job_id: uuid.UUID, owner: str, wait_s: float, poll_s: float = 1.0) -> Iterator[None]:
    """Hold the job for the block, waiting up to `wait_s` for another run to let go.

    Nested use in one run (create_video calling its phase flows) is a no-op.
    """
    if job_id in _held.get():
        yield
        return
    engine = get_engine()
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT set_config('application_name', :name, false)"), {"name": owner[:63]})
        conn.commit()
        deadline = time.monotonic() + wait_s
        announced = False
        while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_key(job_id)))).scalar():
            other = holder(conn, job_id) or "another run"
            conn.commit()
            if time.monotonic() >= deadline:
                raise JobBusy(f"job {job_id} is running in {other}; gave up waiting after {wait_s:g} s")
            if not announced:
                log.info("job.waiting_for_lock", job_id=str(job_id), held_by=other)
                announced = True
            time.sleep(poll_s)
        conn.commit()
        token = _held.set(_held.get() | {job_id})
        try:
            yield
        finally:
            _held.reset(token)
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_key(job_id))))
                conn.commit()
            except sa.exc.DBAPIError:  # the connection is gone, and the lock with it
                pass
