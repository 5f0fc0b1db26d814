"""Programmatic alembic, so `picaivid db upgrade` and the tests need no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None  # the migrations folder ships with the code
    return head


def schema_problem(url: str) -> str | None:
    """One line saying the database is not at this code's schema (which one, where it is, what
    to run), or None when it is. Read before any work, so nothing fails halfway on a missing table."""
    import sqlalchemy as sa

    current, head = current_revision(url), head_revision()
    if current == head:
        return None
    where = sa.engine.make_url(url).render_as_string(hide_password=True)
    at = f"at revision {current}" if current else "not migrated (no schema revision)"
    return (f"database {where} is {at}; this picaivid needs revision {head}: "
            "run `picaivid db upgrade` (DATABASE_URL set to that database)")


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from db.session import engine_for

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
