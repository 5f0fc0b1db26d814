"""One job, one runner: a PostgreSQL advisory lock held for as long as a run works on a job.

Two runs of the same job (a redelivered message, a double click, an edit arriving while the
video is still being made) would otherwise supersede each other's clips or race to write the
final video. The lock lives on its own connection, so it is released the moment the process
holding it dies, and the waiting run then reads the job's state afresh.

A database restart drops that connection, and the lock with it, while the run carries on. So
each phase's edge checks the lock (`ensure_held`): a run whose connection died takes the lock
again, or, if another run took the job meanwhile, stops without touching the job row.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from db.session import get_engine, is_disconnect, retry_db

log = structlog.get_logger(__name__)


class JobBusy(RuntimeError):
    """Another run held the job for longer than this one may wait."""


class JobLockLost(RuntimeError):
    """The database dropped this run's lock (a restart) and another run holds the job now."""


def _key(job_id: uuid.UUID) -> sa.TextClause:
    return sa.text("hashtextextended(:name, 0)").bindparams(name=f"picaivid-job:{job_id}")


def holder(conn: sa.Connection, job_id: uuid.UUID) -> str | None:
    """Who holds the job's lock, as its connection named itself (application_name)."""
    return conn.execute(sa.text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid() "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = (SELECT hashtextextended(:name, 0))"
    ), {"name": f"picaivid-job:{job_id}"}).scalar()


@dataclass
class _Hold:
    """The lock's connection, replaced when a database restart kills it."""

    job_id: uuid.UUID
    owner: str
    provisional: bool = False  # named before its Prefect run existed: the run names it
    conn: sa.Connection | None = None

    def try_lock(self) -> str | None:
        """Take the lock on a live connection: None when held now, else who holds it. Retries
        (db.session.retry_db) while the database is unreachable."""
        return retry_db(self._try_lock)()

    def _try_lock(self) -> str | None:
        try:
            if self.conn is None:
                self.conn = get_engine().connect()
                self._name()
            got = self.conn.execute(sa.select(sa.func.pg_try_advisory_lock(_key(self.job_id)))).scalar()
            other = None if got else holder(self.conn, self.job_id) or "another run"
            self.conn.commit()
            return other
        except sa.exc.DBAPIError as err:
            if is_disconnect(err):
                self.drop()
            raise

    def _name(self) -> None:
        assert self.conn is not None
        self.conn.execute(sa.text("SELECT set_config('application_name', :name, false)"), {"name": self.owner[:63]})

    def rename(self, owner: str) -> None:
        """The run that now works under a provisional hold names it (what a waiting run reports)."""
        self.owner, self.provisional = owner, False
        if self.alive():
            self._name()
            self.conn.commit()  # type: ignore[union-attr]

    def alive(self) -> bool:
        """The lock's connection still answers (so the server still holds the lock for it)."""
        if self.conn is None:
            return False
        try:
            self.conn.execute(sa.text("SELECT 1"))
            self.conn.commit()
            return True
        except sa.exc.DBAPIError as err:
            if not is_disconnect(err):
                raise
            self.drop()
            return False

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.invalidate()
            self.conn.close()
            self.conn = None

    def release(self) -> None:
        if self.conn is None:
            return
        try:
            self.conn.execute(sa.select(sa.func.pg_advisory_unlock(_key(self.job_id))))
            self.conn.commit()
            self.conn.close()
        except sa.exc.DBAPIError:  # the connection is gone, and the lock with it
            self.drop()
        self.conn = None


_held: ContextVar[dict[uuid.UUID, _Hold]] = ContextVar("job_locks_held")


@contextmanager
def job_lock(job_id: uuid.UUID, owner: str, wait_s: float, poll_s: float = 1.0,
             provisional: bool = False) -> Iterator[None]:
    """Hold the job for the block, waiting up to `wait_s` for another run to let go.

    Nested use in one run (create_video calling its phase flows) is a no-op, except that the
    first nested use renames a `provisional` hold: the CLI takes the lock before it starts the
    Prefect run (a busy job is then one line, not a failed run), and the run names itself.
    """
    if (held := _held.get({}).get(job_id)) is not None:
        if held.provisional:
            held.rename(owner)
        yield
        return
    hold = _Hold(job_id, owner, provisional)
    deadline = time.monotonic() + wait_s
    announced = False
    try:
        while (other := hold.try_lock()) is not None:
            if time.monotonic() >= deadline:
                raise JobBusy(f"job {job_id} is running in {other}; gave up waiting after {wait_s:g} s")
            if not announced:
                log.info("job.waiting_for_lock", job_id=str(job_id), held_by=other)
                announced = True
            time.sleep(poll_s)
    except BaseException:
        hold.release()
        raise
    token = _held.set({**_held.get({}), job_id: hold})
    try:
        yield
    finally:
        _held.reset(token)
        hold.release()


def ensure_held(job_id: uuid.UUID) -> None:
    """At a phase's edge: the lock is still ours, taken again if a database restart dropped
    it; JobLockLost if another run took the job meanwhile (this run must then stop)."""
    hold = _held.get({}).get(job_id)
    if hold is None or hold.alive():
        return
    if (other := hold.try_lock()) is not None:
        raise JobLockLost(f"job {job_id} is running in {other}: this run's lock went with a database restart")
    log.warning("job.lock_retaken", job_id=str(job_id), owner=hold.owner)
