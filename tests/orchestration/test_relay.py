"""The SQS relay against moto's SQS over HTTP, a real Prefect API and real PostgreSQL."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from db.models import Job
from db.session import session_scope
from flows.relay import BadMessage, PrefectLauncher, Relay, parse_message


@pytest.fixture
def queues(aws: str) -> tuple[str, str]:
    sqs = boto3.client("sqs")
    name = uuid.uuid4().hex[:8]
    dlq = sqs.create_queue(QueueName=f"dlq-{name}")["QueueUrl"]
    main = sqs.create_queue(QueueName=f"jobs-{name}")["QueueUrl"]
    return main, dlq


def _job() -> uuid.UUID:
    with session_scope() as s:
        job = Job()
        s.add(job)
    return job.id


def _relay(queues, deployment: str) -> Relay:
    return Relay(queues[0], queues[1], PrefectLauncher(deployment), wait_seconds=1, visibility_timeout=30)


def _drain(relay: Relay, expected: int, rounds: int = 10) -> list:
    """Poll until `expected` messages were handled (SQS may hand them out over several polls)."""
    outcomes = []
    for _ in range(rounds):
        outcomes += relay.poll_once()
        if len(outcomes) >= expected:
            break
    return outcomes


@pytest.mark.parametrize(
    "body,reason",
    [
        ("not json", "not JSON"),
        ("[1,2]", "JSON object"),
        (json.dumps({"action": "run"}), "job_id"),
        (json.dumps({"job_id": "x", "action": "run"}), "job_id"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "delete"}), "action"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "run", "start_phase": "paint"}), "start_phase"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "run", "extra": 1}), "extra"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "cancel", "start_phase": "render"}), "start_phase"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "run", "stop_after": 3}), "stop_after"),
        (json.dumps({"job_id": str(uuid.uuid4()), "action": "run", "pad": "x" * 9000}), "at most 8192"),
    ],
)
def test_parse_refuses_with_reason(body: str, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        parse_message(body)


def test_relay_starts_one_run_per_video_and_dead_letters_the_rest(
    db: str, queues: tuple[str, str], create_video_deployment: str
) -> None:
    from prefect.client.orchestration import get_client

    sqs = boto3.client("sqs")
    main, dlq = queues
    job_id = _job()
    body = json.dumps({"job_id": str(job_id), "action": "run"})
    sent = {sqs.send_message(QueueUrl=main, MessageBody=body)["MessageId"],
            sqs.send_message(QueueUrl=main, MessageBody=body)["MessageId"]}  # Rails (or SQS) sent it twice
    sqs.send_message(QueueUrl=main, MessageBody="{broken")
    sqs.send_message(QueueUrl=main, MessageBody=json.dumps({"job_id": str(uuid.uuid4()), "action": "run"}))

    outcomes = _drain(_relay(queues, create_video_deployment), expected=4)
    actions = sorted(o.action for o in outcomes)
    assert actions == ["dead_letter", "dead_letter", "duplicate", "started"]

    with session_scope() as s:
        flow_run_id = s.get(Job, job_id).flow_run_id
    started = [o for o in outcomes if o.action == "started"][0]
    assert flow_run_id == started.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        run = client.read_flow_run(uuid.UUID(flow_run_id))
    assert [r for r in runs if r.parameters.get("job_id") == str(job_id)] == [run]
    assert run.parameters == {"job_id": str(job_id), "start_phase": None}
    # the UI finds the run by the job and by the message that asked for it
    message_tags = {t for t in run.tags if t.startswith("message:")}
    assert {"relay", f"job:{job_id}"} <= set(run.tags) and {t.split(":", 1)[1] for t in message_tags} <= sent
    assert len(message_tags) == 1

    dead: list = []
    for _ in range(5):
        dead += sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                    WaitTimeSeconds=1, VisibilityTimeout=60).get("Messages", [])
        if len(dead) >= 2:
            break
    reasons = sorted(m["MessageAttributes"]["reason"]["StringValue"] for m in dead)
    assert reasons[0].startswith("body is not JSON") and reasons[1].startswith("unknown job")
    # the main queue is empty: nothing blocks it
    attrs = sqs.get_queue_attributes(QueueUrl=main, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_redelivery_after_a_crash_maps_to_the_same_run(db: str, create_video_deployment: str) -> None:
    """The relay died after creating the run but before recording it: the same key returns it."""
    from flows.relay import handle, idempotency_key

    job_id = _job()
    launcher = PrefectLauncher(create_video_deployment)
    body = json.dumps({"job_id": str(job_id), "action": "run", "start_phase": "render"})
    with session_scope() as s:
        version = s.get(Job, job_id).updated_at.isoformat()
    params = {"job_id": str(job_id), "start_phase": "render", "stop_after": None}
    orphan = launcher.launch(create_video_deployment, params, idempotency_key(parse_message(body), version), [])
    outcome = handle(body, launcher)  # the redelivered message
    assert outcome.action == "started"
    assert outcome.flow_run_id == orphan


def test_launch_failure_leaves_the_message_for_redelivery(db: str, queues: tuple[str, str], prefect_api: None) -> None:
    sqs = boto3.client("sqs")
    job_id = _job()
    sqs.send_message(QueueUrl=queues[0], MessageBody=json.dumps({"job_id": str(job_id), "action": "run"}))
    relay = Relay(queues[0], queues[1], PrefectLauncher("no-such/deployment"), wait_seconds=1, visibility_timeout=2)
    outcomes = _drain(relay, expected=1, rounds=1)
    assert [o.action for o in outcomes] == ["retry"]
    attrs = sqs.get_queue_attributes(QueueUrl=queues[0], AttributeNames=["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessages"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessagesNotVisible"]) + int(attrs["ApproximateNumberOfMessages"]) == 1
    with session_scope() as s:
        assert s.get(Job, job_id).flow_run_id is None
