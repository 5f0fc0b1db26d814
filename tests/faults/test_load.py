"""Load on the local stack: many jobs at once, and a burst of relay messages.

- Jobs at once: one `run` message per job, all sent together through the relay; every job must
  complete with a video made only of its own photos (clip source photo ids, the timeline's
  shots), the GPU pool never runs more render-clip runs than its limit, and the stack's process
  tree stays within a memory budget.
- A burst: hundreds of messages, a share of them duplicates and a share malformed, with the
  CPU pool paused so nothing renders; exactly one create-video run per job comes out, and the
  dead-letter queue holds exactly the malformed messages, each with its reason.

The sizes come from the environment so that `bench/bench_load.py` runs the full load (20 jobs)
with these same fixtures and checks, and collects the figures the test writes to
PICAIVID_LOAD_FIGURES. CI runs 6 jobs, not 20: the GPU pool's one slot renders every clip in
turn, and each render-clip run is a new process (about 10 s on a quiet 2-core machine, most of
it starting Python and Prefect), so 20 jobs' ~50 clips alone would take CI's whole budget. The
burst is 200 messages in CI (500 in the bench), with the same shares of duplicates and
malformed ones: every message is a few Prefect API calls on its SQLite.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import boto3
import psutil
import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw
from sqlmodel import select

from db.enums import ClipStatus, JobStatus
from db.models import Clip, Job, Photo, Timeline, TimelineClip
from db.session import session_scope
from flows.local_stack import LocalStack
from tasks.intake import JobRequest, create_job
from tests.orchestration.stack import (  # noqa: F401 — the stack's fixtures (imported by name, pytest finds them)
    bucket,
    finished_run,
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

JOBS = int(os.environ.get("PICAIVID_LOAD_JOBS", "6"))
BURST = int(os.environ.get("PICAIVID_LOAD_BURST", "200"))
DUPLICATE_SHARE, MALFORMED_SHARE = 0.20, 0.05
TARGET_LENGTH_S = 4.0
RSS_BUDGET_BYTES = 6 * 2**30  # the whole stack: server, workers, relay and every flow run they started
LONG_LIVED_GROWTH_BYTES = 512 * 2**20  # server, workers and relay after the load, against before
SAMPLE_S = 0.5
ROOMS = ("exterior_front_a", "living_a", "kitchen_a", "bedroom_a", "bathroom_a")  # one photo per room


def _record(figures: dict) -> None:
    """Hand the measured figures to bench/bench_load.py, when it is the one running this."""
    path = os.environ.get("PICAIVID_LOAD_FIGURES")
    if path:
        existing = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        Path(path).write_text(json.dumps({**existing, **figures}, indent=2))


# --------------------------------------------------------------------------- the sampler


def _tree(procs: list[subprocess.Popen]) -> list[psutil.Process]:
    found = []
    for proc in procs:
        try:
            root = psutil.Process(proc.pid)
            found += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return found


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler(threading.Thread):
    """Every SAMPLE_S: the stack's process-tree RSS, render-clip runs Running at the Prefect API,
    and clips in work in the clips table; the peaks are what the test asserts."""

    def __init__(self, stack: LocalStack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.stopping = threading.Event()
        self.peak_rss = self.peak_running = self.peak_in_work = self.samples = 0

    def long_lived(self) -> list[subprocess.Popen]:
        s = self.stack
        return [p for p in (s.server, s.relay, *s.workers.values()) if p is not None]

    def run(self) -> None:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterName,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.settings import PREFECT_API_URL, temporary_settings

        running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
        render = DeploymentFilter(name=DeploymentFilterName(any_=["render-clip"]))
        with temporary_settings({PREFECT_API_URL: self.stack.config.api_url}), get_client(sync_client=True) as client:
            while not self.stopping.wait(SAMPLE_S):
                self.peak_rss = max(self.peak_rss, _rss(_tree(self.long_lived())))
                self.peak_running = max(self.peak_running, client.count_flow_runs(flow_run_filter=running,
                                                                                  deployment_filter=render))
                with session_scope() as s:
                    in_work = s.exec(select(sa.func.count()).select_from(Clip).where(
                        Clip.status.in_([ClipStatus.rendering, ClipStatus.validating]))).one()
                self.peak_in_work = max(self.peak_in_work, in_work)
                self.samples += 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join()


# --------------------------------------------------------------------------- jobs at once


def _own_photos(listing, index: int, root: Path) -> Path:
    """Two or three photos of different rooms, each stamped with the job's number: distinct
    bytes (and content hashes) from every other job's."""
    folder = root / f"listing-{index}" / "photos"
    folder.mkdir(parents=True)
    by_name = {p.path.stem: p.path for p in listing.photos}
    for k in range(2 + index % 2):
        stem = ROOMS[(index + k) % len(ROOMS)]
        image = Image.open(by_name[stem]).convert("RGB")
        ImageDraw.Draw(image).rectangle((4, 4, 40, 20), fill=(index * 37 % 256, index * 91 % 256, 200))
        image.save(folder / f"{stem}.jpg", quality=92)
    return folder


