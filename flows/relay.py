"""SQS → Prefect relay: the Rails queue's messages (db/schemas/message.schema.json) acted on.

- `run`: one `create_video` flow run. Postgres decides what is a duplicate: a job whose
  recorded flow run is still active is not started again, and the Prefect idempotency key
  (job, start phase, the job row's version) makes a redelivered message map onto the run it
  already created.
- `edit`: one `edit-video` run for the job's pending edits; the key names the newest pending
  edit, so a redelivery maps onto the same run and a later batch gets its own.
- `cancel`: done here and now (flows.cancel): the job row and every run of the job.

A message is deleted only after it was acted on; malformed messages and unknown jobs go to the
dead-letter queue with the reason, so they never block the queue.
"""

from __future__ import annotations

import json
import signal
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
import structlog
from sqlmodel import Session

from db.contract import ContractError, check
from db.enums import EditStatus, JobStatus, Phase
from db.models import Edit, Job, Timeline
from db.session import session_scope
from flows.cancel import cancel_job
from flows.naming import job_tags, message_tag

log = structlog.get_logger(__name__)

CREATE_VIDEO_DEPLOYMENT = "create-video/create-video"
EDIT_VIDEO_DEPLOYMENT = "edit-video/edit-video"
ACTIVE_STATES = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})
MAX_BODY_BYTES = 8192  # a request is a few fields; anything larger is not ours


@dataclass(frozen=True)
class Request:
    """A message that matched the schema."""

    job_id: uuid.UUID
    action: Literal["run", "edit", "cancel"]
    start_phase: Phase | None = None
    stop_after: Phase | None = None


class BadMessage(ValueError):
    """Not a message we can act on; the reason goes with it to the dead-letter queue."""


def parse_message(body: str) -> Request:
    if len(body.encode()) > MAX_BODY_BYTES:
        raise BadMessage(f"body is {len(body.encode())} bytes; a message is at most {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise BadMessage(f"body is not JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise BadMessage("body must be a JSON object")
    try:
        check("message", data)
    except ContractError as err:
        raise BadMessage(str(err)) from None
    phase = lambda name: Phase(data[name]) if data.get(name) else None  # noqa: E731
    return Request(uuid.UUID(data["job_id"]), data["action"], phase("start_phase"), phase("stop_after"))


def idempotency_key(request: Request, job_version: str) -> str:
    """Same request against the same job state → same key → the same flow run."""
    stop = f":{request.stop_after}" if request.stop_after else ""
    return f"create-video:{request.job_id}:{request.start_phase or 'resume'}{stop}:{job_version}"


@dataclass
class PrefectLauncher:
    """Starts runs of the pipeline's deployments through the Prefect API.

    One API client for the relay's life and each deployment's id looked up once: a client per
    message cost a new connection and TLS context, ~0.3 s each on a busy 2-core machine, which
    made a burst of messages crawl (bench/results/load.md)."""

    deployment: str = CREATE_VIDEO_DEPLOYMENT
    edit_deployment: str = EDIT_VIDEO_DEPLOYMENT
    _client: Any = field(default=None, init=False, repr=False)
    _deployment_ids: dict[str, uuid.UUID] = field(default_factory=dict, init=False, repr=False)

    def _api(self) -> Any:
        if self._client is None:
            from prefect.client.orchestration import get_client

            self._client = get_client(sync_client=True).__enter__()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.__exit__(None, None, None)
            self._client = None

    def launch(self, deployment: str, parameters: dict, key: str, tags: list[str]) -> str:
        from prefect.exceptions import ObjectNotFound

        client = self._api()
        if deployment not in self._deployment_ids:
            self._deployment_ids[deployment] = client.read_deployment_by_name(deployment).id
        try:
            run = client.create_flow_run_from_deployment(
                self._deployment_ids[deployment], parameters=parameters, idempotency_key=key, tags=["relay", *tags],
            )
        except ObjectNotFound:  # deleted and deployed again under a new id: looked up on the redelivery
            del self._deployment_ids[deployment]
            raise
        return str(run.id)

    def is_active(self, flow_run_id: str) -> bool:
        from prefect.exceptions import ObjectNotFound

        try:
            run = self._api().read_flow_run(uuid.UUID(flow_run_id))
        except ObjectNotFound:
            return False
        return run.state is not None and run.state.type.value in ACTIVE_STATES


@dataclass
class Outcome:
    action: Literal["started", "duplicate", "cancelled", "ignored", "dead_letter", "retry"]
    reason: str = ""
    flow_run_id: str | None = None


def handle(body: str, launcher: PrefectLauncher, message_id: str = "") -> Outcome:
    """Decide and act on one message body. Raises only for failures worth a redelivery.

    Runs are tagged with the job, its listing and the message, so the UI finds them by any."""
    try:
        request = parse_message(body)
    except BadMessage as err:
        return Outcome("dead_letter", str(err))
    if request.action == "cancel":
        return _cancel(request)
    with session_scope() as session:
        job = session.get(Job, request.job_id, with_for_update=True)
        if job is None:
            return Outcome("dead_letter", f"unknown job {request.job_id}")
        tags = job_tags(job) + ([message_tag(message_id)] if message_id else [])
        if request.action == "edit":
            return _edit(session, job, launcher, tags)
        # a cancelled job's last run may still be Cancelling: the new run waits for it (flows.job_lock)
        if job.flow_run_id and job.status is not JobStatus.cancelled and launcher.is_active(job.flow_run_id):
            return Outcome("duplicate", "the job's flow run is still active", job.flow_run_id)
        key = idempotency_key(request, job.updated_at.isoformat() if job.updated_at else "new")
        parameters = {"job_id": str(request.job_id),
                      "start_phase": request.start_phase.value if request.start_phase else None}
        if request.stop_after:
            parameters["stop_after"] = request.stop_after.value
        run_id = launcher.launch(launcher.deployment, parameters, key, tags)
        job.flow_run_id = run_id
        session.add(job)
    return Outcome("started", flow_run_id=run_id)


def _edit(session: Session, job: Job, launcher: PrefectLauncher, tags: list[str]) -> Outcome:
    newest = session.execute(
        sa.select(sa.func.max(Edit.id)).join(Timeline, Timeline.id == Edit.timeline_id)
        .where(Timeline.job_id == job.id, Edit.status == EditStatus.pending)
    ).scalar()
    if newest is None:
        return Outcome("ignored", "the job has no pending edits (already applied or rejected)")
    run_id = launcher.launch(launcher.edit_deployment, {"job_id": str(job.id)}, f"edit-video:{job.id}:{newest}", tags)
    return Outcome("started", flow_run_id=run_id)


def _cancel(request: Request) -> Outcome:
    from flows.state import JobNotFound

    try:
        result = cancel_job(request.job_id)
    except JobNotFound:
        return Outcome("dead_letter", f"unknown job {request.job_id}")
    if not result.cancelled:
        return Outcome("ignored", result.reason)
    return Outcome("cancelled", f"stopped {len(result.stopped_runs)} runs")


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
    launcher: PrefectLauncher
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
        try:
            while not self.stopping.is_set():
                self.poll_once()
        finally:
            self.launcher.close()
        log.info("relay.stopped")
