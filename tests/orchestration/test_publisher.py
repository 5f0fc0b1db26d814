"""The events outbox delivered for real: moto's SQS over HTTP and a local webhook receiver."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest

from db.contract import check
from db.enums import Phase
from db.events import job_events
from db.models import Job
from db.session import session_scope
from flows.publisher import SIGNATURE_HEADER, TIMESTAMP_HEADER, Publisher, sign, verify
from flows.state import mark_failed, mark_phase_started
from tasks.settings import get_settings


@pytest.fixture
def job_with_events(db: str) -> uuid.UUID:
    with session_scope() as s:
        job = Job(listing_id="L-77")
        s.add(job)
    mark_phase_started(job.id, Phase.analyze)
    mark_failed(job.id, Phase.analyze, "analyze failed: no usable photo")
    return job.id


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PICAIVID_EVENTS_RETRY_BASE_S", "0.2")
    get_settings.cache_clear()
    return get_settings()


def _receive_all(url: str, expected: int) -> list[dict]:
    sqs, got = boto3.client("sqs"), []
    for _ in range(10):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(got) >= expected:
            break
    return got


def test_a_missing_queue_delays_events_and_loses_none(
    job_with_events: uuid.UUID, aws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"events-{uuid.uuid4().hex[:8]}"
    url = f"{aws}/123456789012/{name}"
    publisher = Publisher(_settings(monkeypatch, PICAIVID_EVENTS_QUEUE_URL=url))
    assert publisher.publish_once() == 0  # the queue does not exist yet
    with session_scope() as s:
        pending = job_events(s, job_with_events)
    assert [e["sqs_sent_at"] for e in pending] == [None, None]
    assert all("sqs:" in e["last_error"] and e["attempts"] == 1 for e in pending)

    assert boto3.client("sqs").create_queue(QueueName=name)["QueueUrl"].endswith(name)
    time.sleep(0.3)  # the first retry delay
    assert publisher.publish_once() == 2
    received = _receive_all(url, 2)
    for body in received:
        check("event", body)
    assert [(b["type"], b["listing_id"]) for b in received] == [("phase.started", "L-77"), ("job.failed", "L-77")]
    assert received[1]["data"] == {"phase": "analyze", "error": "analyze failed: no usable photo"}
    with session_scope() as s:
        sent = job_events(s, job_with_events)
    assert {e["event_id"] for e in sent} == {b["event_id"] for b in received}
    assert all(e["sqs_sent_at"] is not None and e["last_error"] is None for e in sent)
    assert publisher.publish_once() == 0  # nothing is sent twice by a healthy publisher


class Receiver(BaseHTTPRequestHandler):
    """Rails' webhook endpoint: the first request of each event fails, the second is taken."""

    seen: list[tuple[dict, bytes]] = []
    failed_once: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event_id = self.headers["X-Picaivid-Event-Id"]
        if event_id not in self.failed_once:
            self.failed_once.add(event_id)
            self.send_response(503)
        else:
            self.seen.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_posts_are_signed_and_retried(job_with_events: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = "s3cret-for-tests"
        publisher = Publisher(_settings(monkeypatch, PICAIVID_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hooks",
                                        PICAIVID_WEBHOOK_SECRET=secret))
        assert publisher.publish_once() == 0  # 503 for each
        with session_scope() as s:
            assert all("503" in e["last_error"] for e in job_events(s, job_with_events))
        time.sleep(0.3)
        assert publisher.publish_once() == 2
    finally:
        server.shutdown()
    assert len(Receiver.seen) == 2
    for headers, body in Receiver.seen:
        assert verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify("wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
        assert not verify(secret, headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER])
        check("event", json.loads(body))


def test_signatures_bind_the_timestamp() -> None:
    body = b'{"type": "job.completed"}'
    signature = sign("k", 1_700_000_000, body)
    assert verify("k", "1700000000", body, signature, now=1_700_000_100)
    assert not verify("k", "1700000001", body, signature, now=1_700_000_100)  # another timestamp
    assert not verify("k", "1700000000", body, signature, now=1_700_001_000)  # too old: a replay
    assert not verify("k", "soon", body, signature)


def test_a_webhook_without_a_secret_is_refused(monkeypatch: pytest.MonkeyPatch, env) -> None:
    with pytest.raises(ValueError, match="PICAIVID_WEBHOOK_SECRET"):
        Publisher(_settings(monkeypatch, PICAIVID_WEBHOOK_URL="http://127.0.0.1:9/x"))