def _own_clips_only(job_id: uuid.UUID) -> None:
    """The job's clips come from its own photos, and its timeline plays only its own clips."""
    with session_scope() as s:
        clips = s.exec(select(Clip).where(Clip.job_id == job_id)).all()
        sources = {pid for c in clips for pid in c.source_photo_ids}
        owners = set(s.exec(select(Photo.job_id).where(Photo.id.in_(sources))))
        timeline = s.exec(select(Timeline).where(Timeline.job_id == job_id)
                          .order_by(Timeline.version.desc())).first()
        played = set(s.exec(select(Clip.job_id).join(TimelineClip, TimelineClip.clip_id == Clip.id)
                            .where(TimelineClip.timeline_id == timeline.id)))
        job = s.get(Job, job_id)
    assert clips and sources and owners == {job_id}, f"job {job_id}: clips from the photos of {owners}"
    assert played == {job_id}, f"job {job_id}: its timeline plays clips of {played}"
    assert all(f"/{job_id}/" in c.s3_uri for c in clips if c.s3_uri), [c.s3_uri for c in clips]
    assert f"/jobs/{job_id}/final/" in job.final_video_uri, job.final_video_uri


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def test_jobs_at_once(on_stack: LocalStack, queues: dict[str, str], relay: subprocess.Popen, listing,
                      tmp_path: Path) -> None:
    jobs = [create_job(JobRequest(_own_photos(listing, i, tmp_path), None, listing.music_path, "square",
                                  TARGET_LENGTH_S, True, f"load-{i}")).id for i in range(JOBS)]
    sampler = Sampler(on_stack)
    baseline = _rss([psutil.Process(p.pid) for p in sampler.long_lived()])
    with sampler:
        started = datetime.now(UTC)
        for job_id in jobs:
            send(queues["queue"], json.dumps({"job_id": str(job_id), "action": "run"}))
        runs = {job_id: finished_run(job_id, on_stack) for job_id in jobs}
        finished = datetime.now(UTC)
    after = _rss([psutil.Process(p.pid) for p in sampler.long_lived()])

    for job_id in jobs:
        with session_scope() as s:
            assert s.get(Job, job_id).status is JobStatus.completed
        _own_clips_only(job_id)
    limit = on_stack.config.gpu_slots
    assert sampler.samples > 10
    assert 1 <= sampler.peak_running <= limit, f"{sampler.peak_running} render-clip runs Running, limit {limit}"
    assert sampler.peak_in_work <= limit, f"{sampler.peak_in_work} clips in work at once, limit {limit}"
    assert sampler.peak_rss <= RSS_BUDGET_BYTES, f"peak RSS {sampler.peak_rss / 2**30:.2f} GiB"
    assert after - baseline <= LONG_LIVED_GROWTH_BYTES, f"long-lived processes grew {(after - baseline) / 2**20:.0f} MiB"

    latency = [(r.end_time - started).total_seconds() for r in runs.values()]
    durations = [r.total_run_time.total_seconds() for r in runs.values()]
    with session_scope() as s:
        clips = s.exec(select(sa.func.count()).select_from(Clip).where(Clip.job_id.in_(jobs))).one()
    _record({"jobs": JOBS, "clips": clips, "wall_s": (finished - started).total_seconds(),
             "jobs_per_hour": JOBS / max(latency) * 3600, "p95_job_s": _percentile(latency, 95),
             "p50_job_s": _percentile(latency, 50), "p95_run_s": _percentile(durations, 95),
             "peak_rss_bytes": sampler.peak_rss, "long_lived_rss_before": baseline, "long_lived_rss_after": after,
             "peak_render_running": sampler.peak_running, "peak_clips_in_work": sampler.peak_in_work,
             "gpu_limit": limit, "cpu_limit": on_stack.config.cpu_slots})


# --------------------------------------------------------------------------- a burst of messages


