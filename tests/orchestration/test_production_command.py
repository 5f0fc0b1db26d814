"""Runs started the way an ECS container starts them: the command and environment the ECS worker
generates from `infra/work_pools/*-ecs.json`, as the top process of its own process group (a
container's PID 1 forwards SIGTERM to exactly that process), against a real Prefect API.

A Spot interruption signals only that top process. What must follow: the clip is marked
interrupted within seconds, nothing partial is promoted, the run goes back to the queue
(Prefect's reschedule, where the worker picks it up again), the whole process tree is gone
well inside the grace period, and the next attempt finishes the same clip row. Giving a run
up (flows.stop_run) leaves no render process behind.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml
from sqlmodel import func, select

from db.enums import ClipStatus
from db.models import Clip
from db.session import session_scope
from flows.dispatch import run_phase
from infra.pools import Pool, load_template
from tasks.settings import get_settings
from tasks.storage import keys
from tests.render.clip_makers import plan_long_clip

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory):
    from flows.dev.sample_listing import make_listing

    return make_listing(tmp_path_factory.mktemp("listing"), seed=1, music_seconds=5.0)  # photos big enough that Phase 1 takes seconds


def deploy(name: str) -> uuid.UUID:
    """The prefect.yaml deployment `name` on the test API, its code folder this checkout."""
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    deployment = next(d for d in spec["deployments"] if d["name"] == name)
    pull = yaml.safe_load(yaml.safe_dump(spec["pull"]).replace("{{ $PICAIVID_CODE_DIR }}", str(REPO_ROOT)))
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(name)
        return client.create_deployment(flow_id=flow_id, name=name, entrypoint=deployment["entrypoint"],
                                        pull_steps=pull)


def container_command(pool: Pool, flow_run) -> tuple[list[str], dict[str, str]]:
    """The ECS worker's command and the container's environment for `flow_run` (the task
    definition's static environment plus the worker's overrides)."""
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration

    config = asyncio.run(ECSJobConfiguration.from_template_and_values(load_template(pool), {}))
    config.prepare_for_flow_run(flow_run)
    static = {e["name"]: e["value"] for e in config.task_definition["containerDefinitions"][0]["environment"]
              if e.get("value")}  # the stack's values (empty in the checked-in template) are this test's
    return shlex.split(config.command), {**static, **config.env}


class Container:
    """The command as a container's only process: its own process group, output to a log."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the image's PATH
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, env={**os.environ, **env, "PATH": path}, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.log = log

    def tree(self) -> list[psutil.Process]:
        return [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        for proc in psutil.Process(self.proc.pid).children(recursive=True) if self.proc.poll() is None else []:
            proc.kill()
        self.proc.kill()
        self.proc.wait()


def wait_until(what: str, check: Callable[[], object], timeout_s: float, container: Container) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}:\n{container.output()[-4000:]}")


def clip_row(clip_id: int) -> Clip:
    with session_scope() as session:
        return session.get(Clip, clip_id)


def read_run(run_id: uuid.UUID):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


@pytest.fixture
def clip_run(db: str, store, listing, monkeypatch: pytest.MonkeyPatch, prefect_api: None):
    """A long clip and its render-clip run, created from the deployment and not started."""
    from prefect.client.orchestration import get_client

    job_id, clip_id = plan_long_clip(store, listing.root, monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    deployment_id = deploy("render-clip")
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"clip_id": clip_id})
    return job_id, clip_id, run


def start_container(pool: Pool, run, tmp_path: Path) -> Container:
    argv, env = container_command(pool, run)
    return Container(argv, env, tmp_path / f"container-{run.id}.log")


def start_render(run, tmp_path: Path) -> Container:
    return start_container(Pool.gpu, run, tmp_path)


def spot_interruption(container: Container, stopped: Callable[[], object], grace_s: float) -> tuple[int, str]:
    """SIGTERM to the container's top process alone, then `stopped` must hold within seconds and
    the whole process tree be gone within `grace_s`; returns the exit code and the output."""
    tree = container.tree()
    assert len(tree) >= 2, "the engine runs in a child of the supervisor"
    sent = time.monotonic()
    os.kill(container.proc.pid, signal.SIGTERM)  # the top process only, as a container's init does
    wait_until("the work to record its stop", stopped, 10, container)
    code = container.proc.wait(timeout=grace_s)
    _, alive = psutil.wait_procs(tree, timeout=max(grace_s - (time.monotonic() - sent), 0.1))
    took = time.monotonic() - sent
    output = container.output()
    print(f"the process tree ({len(tree)} processes) exited {took:.2f} s after SIGTERM:\n{output[-3000:]}")
    assert not alive and took < grace_s, output
    return code, output


