"""Several `picaivid run` commands at once, as engineers and scripts start them on a busy machine:
none crashes on Prefect's database or start-up, the first starts one local Prefect server and
the others reuse it, and the output is quiet (no warnings) and in the format asked for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.enums import JobStatus
from db.models import Job
from db.session import session_scope
from flows.local_api import SERVER_FILE, stop_local_api

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
NOISE = ("Traceback", "database is locked", "RuntimeDirWarning", "Timed out", "Warning")


@pytest.fixture
def prefect_home(tmp_path: Path) -> Iterator[Path]:
    """A Prefect home of its own, with no server yet; whatever server the commands start is
    stopped afterwards."""
    home = tmp_path / "prefect-home"
    yield home
    stop_local_api(home)


def _job(listing: str) -> uuid.UUID:
    """A finished job: `run` has nothing left to do but still runs (and records) create-video."""
    with session_scope() as s:
        job = Job(status=JobStatus.completed, listing_id=listing)
        s.add(job)
        s.flush()
        return job.id


def test_several_runs_at_once_share_one_local_server(db: str, prefect_home: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.settings import PREFECT_API_URL, temporary_settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(prefect_home), "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    jobs = [_job(f"mls-{i}") for i in range(4)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(job), *(["--json"] if i else [])],
                         cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, job in enumerate(jobs)
    ]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]

    for code, out, err in results:
        assert code == 0, err
        assert not [word for word in NOISE if word in err], err
    human, *machine = results
    assert "completed after nothing to do" in human[1] and not any(line.startswith("{") for line in human[2].splitlines())
    for (_, out, err), job in zip(machine, jobs[1:]):
        assert json.loads(out) == {"job_id": str(job), "phases": [], "status": "completed"}
        logs = [json.loads(line) for line in err.splitlines() if line.strip()]  # every stderr line is JSON
        assert any({"event": "create_video.nothing_to_do", "level": "info"}.items() <= line.items() for line in logs), err

    server = json.loads((prefect_home / SERVER_FILE).read_text())
    with temporary_settings({PREFECT_API_URL: server["api_url"]}), get_client(sync_client=True) as client:
        for i, job in enumerate(jobs):
            (run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"job:{job}"])))
            assert run.name == f"create-video · mls-{i} · {str(job)[:8]}" and f"listing:mls-{i}" in run.tags
            assert run.state.is_completed()