@pytest.fixture
def cpu_pool_paused(on_stack: LocalStack) -> Iterator[None]:
    """No create-video run starts while paused; the runs the test made are deleted before the
    pool resumes, so later tests see a quiet stack."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    pool = on_stack.config.cpu_pool
    since = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        client.update_work_pool(pool, WorkPoolUpdate(is_paused=True))
    try:
        yield
    finally:
        with get_client(sync_client=True) as client:
            for run in _create_video_runs(since):
                client.delete_flow_run(run.id)
            client.update_work_pool(pool, WorkPoolUpdate(is_paused=False))


def _create_video_runs(since: datetime) -> list:
    """Every create-video run created since `since`, page by page (the API returns 200 at most)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
    )

    runs: list = []
    with get_client(sync_client=True) as client:
        while page := client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["create-video"])),
            flow_run_filter=FlowRunFilter(), offset=len(runs), limit=200,
        ):
            runs += page
    return [r for r in runs if r.created >= since]


def _burst_jobs(count: int) -> list[uuid.UUID]:
    """Job rows as Rails inserts them; the burst never renders, so they need no photos."""
    with session_scope() as s:
        rows = [Job(listing_id=f"burst-{i}", target_length=TARGET_LENGTH_S, template_type="square")
                for i in range(count)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def _malformed(count: int) -> dict[str, str]:
    """Every kind the relay refuses, body -> a word its dead-letter reason must hold: not JSON,
    not an object, off the schema, too big, a job that does not exist."""
    kinds = [
        (lambda i: f"not json {i}", "not JSON"),
        (lambda i: json.dumps([i]), "JSON object"),
        (lambda i: json.dumps({"job_id": str(uuid.uuid4()), "action": "delete"}), "action"),
        (lambda i: json.dumps({"action": "run", "n": i}), "job_id"),
        (lambda i: json.dumps({"job_id": f"job-{i}", "action": "run"}), "uuid"),
        (lambda i: json.dumps({"job_id": str(uuid.uuid4()), "action": "run", "pad": "x" * 9000}), "bytes"),
        (lambda i: json.dumps({"job_id": str(uuid.uuid4()), "action": "run"}), "unknown job"),
    ]
    return {make(i): reason for i in range(count) for make, reason in [kinds[i % len(kinds)]]}


def _drain(sqs, queue_url: str) -> list[dict]:
    messages: list[dict] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageAttributeNames=["All"]).get("Messages"):
        messages += batch
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(batch)])
    return messages


def _queue_empty(sqs, queue_url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(int(v) == 0 for v in attrs.values())


def test_message_burst(on_stack: LocalStack, cpu_pool_paused: None, queues: dict[str, str],
                       relay: subprocess.Popen) -> None:
    rng = random.Random(20)
    bad_count, dup_count = round(BURST * MALFORMED_SHARE), round(BURST * DUPLICATE_SHARE)
    jobs = _burst_jobs(BURST - bad_count - dup_count)
    good = [json.dumps({"job_id": str(j), "action": "run"}) for j in jobs]
    bad = _malformed(bad_count)
    bodies = good + [rng.choice(good) for _ in range(dup_count)] + list(bad)
    rng.shuffle(bodies)
    wait_for("the relay to poll", lambda: "relay.started" in on_stack.log_tail("relay"), 60, on_stack)

    sqs = boto3.client("sqs")
    since = datetime.now(UTC)
    started = time.monotonic()
    for k in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=queues["queue"], Entries=[
            {"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[k:k + 10])])
    wait_for("the relay to empty the queue", lambda: _queue_empty(sqs, queues["queue"]), 600, on_stack, poll_s=0.2)
    elapsed = time.monotonic() - started
    time.sleep(2)  # nothing more comes after the queue is empty

    runs = _create_video_runs(since)
    per_job = Counter(r.parameters["job_id"] for r in runs)
    assert set(per_job) == {str(j) for j in jobs}, f"{len(per_job)} jobs got runs, {len(jobs)} asked"
    assert set(per_job.values()) == {1}, [j for j, n in per_job.items() if n > 1]
    assert all(f"job:{r.parameters['job_id']}" in r.tags for r in runs)

    dead = _drain(sqs, queues["dlq"])
    assert sorted(m["Body"] for m in dead) == sorted(bad)
    for message in dead:
        reason = message["MessageAttributes"]["reason"]["StringValue"]
        assert bad[message["Body"]] in reason, (message["Body"][:80], reason)
    _record({"burst": len(bodies), "burst_runs": len(runs), "burst_dead_letters": len(dead),
             "burst_duplicates": dup_count, "burst_s": elapsed, "messages_per_s": len(bodies) / elapsed})
