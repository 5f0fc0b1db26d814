"""End to end through the local stack: SQS message → relay → Prefect server → workers → mp4 in S3.

A real Prefect server with a CPU and a GPU process pool and a worker each, every deployment
made by `prefect deploy --all`, the relay as its own process, moto for SQS and S3 over HTTP,
and the session's embedded PostgreSQL. Clips are small so the whole pipeline stays quick;
every process runs production code paths with the CPU backends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from sqlmodel import func, select

from db.enums import ClipStatus, JobStatus, Phase
from db.models import AnalysisResult, Clip, Job, Photo, RoomCluster, Timeline, TimelineClip
from db.session import session_scope
from flows.local_stack import LocalStack
from tasks.intake import JobRequest, create_job
from tasks.media.video import probe
from tests.orchestration.stack import (  # noqa: F401 — the stack's fixtures (imported by name, pytest finds them)
    RUN_TIMEOUT_S,
    bucket,
    finished_run,
    job_row,
    listing,
    on_stack,
    pipeline_settings,
    queues,
    relay,
    send,
    stack,
    wait_for,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]


def _create_job(listing) -> uuid.UUID:
    request = JobRequest(listing.root / "photos", listing.overrides_path, listing.music_path, "square", 8.0, True, None)
    return create_job(request).id


def _runs_of(deployment: str, since: datetime) -> list:
    """The deployment's runs created since `since` (clip ids restart with each test's database)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])))
    return [r for r in runs if r.created >= since]