def test_spot_sigterm_to_the_container_command_reschedules_the_run(clip_run, store, tmp_path: Path) -> None:
    job_id, clip_id, run = clip_run
    grace_s = get_settings().sigterm_grace_s
    container = start_render(run, tmp_path)
    try:
        wait_until("the render to start", lambda: clip_row(clip_id).status is ClipStatus.rendering, 120, container)
        time.sleep(1.5)  # frames are being written now
        code, output = spot_interruption(
            container, lambda: clip_row(clip_id).status is ClipStatus.interrupted, grace_s)
    finally:
        if container.proc.poll() is None:
            container.kill()
    assert code == 0 and "successfully rescheduled" in output, output
    row = clip_row(clip_id)
    assert "SIGTERM" in row.error and row.s3_uri is None
    assert not store.exists(store.uri_for(keys.clip(job_id, clip_id)))  # nothing partial was promoted
    state = read_run(run.id).state
    assert state.name == "AwaitingRetry" and run_phase(state) == "queued", state  # the worker runs it again

    # the worker picks the run up again on a new machine: same command, same run, same clip row
    with session_scope() as session:
        session.get(Clip, clip_id).duration = 1.0
    again = start_render(read_run(run.id), tmp_path)
    try:
        assert again.proc.wait(timeout=180) == 0, again.output()
    finally:
        if again.proc.poll() is None:
            again.kill()
    finished = read_run(run.id)
    assert finished.state.is_completed() and finished.run_count == 2, finished.state
    row = clip_row(clip_id)
    assert row.status is ClipStatus.done and row.attempts == 2
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(Clip).where(Clip.job_id == job_id)).one() == 1


def test_a_run_given_up_on_leaves_no_render_behind(clip_run, tmp_path: Path) -> None:
    from flows.stop_run import stop_flow_run

    _, clip_id, run = clip_run
    container = start_render(run, tmp_path)
    try:
        wait_until("the render to start", lambda: clip_row(clip_id).status is ClipStatus.rendering, 120, container)
        tree = container.tree()
        final = stop_flow_run(run.id, "given up by the test", confirm_s=60, poll_s=0.5)
        container.proc.wait(timeout=60)
        _, alive = psutil.wait_procs(tree, timeout=30)
    finally:
        if container.proc.poll() is None:
            container.kill()
    assert not alive, [p.cmdline() for p in alive]
    assert final == "Cancelled", container.output()[-3000:]
    assert read_run(run.id).state.is_cancelled()
    assert clip_row(clip_id).status is ClipStatus.interrupted  # the render stopped through its SIGTERM path


def test_spot_sigterm_to_a_cpu_phase_run_leaves_the_job_resumable(db: str, listing, prefect_api: None,
                                                                  tmp_path: Path) -> None:
    """Phase 1 on the CPU pool, interrupted mid-analysis: the intake rows stay, the job says the
    phase failed (so a create-video run resumes there), and the run is back in the queue."""
    from prefect.client.orchestration import get_client

    from db.enums import JobStatus, Phase
    from db.models import Job, Photo
    from flows.state import resume_phase
    from tasks.intake import JobRequest, create_job

    job_id = create_job(JobRequest(listing.root / "photos", listing.overrides_path, listing.music_path,
                                   "square", 8.0)).id

    def photos() -> list[tuple[int, str]]:
        with session_scope() as session:
            return sorted((p.id, p.s3_uri) for p in session.exec(select(Photo).where(Photo.job_id == job_id)))

    def job() -> Job:
        with session_scope() as session:
            return session.get(Job, job_id)

    intake = photos()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deploy("analyze"), parameters={"job_id": str(job_id)})
    container = start_container(Pool.cpu, run, tmp_path)
    try:
        wait_until("the analysis to start", lambda: job().status is JobStatus.running, 120, container)
        code, output = spot_interruption(container, lambda: job().status is JobStatus.failed,
                                            get_settings().sigterm_grace_s)
    finally:
        if container.proc.poll() is None:
            container.kill()
    assert code == 0 and "successfully rescheduled" in output, output
    assert read_run(run.id).state.name == "AwaitingRetry"
    stopped = job()
    assert (stopped.status, stopped.current_phase) == (JobStatus.failed, Phase.analyze), stopped.error
    assert resume_phase(stopped.status, stopped.current_phase) is Phase.analyze
    assert photos() == intake
