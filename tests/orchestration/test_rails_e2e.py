"""Rails' whole contract on the local stack, with Rails played by raw SQL and boto3 only.

The job and photo rows are plain INSERTs of the documented caller columns (docs/rails.md), the
photos and music are uploaded where Rails keeps them (outside the pipeline's store prefix),
and every request is one SQS message; what comes back is read from the events queue alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psutil
import pytest
import sqlalchemy as sa

from db.contract import check
from db.session import engine_for
from flows.local_stack import LocalStack
from tasks.media.video import probe
from tests.orchestration.stack import (  # noqa: F401 — the stack's fixtures (imported by name, pytest finds them)
    RUN_TIMEOUT_S,
    bucket,
    flow_run,
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



class Rails:
    """What the Rails app does, with nothing of the project's code: SQL, S3 and SQS."""

    def __init__(self, queue_url: str, events_url: str, bucket: str) -> None:
        self.queue_url, self.events_url, self.bucket = queue_url, events_url, bucket
        self.engine = engine_for(os.environ["DATABASE_URL"])
        self.s3, self.sqs = boto3.client("s3"), boto3.client("sqs")
        self.events: list[dict] = []

    def upload(self, path: Path, key: str) -> str:
        self.s3.upload_file(str(path), self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def create_job(self, listing, photos: list[Path], listing_id: str) -> uuid.UUID:
        prefix = f"rails/listings/{listing_id}"
        music = self.upload(listing.music_path, f"{prefix}/music/{uuid.uuid4().hex}.ogg")
        with self.engine.begin() as conn:
            job_id = conn.execute(sa.text(
                "INSERT INTO jobs (listing_id, target_length, music_uri, template_type) "
                "VALUES (:listing, 8, :music, 'square') RETURNING id"), {"listing": listing_id, "music": music}).scalar_one()
            for path in photos:
                uri = self.upload(path, f"{prefix}/photos/{uuid.uuid4().hex}/{path.name}")
                conn.execute(sa.text("INSERT INTO photos (job_id, s3_uri) VALUES (:j, :u)"), {"j": job_id, "u": uri})
        return job_id

    def send(self, job_id: uuid.UUID, action: str) -> None:
        send(self.queue_url, json.dumps({"job_id": str(job_id), "action": action}))

    def newest_timeline(self, job_id: uuid.UUID) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text("SELECT id FROM timeline WHERE job_id = :j ORDER BY version DESC LIMIT 1"),
                                {"j": job_id}).scalar_one()

    def edit(self, timeline_id: int, edit_type: str, payload: dict) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(
                "INSERT INTO edits (timeline_id, edit_type, payload, user_id) "
                "VALUES (:t, :k, CAST(:p AS jsonb), 'agent-9') RETURNING id"),
                {"t": timeline_id, "k": edit_type, "p": json.dumps(payload)}).scalar_one()

    def job(self, job_id: uuid.UUID) -> dict:
        with self.engine.begin() as conn:
            return dict(conn.execute(sa.text("SELECT * FROM jobs WHERE id = :j"), {"j": job_id}).mappings().one())

    def poll_events(self) -> list[dict]:
        """Everything on the events queue so far (each checked against the event schema)."""
        try:
            messages = self.sqs.receive_message(QueueUrl=self.events_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=1).get("Messages", [])
        except self.sqs.exceptions.QueueDoesNotExist:
            return self.events
        for m in messages:
            event = json.loads(m["Body"])
            check("event", event)
            if event["event_id"] not in {e["event_id"] for e in self.events}:  # at least once: dedupe
                self.events.append(event)
            self.sqs.delete_message(QueueUrl=self.events_url, ReceiptHandle=m["ReceiptHandle"])
        return self.events

    def wait_for_event(self, stack: LocalStack, what: str, match) -> dict:
        return wait_for(what, lambda: next((e for e in self.poll_events() if match(e)), None), RUN_TIMEOUT_S, stack,
                        poll_s=0.2)

    def phases_started(self, job_id: uuid.UUID) -> list[str]:
        return [e["data"]["phase"] for e in sorted(self.events, key=lambda e: e["occurred_at"])
                if e["job_id"] == str(job_id) and e["type"] == "phase.started"]

    def wait_for_phases(self, stack: LocalStack, job_id: uuid.UUID, expected: list[str]) -> None:
        """Every phase.started event of the job, in the order they happened (SQS may reorder)."""
        wait_for(f"phase.started events {expected}", lambda: self.poll_events() and
                  self.phases_started(job_id) == expected, 60, stack, poll_s=0.2)

    def video_duration(self, uri: str, tmp: Path) -> float:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        path = tmp / f"{uuid.uuid4().hex}.mp4"
        self.s3.download_file(bucket, key, str(path))
        return probe(path).duration


@pytest.fixture
def rails(on_stack: LocalStack, queues: dict[str, str], relay: subprocess.Popen, bucket: str) -> Iterator[Rails]:
    """Rails' side, with the events publisher running but the events queue not created yet."""
    name = f"events-{uuid.uuid4().hex[:8]}"
    events_url = f"{os.environ['AWS_ENDPOINT_URL']}/123456789012/{name}"
    on_stack.start_publisher(PICAIVID_EVENTS_QUEUE_URL=events_url, PICAIVID_EVENTS_RETRY_BASE_S="0.5",
                             PICAIVID_EVENTS_RETRY_MAX_S="2", PICAIVID_EVENTS_POLL_S="0.3")
    yield Rails(queues["queue"], events_url, bucket)
    if on_stack.publisher is not None and on_stack.publisher.poll() is None:
        on_stack.publisher.terminate()
        on_stack.publisher.wait(timeout=30)
    on_stack.publisher = None


