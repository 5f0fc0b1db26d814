"""Fault-test jobs as real `picaivid run` processes: a small listing, a run in its own process
group (so a test can SIGKILL the whole tree, as a dying container does), and waiting on the
job's state in PostgreSQL, which is how the tests tell which phase a run is in."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlmodel import func, select

from db.models import Job
from db.session import session_scope

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ("living_a.jpg", "kitchen_a.jpg", "bedroom_a.jpg")  # three rooms: small, but every phase has work


def small_job(listing, folder: Path, target_length: float = 6.0) -> uuid.UUID:
    """A job of three photos of the sample listing, its files in the configured store."""
    from tasks.intake import JobRequest, create_job

    folder.mkdir(parents=True, exist_ok=True)
    for photo in listing.photos:
        if photo.path.name in PHOTOS:
            shutil.copy(photo.path, folder / photo.path.name)
    return create_job(JobRequest(folder, None, listing.music_path, "square", target_length)).id


class Run:
    """`picaivid run JOB --json` as the top process of its own process group, output to a log."""

    def __init__(self, job_id: uuid.UUID, log: Path, env: dict[str, str] | None = None,
                 args: list[str] | None = None) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(job_id), "--json", *(args or [])],
                                         cwd=REPO_ROOT, env={**run_env(), **(env or {})}, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the run did not end within {timeout_s:g} s:\n{self.output()[-4000:]}") from None

    def kill(self) -> None:
        """SIGKILL to the whole process group: the run, its ffmpeg children, everything."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def run_env() -> dict[str, str]:
    """This test's environment (its database, store, data dir) for the run, with this checkout's code."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def job_row(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        return s.get(Job, job_id)


def count(model, job_id: uuid.UUID, *where) -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(model).where(model.job_id == job_id, *where)).one()


def wait_for(what: str, check: Callable[[], object], timeout_s: float, run: Run | None = None,
             poll_s: float = 0.05) -> object:
    """Until `check` is truthy; a run that ends first or the time running out fails the test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        if run is not None and run.proc.poll() is not None:
            raise AssertionError(f"the run ended ({run.proc.returncode}) before {what}:\n{run.output()[-4000:]}")
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}"
                         + (f":\n{run.output()[-4000:]}" if run else ""))
