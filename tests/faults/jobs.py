"""Jobs for the fault tests: made and read the way a person and Rails see them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from typer.testing import CliRunner

from db.models import Job
from db.session import session_scope


def create_job(photos: Path, music: Path, *extra: str) -> uuid.UUID:
    """A job made the way a person makes one: `picaivid job create`."""
    from flows.cli import app

    res = CliRunner().invoke(app, ["job", "create", "--photos", str(photos), "--music", str(music),
                                   "--template", "square", "--target-length", "6", "--json", *extra])
    assert res.exit_code == 0, res.output
    return uuid.UUID(json.loads(res.stdout)["job_id"])


def job_row(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        return s.get(Job, job_id)