def _of(job_id: uuid.UUID, kind: str, **data: object):
    return lambda e: e["job_id"] == str(job_id) and e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items())


def test_rails_creates_runs_edits_and_hears_back(rails: Rails, on_stack: LocalStack, listing, tmp_path: Path) -> None:
    photos = [p.path for p in listing.photos]
    job_id = rails.create_job(listing, photos, "L-100")
    rails.send(job_id, "run")

    # the events queue does not exist while the job runs: the job completes all the same
    wait_for("the job to complete", lambda: rails.job(job_id)["status"] == "completed", RUN_TIMEOUT_S, on_stack, 2)
    assert rails.poll_events() == []
    rails.sqs.create_queue(QueueName=rails.events_url.rsplit("/", 1)[1])
    done = rails.wait_for_event(on_stack, "job.completed", _of(job_id, "job.completed"))
    assert done["listing_id"] == "L-100" and done["data"]["timeline_version"] == 1
    assert abs(rails.video_duration(done["data"]["final_video_uri"], tmp_path) - done["data"]["duration"]) < 0.05
    rails.wait_for_phases(on_stack, job_id, ["analyze", "render", "timeline", "assemble"])

    # an edit: a new version and a re-assembled video, each edit applied
    v1 = rails.newest_timeline(job_id)
    removed = rails.edit(v1, "remove_clip", {"index": 1})
    faded = rails.edit(v1, "change_transition", {"index": 1, "transition": "fade", "duration": 0.3})
    rails.send(job_id, "edit")
    rails.wait_for_event(on_stack, "the edits' video", _of(job_id, "job.completed", timeline_version=2))
    wait_for("both edit.applied events", lambda: len([e for e in rails.poll_events() if e["type"] == "edit.applied"]) == 2,
             60, on_stack)
    applied = {e["data"]["edit_id"]: e for e in rails.events if e["type"] == "edit.applied"}
    assert set(applied) == {removed, faded} and {e["data"]["timeline_version"] for e in applied.values()} == {2}
    second = rails.job(job_id)
    assert second["final_video_uri"] != done["data"]["final_video_uri"] and second["status"] == "completed"

    # a bad edit: rejected with why, and the video Rails has stays as it is
    bad = rails.edit(rails.newest_timeline(job_id), "remove_clip", {"index": 99})
    rails.send(job_id, "edit")
    rejected = rails.wait_for_event(on_stack, "the rejection", _of(job_id, "edit.rejected", edit_id=bad))
    assert rejected["data"]["reason"].startswith("no shot at index 99")
    after = rails.job(job_id)
    assert (after["final_video_uri"], after["status"]) == (second["final_video_uri"], "completed")
    with rails.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT max(version) FROM timeline WHERE job_id = :j"), {"j": job_id}).scalar() == 2
        assert conn.execute(sa.text("SELECT status, reason FROM edits WHERE id = :e"), {"e": bad}).one() == (
            "rejected", rejected["data"]["reason"])


def _gpu_renders(stack: LocalStack) -> list[psutil.Process]:
    worker = stack.workers[stack.config.gpu_pool]
    return [p for p in psutil.Process(worker.pid).children(recursive=True) if p.is_running()]


def test_cancel_mid_render_stops_every_render_and_run_resumes(
    rails: Rails, on_stack: LocalStack, listing, tmp_path: Path
) -> None:
    rails.sqs.create_queue(QueueName=rails.events_url.rsplit("/", 1)[1])
    job_id = rails.create_job(listing, [p.path for p in listing.photos[:7]], "L-200")
    rails.send(job_id, "run")

    def some_done_some_not() -> bool:
        with rails.engine.begin() as conn:
            statuses = conn.execute(sa.text("SELECT status FROM clips WHERE job_id = :j AND attempt = 0"),
                                    {"j": job_id}).scalars().all()
        return statuses.count("done") >= 1 and len(statuses) - statuses.count("done") >= 2

    wait_for("a render half done", some_done_some_not, RUN_TIMEOUT_S, on_stack, poll_s=0.3)
    rails.send(job_id, "cancel")
    rails.wait_for_event(on_stack, "job.cancelled", _of(job_id, "job.cancelled", phase="render"))
    wait_for("every render process to end", lambda: not _gpu_renders(on_stack), 60, on_stack)
    wait_for("the create-video run to end", lambda: flow_run(rails.job(job_id)["flow_run_id"]).state.is_final(),
             60, on_stack)
    assert flow_run(rails.job(job_id)["flow_run_id"]).state.is_cancelled()
    with rails.engine.begin() as conn:
        done_before = dict(conn.execute(sa.text(
            "SELECT id, attempts FROM clips WHERE job_id = :j AND status = 'done'"), {"j": job_id}).all())
        assert conn.execute(sa.text("SELECT count(*) FROM clips WHERE job_id = :j AND status IN ('rendering', 'validating')"),
                            {"j": job_id}).scalar() == 0
    assert rails.job(job_id)["status"] == "cancelled" and done_before

    rails.send(job_id, "run")  # resumes from the render phase
    rails.wait_for_event(on_stack, "the resumed job's video", _of(job_id, "job.completed"))
    with rails.engine.begin() as conn:
        again = dict(conn.execute(sa.text("SELECT id, attempts FROM clips WHERE id = ANY(:ids)"),
                                  {"ids": list(done_before)}).all())
    assert again == done_before  # finished clips were not rendered again
    rails.wait_for_phases(on_stack, job_id, ["analyze", "render", "render", "timeline", "assemble"])