def _count(model, job_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(model)
    if model is TimelineClip:
        query = query.join(Timeline, Timeline.id == TimelineClip.timeline_id).where(Timeline.job_id == job_id)
    else:
        query = query.where(model.job_id == job_id)
    with session_scope() as s:
        return s.exec(query).one()


def _stop_relay(stack: LocalStack) -> str:
    """SIGTERM: the relay finishes the message in hand and exits cleanly."""
    assert stack.relay is not None and stack.relay.poll() is None, stack.log_tail("relay")
    stack.relay.send_signal(signal.SIGTERM)
    assert stack.relay.wait(timeout=60) == 0, stack.log_tail("relay")
    return stack.log_tail("relay", 200)


def test_message_to_video_through_both_pools(on_stack: LocalStack, queues: dict[str, str], relay: subprocess.Popen,
                                              listing) -> None:
    since = datetime.now(UTC)
    job_id = _create_job(listing)
    message = json.dumps({"job_id": str(job_id), "action": "run"})
    send(queues["queue"], message)
    send(queues["queue"], message)  # Rails retried: still one video
    send(queues["queue"], json.dumps({"job_id": str(job_id), "action": "delete"}))
    send(queues["queue"], "not json")

    run = finished_run(job_id, on_stack)
    log = _stop_relay(on_stack)

    # one create-video run for the job, on the CPU pool
    runs = [r for r in _runs_of("create-video", since) if r.parameters.get("job_id") == str(job_id)]
    assert [r.id for r in runs] == [run.id]
    assert run.work_pool_name == on_stack.config.cpu_pool
    assert "relay.duplicate" in log

    # both bad messages in the dead-letter queue, with their reasons; the queue is empty
    sqs = boto3.client("sqs")
    dead = sqs.receive_message(QueueUrl=queues["dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in dead)
    assert len(reasons) == 2 and "not JSON" in reasons[1] and "action" in reasons[0]
    assert not sqs.receive_message(QueueUrl=queues["queue"], WaitTimeSeconds=0).get("Messages")

    # every table filled, the video in the bucket
    job = job_row(job_id)
    assert job.status is JobStatus.completed and job.flow_run_id == str(run.id)
    for model in (Photo, RoomCluster, AnalysisResult, Clip, Timeline, TimelineClip):
        assert _count(model, job_id) > 0, model.__tablename__
    bucket, key = job.final_video_uri.removeprefix("s3://").split("/", 1)
    assert bucket == os.environ["PICAIVID_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    video = Path(on_stack.root / "final.mp4")
    boto3.client("s3").download_file(bucket, key, str(video))
    assert abs(probe(video).duration - 8.0) <= 1 / 30 + 1e-6

    # each clip its own render-clip run, on the GPU pool
    with session_scope() as s:
        clip_ids = set(s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.attempt == 0)))
    clip_runs = [r for r in _runs_of("render-clip", since) if r.parameters["clip_id"] in clip_ids]
    assert len(clip_ids) >= 5
    assert {r.parameters["clip_id"] for r in clip_runs} == clip_ids
    assert {r.work_pool_name for r in clip_runs} == {on_stack.config.gpu_pool}
    assert all(r.state.is_completed() for r in clip_runs) and len(clip_runs) == len(clip_ids)


def _deployment_names() -> set[str]:
    import yaml

    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    return {d["name"] for d in spec["deployments"]}


def _timeline_versions(job_id: uuid.UUID) -> list[int]:
    with session_scope() as s:
        return sorted(s.exec(select(Timeline.version).where(Timeline.job_id == job_id)))


def test_deploy_all_and_each_phase_reruns_alone(on_stack: LocalStack, listing) -> None:
    """`prefect deploy --all` made every deployment of prefect.yaml; each phase deployment then
    reruns its phase on the job's current data and touches nothing else."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
    assert {d.name for d in deployments} == _deployment_names()
    pools = {d.name: d.work_pool_name for d in deployments}
    assert pools.pop("render-clip") == on_stack.config.gpu_pool
    assert set(pools.values()) == {on_stack.config.cpu_pool}

    def run_phase(phase: str, **parameters: object):
        run = run_deployment(f"{phase}/{phase}", parameters={"job_id": str(job_id), **parameters},
                             timeout=RUN_TIMEOUT_S)
        assert run.state.is_completed(), f"{phase}: {run.state.message}\n{on_stack.log_tail('worker-picaivid-cpu', 60)}"
        assert run.work_pool_name == on_stack.config.cpu_pool
        return run

    job_id = _create_job(listing)
    run_phase("analyze")
    assert _count(AnalysisResult, job_id) > 0 and _count(Clip, job_id) == 0
    job = job_row(job_id)
    assert (job.status, job.current_phase) == (JobStatus.stopped, Phase.analyze)  # resumable from render
    run_phase("render")
    with session_scope() as s:
        clips = {c.id: c.s3_uri for c in s.exec(select(Clip).where(Clip.job_id == job_id))}
    # each GPU clip run is found by the job's tag, named for its clip and try
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        clip_runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"job:{job_id}"])),
                                          flow_filter=FlowFilter(name=FlowFilterName(any_=["render-clip"])))
    with session_scope() as s:
        planned = set(s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.attempt == 0)))
    assert planned and {f"clip {cid} try 1" for cid in planned} <= {r.name for r in clip_runs}
    assert clips and _timeline_versions(job_id) == []
    run_phase("timeline")
    run_phase("timeline")  # a rebuild is a new version; the old one is kept
    assert _timeline_versions(job_id) == [1, 2]
    run_phase("assemble")
    job = job_row(job_id)
    assert job.final_video_uri and "v2" in job.final_video_uri.rsplit("/", 1)[1]
    assert job.status is JobStatus.completed
    run_phase("assemble", fmt="9x16", preview=True)  # a 540p vertical preview: the job is left as it was
    assert job_row(job_id).final_video_uri == job.final_video_uri and job_row(job_id).status is JobStatus.completed
    bucket, prefix = os.environ["PICAIVID_STORAGE_URL"].removeprefix("s3://").split("/", 1)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/jobs/{job_id}/final/")["Contents"]]
    assert any(k.endswith("9x16-preview.mp4") for k in keys), keys
    run_phase("render")  # nothing unfinished: no clip rendered again, no row added
    with session_scope() as s:
        assert {c.id: c.s3_uri for c in s.exec(select(Clip).where(Clip.job_id == job_id))} == clips


def _rendering_clip(job_id: uuid.UUID, skip: set[int]) -> int | None:
    with session_scope() as s:
        return s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.status == ClipStatus.rendering,
                                            Clip.id.not_in(skip))).first()


def _clip(clip_id: int) -> Clip:
    with session_scope() as s:
        return s.get(Clip, clip_id)


def _catch_mid_render(stack: LocalStack, job_id: uuid.UUID, since: datetime, skip: set[int],
                      strike: Callable[[int, int], bool]) -> int:
    """Find a clip while it renders and `strike(pid, clip_id)` its process; a clip renders in
    about a second, so when the strike came too late (it says False) take the next clip."""
    for _ in range(5):
        clip_id = wait_for("a clip to start rendering", lambda: _rendering_clip(job_id, skip), RUN_TIMEOUT_S,
                           stack, poll_s=0.05)
        run = next(r for r in _runs_of("render-clip", since) if r.parameters["clip_id"] == clip_id)
        if strike(int(run.infrastructure_pid), clip_id):
            return clip_id
        skip.add(clip_id)
    raise AssertionError("no clip was caught mid-render")


def test_killed_renders_are_recovered(on_stack: LocalStack, queues: dict[str, str], relay: subprocess.Popen,
                                      listing) -> None:
    """Two ways a GPU machine goes, each recovered by a retry with no duplicate clip row:
    - Spot: SIGTERM to the clip's process (it marks the clip interrupted), then the worker dies;
    - a hard loss: worker and process SIGKILLed, the row left `rendering` until its heartbeat
      goes silent."""
    since = datetime.now(UTC)
    job_id = _create_job(listing)
    send(queues["queue"], json.dumps({"job_id": str(job_id), "action": "run"}))
    gpu = on_stack.config.gpu_pool

    def spot_notice(pid: int, clip_id: int) -> bool:
        os.kill(pid, signal.SIGTERM)
        clip = wait_for(f"clip {clip_id} to stop", lambda: (c := _clip(clip_id)).status in (
            ClipStatus.interrupted, ClipStatus.done) and c, 60, on_stack)
        if clip.status is not ClipStatus.interrupted:
            return False
        assert "SIGTERM" in clip.error
        on_stack.kill_worker(gpu)  # then the instance is gone
        on_stack.start_worker(gpu)  # and capacity comes back
        return True

    def hard_loss(pid: int, clip_id: int) -> bool:
        on_stack.kill_worker(gpu)
        os.kill(pid, signal.SIGKILL)
        on_stack.start_worker(gpu)
        return _clip(clip_id).status in (ClipStatus.rendering, ClipStatus.validating)

    spot = _catch_mid_render(on_stack, job_id, since, set(), spot_notice)
    lost = _catch_mid_render(on_stack, job_id, since, {spot}, hard_loss)
    with session_scope() as s:
        planned = set(s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.attempt == 0)))

    finished_run(job_id, on_stack)
    _stop_relay(on_stack)

    with session_scope() as s:
        first_tries = set(s.exec(select(Clip.id).where(Clip.job_id == job_id, Clip.attempt == 0)))
    assert first_tries == planned and {spot, lost} <= planned  # no duplicate rows: both finished in place
    for victim in (spot, lost):
        clip = _clip(victim)
        assert clip.status is ClipStatus.done and clip.attempts >= 2
        runs = sorted((r for r in _runs_of("render-clip", since) if r.parameters["clip_id"] == victim),
                      key=lambda r: r.name)
        assert [r.name for r in runs][:2] == [f"clip {victim} try 1", f"clip {victim} try 2"]
        assert runs[0].state.is_crashed() and runs[-1].state.is_completed()
    assert "silent" in next(r for r in _runs_of("render-clip", since) if r.name == f"clip {lost} try 1").state.message
    assert job_row(job_id).status is JobStatus.completed


def test_stack_up_command(migrated_db_url: str, tmp_path: Path) -> None:
    """`picaivid stack up`: one command brings up server, pools, deployments and workers, and
    SIGTERM takes it all down again."""
    import urllib.request

    from tests.conftest import _free_port

    port, root = _free_port(), tmp_path / "stack"
    env = {**os.environ, "DATABASE_URL": migrated_db_url, "PICAIVID_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "stack", "up", "--port", str(port),
         "--root", str(root)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (root / "stack.env").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.5)
        api = f"http://127.0.0.1:{port}/api"
        assert f"PREFECT_API_URL={api}" in (root / "stack.env").read_text()
        request = urllib.request.Request(f"{api}/deployments/filter", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert {d["name"] for d in json.load(resp)} == _deployment_names()
        workers = [p for p in (root / "logs").iterdir() if p.name.startswith("worker-")]
        assert len(workers) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert "stack up" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)


def _chromium() -> str:
    """Debian's chromium (Playwright's own browser download is not reachable here)."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return path


def test_what_an_engineer_sees_in_the_prefect_ui(on_stack: LocalStack, listing, tmp_path: Path) -> None:
    """Headless Chromium on the stack's UI: a job's runs found by its tag, its Phase 1 photo
    table, and assemble's run form offering the output format as a dropdown, whose pick becomes
    the run's parameter. Screenshots of each are left in the test's folder."""
    from playwright.sync_api import sync_playwright
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment

    job_id = _create_job(listing)
    with session_scope() as s:
        s.get(Job, job_id).listing_id = "mls-ui"
    analyzed = run_deployment("analyze/analyze", parameters={"job_id": str(job_id)}, timeout=RUN_TIMEOUT_S)
    assert analyzed.state.is_completed(), analyzed.state.message
    with get_client(sync_client=True) as client:
        assemble = client.read_deployment_by_name("assemble/assemble")
    ui = on_stack.config.api_url.removesuffix("/api")
    wanted = f"analyze · mls-ui · {str(job_id)[:8]}"

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        page.goto(f"{ui}/v2/runs?tags=job:{job_id}", wait_until="networkidle")  # the link a person shares
        page.get_by_text(wanted).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "runs-by-job-tag.png"), full_page=True)
        assert page.get_by_text("1 Flow run").count() == 1  # this job's run only, of all the stack's runs

        with get_client(sync_client=True) as client:  # Phase 1's table: its key's newest version
            (photos,) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[
                f"job-{job_id}-photos"])))
        page.goto(f"{ui}/v2/artifacts/key/job-{job_id}-photos", wait_until="networkidle")
        page.get_by_role("link", name=str(photos.id)[:8]).click()
        page.get_by_text("kitchen_a.jpg").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "phase1-photo-table.png"), full_page=True)

        page.goto(f"{ui}/v2/deployments/deployment/{assemble.id}/run", wait_until="networkidle")
        fmt = page.locator("div:has(> div > div > label:text-is('fmt (Optional)'))")
        fmt.get_by_role("tab", name="str", exact=True).click()  # optional: "no format" is the other choice
        fmt.locator("button[aria-haspopup=listbox]").click()
        options = page.get_by_role("option")
        options.first.wait_for()
        assert options.all_inner_texts() == ["16x9", "9x16", "1x1"]
        page.screenshot(path=str(tmp_path / "assemble-format-dropdown.png"), full_page=True)
        options.filter(has_text="9x16").click()
        page.locator("div:has(> div > div > label:text-is('job_id'))").locator("textarea, input").first \
            .fill(str(job_id))
        page.get_by_role("button", name="Submit").click()

        def submitted() -> list:
            with get_client(sync_client=True) as client:
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[assemble.id])))
            return [r for r in runs if r.parameters.get("job_id") == str(job_id)]

        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(tmp_path / "after-submit.png"), full_page=True)
        (run,) = wait_for("the run the form submitted", submitted, 30, on_stack)
        browser.close()

    assert run.parameters["fmt"] == "9x16" and run.parameters["job_id"] == str(job_id)
    print(f"screenshots in {tmp_path}")
