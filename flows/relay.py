"""SQS → Prefect relay: one Rails message per video becomes one `create_video` flow run.

Postgres decides what is a duplicate: a job whose recorded flow run is still active is not
started again, and the Prefect idempotency key (job, start phase, the job row's version)
makes a redelivered message map onto the run it already created. A message is deleted only
after its run exists; malformed messages and unknown jobs go to the dead-letter queue with
the reason, so they never block the queue.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from db.enums import Phase
from db.models import Job
from db.session import session_scope
from flows.naming import job_tags, message_tag

log = structlog.get_logger(__name__)

CREATE_VIDEO_DEPLOYMENT = "create-video/create-video"
ACTIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})


class RunRequest(BaseModel):
    """The message Rails sends: {"job_id": ..., "action": "run", "start_phase": optional}."""

    model_config = ConfigDict(extra="forbid")

    job_id: uuid.UUID
    action: Literal["run"]
    start_phase: Phase | None = None


class BadMessage(ValueError):
    """Not a message we can act on; the reason goes with it to the dead-letter queue."""


def parse_message(body: str) -> RunRequest:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise BadMessage(f"body is not JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise BadMessage("body must be a JSON object")
    try:
        return RunRequest.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors())
        raise BadMessage(problems) from None


def idempotency_key(request: RunRequest, job_version: str) -> str:
    """Same request against the same job state → same key → the same flow run."""
    return f"create-video:{request.job_id}:{request.start_phase or 'resume'}:{job_version}"


class Launcher(Protocol):
    def launch(self, request: RunRequest, key: str, tags: list[str]) -> str: ...
    def is_active(self, flow_run_id: str) -> bool: ...


@dataclass
class PrefectLauncher:
    """Starts runs of the `create_video` deployment through the Prefect API."""

    deployment: str = CREATE_VIDEO_DEPLOYMENT

    def launch(self, request: RunRequest, key: str, tags: list[str]) -> str:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(self.deployment)
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"job_id": str(request.job_id),
                            "start_phase": request.start_phase.value if request.start_phase else None},
                idempotency_key=key,
                tags=["relay", *tags],
            )
        return str(run.id)

    def is_active(self, flow_run_id: str) -> bool:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        with get_client(sync_client=True) as client:
            try:
                run = client.read_flow_run(uuid.UUID(flow_run_id))
            except ObjectNotFound:
                return False
        return run.state is not None and run.state.type.value in ACTIVE_STATES


@dataclass
class Outcome:
    action: Literal["started", "duplicate", "dead_letter", "retry"]
    reason: str = ""
    flow_run_id: str | None = None


def handle(body: str, launcher: Launcher, message_id: str | None = None) -> Outcome:
    """Decide and act on one message body. Raises only for failures worth a redelivery.

    The run is tagged with the job, its listing and the message, so the UI finds it by any."""
    try:
        request = parse_message(body)
    except BadMessage as err:
        return Outcome("dead_letter", str(err))
    with session_scope() as session:
        job = session.get(Job, request.job_id, with_for_update=True)
        if job is None:
            return Outcome("dead_letter", f"unknown job {request.job_id}")
        if job.flow_run_id and launcher.is_active(job.flow_run_id):
            return Outcome("duplicate", "the job's flow run is still active", job.flow_run_id)
        key = idempotency_key(request, job.updated_at.isoformat() if job.updated_at else "new")
        run_id = launcher.launch(request, key, job_tags(job) + ([message_tag(message_id)] if message_id else []))
        job.flow_run_id = run_id
        session.add(job)
    return Outcome("started", flow_run_id=run_id)


class VisibilityHeartbeat:
    """Keeps a message invisible to other consumers while it is being handled."""

    def __init__(self, sqs, queue_url: str, receipt: str, timeout: int) -> None:
        self.sqs, self.queue_url, self.receipt, self.timeout = sqs, queue_url, receipt, timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.timeout / 2):
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=self.receipt, VisibilityTimeout=self.timeout
            )

    def __enter__(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Relay:
    queue_url: str
    dead_letter_url: str
    launcher: Launcher
    wait_seconds: int = 20
    visibility_timeout: int = 60

    def __post_init__(self) -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        self.stopping = threading.Event()

    def poll_once(self) -> list[Outcome]:
        """One long poll; every received message is either acted on and deleted, or left to
        reappear after its visibility timeout (launch failures)."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_timeout, MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        outcomes = []
        for message in response.get("Messages", []):
            if self.stopping.is_set():
                break  # left invisible; SQS hands it out again after the timeout
            outcomes.append(self._process(message))
        return outcomes

    def _process(self, message: dict) -> Outcome:
        bound = log.bind(message_id=message["MessageId"])
        with VisibilityHeartbeat(self.sqs, self.queue_url, message["ReceiptHandle"], self.visibility_timeout):
            try:
                outcome = handle(message["Body"], self.launcher, message["MessageId"])
            except Exception as err:  # Prefect or Postgres unreachable: SQS redelivers it later
                outcome = Outcome("retry", f"{type(err).__name__}: {err}")
                bound.error("relay.retry", reason=outcome.reason)
                return outcome
            if outcome.action == "dead_letter":
                self.sqs.send_message(
                    QueueUrl=self.dead_letter_url, MessageBody=message["Body"],
                    MessageAttributes={
                        "reason": {"DataType": "String", "StringValue": outcome.reason[:1000]},
                        "source_message_id": {"DataType": "String", "StringValue": message["MessageId"]},
                    },
                )
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        bound.info(f"relay.{outcome.action}", reason=outcome.reason or None, flow_run_id=outcome.flow_run_id)
        return outcome

    def run_forever(self) -> None:
        """Poll until SIGTERM/SIGINT; the message in hand is finished first."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        log.info("relay.started", queue=self.queue_url)
        while not self.stopping.is_set():
            self.poll_once()
        log.info("relay.stopped")
