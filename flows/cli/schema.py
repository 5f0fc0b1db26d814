"""The schema check every `picaivid` command that reads or writes jobs runs before its work."""

from __future__ import annotations

from flows.cli.output import fail


def ensure_schema() -> None:
    """The embedded database is created and migrated on first use; a given one must already be
    migrated, else one line says which database, its revision and the command to run."""
    from db.migrate import schema_problem, upgrade
    from db.session import database_url
    from tasks.settings import get_settings

    embedded = get_settings().database_url is None
    url = database_url()
    if embedded:
        upgrade(url)
    problem = schema_problem(url)
    if problem:
        fail(problem)
