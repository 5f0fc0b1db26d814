"""Connections to the system of record: any PostgreSQL from DATABASE_URL, else an embedded one.

The embedded server is the `pgserver` package's real PostgreSQL, kept under `<data_dir>/pgdata`,
so a laptop needs no database install and tests never fall back to SQLite.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import ParamSpec, TypeVar

import sqlalchemy as sa
import structlog
import tenacity
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.settings import DatabaseSettings

log = structlog.get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 whatever driver (or none) the URL names."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got {url.split(':', 1)[0]}://…")


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (query options kept)."""
    head, _, tail = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")


def database_name(url: str) -> str:
    """The database a URL names (what with_database replaces)."""
    return url.partition("?")[0].rsplit("/", 1)[1]


def start_embedded_postgres(pgdata: Path, *, keep_running: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL under `pgdata` and return its URL.

    `keep_running` leaves the server up after this process exits (the local stack's workers
    share it); otherwise the last process holding it stops it.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime folder on import, which warns on every
        # command where XDG_RUNTIME_DIR is unset (containers, CI); it never uses that folder.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata.resolve(), cleanup_mode=None if keep_running else "stop")
    return server.get_uri()


def database_url() -> str:
    """The configured DATABASE_URL, or the embedded server's, exported for child processes."""
    settings = DatabaseSettings()
    if settings.database_url:
        return settings.database_url
    url = start_embedded_postgres(settings.data_dir / "pgdata")
    os.environ["DATABASE_URL"] = url
    return url


@lru_cache(maxsize=4)
def engine_for(url: str) -> Engine:
    return sa.create_engine(sqlalchemy_url(url), pool_pre_ping=True, future=True)


def get_engine() -> Engine:
    return engine_for(database_url())


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_disconnect(err: BaseException) -> bool:
    """The database went away (restart, failover, a dropped connection), not a bad statement."""
    if isinstance(err, sa.exc.OperationalError):
        return True
    return isinstance(err, sa.exc.DBAPIError) and bool(err.connection_invalidated)


def retry_db(fn: Callable[P, R]) -> Callable[P, R]:
    """Retry a whole transaction while the database is unreachable, with exponential backoff
    (0.5 s doubling to 8 s) for up to `db_retry_s` seconds, then raise the last error.

    For the writes at a phase's edges (the job row, the job lock, a timeline's status): a
    database restart mid-run then costs a pause instead of the phase. `fn` must be one
    transaction (a failed try changed nothing), so running it again is safe. `pool_pre_ping`
    replaces the pool's dead connections on the next try.
    """

    def give_up_after(state: tenacity.RetryCallState) -> bool:
        return state.seconds_since_start >= DatabaseSettings().db_retry_s

    def note(state: tenacity.RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        first_line = next(iter(str(err).splitlines()), "")
        log.warning("db.unreachable_retrying", call=getattr(fn, "__qualname__", str(fn)), attempt=state.attempt_number,
                    wait_s=round(state.upcoming_sleep, 2), error=f"{type(err).__name__}: {first_line}")

    return tenacity.retry(retry=tenacity.retry_if_exception(is_disconnect), stop=give_up_after,
                          wait=tenacity.wait_exponential(multiplier=0.5, max=8), before_sleep=note, reraise=True)(fn)
