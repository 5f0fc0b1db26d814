"""The outbox publisher: events rows (db.events) delivered to Rails, at least once.

Each event goes to the SQS queue `events_queue_url` and, when `webhook_url` is set, as an
HTTP POST signed with HMAC-SHA256. A channel that fails (queue missing, endpoint down) is
retried with doubling delays, per event, and never touches a job: jobs only write rows. An
event stays unsent until every configured channel took it, so a publisher that dies between
sending and marking sends it again; Rails deduplicates on `event_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlmodel import select

from db.events import wire
from db.models import Event, Job
from db.session import session_scope
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Picaivid-Signature"
TIMESTAMP_HEADER = "X-Picaivid-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over "<timestamp>.<body>": the timestamp is signed too, so
    a captured request cannot be replayed later with a new one."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None,
           tolerance_s: int = 300) -> bool:
    """What a receiver checks (docs/rails.md has the Ruby twin): the signature, and a fresh timestamp."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    fresh = abs((now if now is not None else time.time()) - ts) <= tolerance_s
    return fresh and hmac.compare_digest(sign(secret, ts, body), signature)


def backoff(attempts: int, settings: Settings) -> float:
    return min(settings.events_retry_base_s * 2 ** max(attempts - 1, 0), settings.events_retry_max_s)


@dataclass
class Publisher:
    settings: Settings = field(default_factory=get_settings)

    def __post_init__(self) -> None:
        import boto3
        import httpx

        self.sqs = boto3.client("sqs") if self.settings.events_queue_url else None
        if self.settings.webhook_url and not self.settings.webhook_secret:
            raise ValueError("PICAIVID_WEBHOOK_URL is set but PICAIVID_WEBHOOK_SECRET is not: events must be signed")
        self.http = httpx.Client(timeout=self.settings.webhook_timeout_s) if self.settings.webhook_url else None
        self.stopping = threading.Event()

    def _unsent(self) -> sa.ColumnElement[bool]:
        channels = []
        if self.sqs is not None:
            channels.append(Event.sqs_sent_at.is_(None))  # type: ignore[union-attr]
        if self.http is not None:
            channels.append(Event.webhook_sent_at.is_(None))  # type: ignore[union-attr]
        return sa.or_(*channels) if channels else sa.false()

    def publish_once(self) -> int:
        """Deliver what is due; returns how many events every channel has now taken."""
        delivered = 0
        with session_scope() as session:
            rows = session.exec(
                select(Event, Job.listing_id).join(Job, Job.id == Event.job_id)
                .where(self._unsent(), sa.or_(Event.next_attempt_at.is_(None), Event.next_attempt_at <= sa.func.now()))  # type: ignore[union-attr,operator]
                .order_by(Event.id).limit(self.settings.events_batch)
                .with_for_update(of=Event, skip_locked=True)  # type: ignore[arg-type]
            ).all()
            for event, listing_id in rows:
                if self.stopping.is_set():
                    break
                delivered += self._deliver(event, json.dumps(wire(event, listing_id), default=str).encode())
                session.add(event)
        return delivered

    def _deliver(self, event: Event, body: bytes) -> bool:
        errors = []
        now = datetime.now(UTC)
        if self.sqs is not None and event.sqs_sent_at is None:
            try:
                self._send_sqs(event, body)
                event.sqs_sent_at = now
            except Exception as err:  # noqa: BLE001 — any failure is retried later, never lost
                errors.append(f"sqs: {type(err).__name__}: {err}")
        if self.http is not None and event.webhook_sent_at is None:
            try:
                self._post(event, body)
                event.webhook_sent_at = now
            except Exception as err:  # noqa: BLE001
                errors.append(f"webhook: {type(err).__name__}: {err}")
        event.attempts += 1
        if errors:
            delay = backoff(event.attempts, self.settings)
            event.next_attempt_at, event.last_error = now + timedelta(seconds=delay), "; ".join(errors)[:2000]
            log.warning("event.delivery_failed", event_id=str(event.event_id), job_id=str(event.job_id),
                        attempts=event.attempts, retry_in_s=delay, error=event.last_error)
            return False
        event.last_error = None
        log.info("event.delivered", event_id=str(event.event_id), job_id=str(event.job_id), type=str(event.type))
        return True

    def _send_sqs(self, event: Event, body: bytes) -> None:
        url = self.settings.events_queue_url
        extra = ({"MessageGroupId": str(event.job_id), "MessageDeduplicationId": str(event.event_id)}
                 if url.endswith(".fifo") else {})
        self.sqs.send_message(
            QueueUrl=url, MessageBody=body.decode(),
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": str(event.type)},
                "event_id": {"DataType": "String", "StringValue": str(event.event_id)},
                "job_id": {"DataType": "String", "StringValue": str(event.job_id)},
            },
            **extra,
        )

    def _post(self, event: Event, body: bytes) -> None:
        timestamp = int(time.time())
        response = self.http.post(self.settings.webhook_url, content=body, headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.settings.webhook_secret.get_secret_value(), timestamp, body),
            "X-Picaivid-Event-Id": str(event.event_id),
        })
        response.raise_for_status()

    def run_forever(self) -> None:
        """Publish until SIGTERM/SIGINT; a database hiccup is logged and tried again."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        log.info("publisher.started", sqs=self.settings.events_queue_url, webhook=self.settings.webhook_url)
        while not self.stopping.is_set():
            try:
                self.publish_once()
            except Exception as err:  # noqa: BLE001 — the outbox keeps everything; try again
                log.error("publisher.error", error=f"{type(err).__name__}: {err}")
            self.stopping.wait(self.settings.events_poll_s)
        log.info("publisher.stopped")
