"""Alembic environment: migrates the URL it is given, or the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool
from sqlalchemy import create_engine

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.session import database_url, sqlalchemy_url
from sqlmodel import SQLModel

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or database_url()
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
