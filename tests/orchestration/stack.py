"""The local stack's fixtures and helpers, shared by the tests that drive it (test_local_stack,
test_rails_e2e, tests/faults/test_load): each imports the fixtures it uses by name.

The stack fixtures are module-scoped, so each of those modules starts one stack of its own (an
imported fixture is set up once per importing module). The Prefect API fixture (`prefect_api`)
stays the root conftest's alone.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest

from db.models import Job
from db.session import session_scope
from flows.dev.sample_listing import make_listing
from flows.local_stack import LocalStack, StackConfig

RUN_TIMEOUT_S = 480


@pytest.fixture(scope="module")
def bucket(moto_endpoint: str) -> str:
    name = f"picaivid-e2e-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def pipeline_settings(migrated_db_url: str, moto_endpoint: str, bucket: str,
                      tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the test process and every stack process share: database, S3 on moto, small clips."""
    return {
        "DATABASE_URL": migrated_db_url,
        "PICAIVID_STORAGE_URL": f"s3://{bucket}/e2e",
        "PICAIVID_DATA_DIR": str(tmp_path_factory.mktemp("stack-data")),
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PICAIVID_CLIP_WIDTH": "320",
        "PICAIVID_CLIP_HEIGHT": "180",
        "PICAIVID_UPSCALE_SOFT_LIMIT": '{"16x9": 10, "9x16": 10, "1x1": 10}',  # 320 px photos
        "PICAIVID_UPSCALE_HARD_LIMIT": '{"16x9": 10, "9x16": 10, "1x1": 10}',
        "PICAIVID_RENDER_DISPATCH_RETRY_DELAYS": "[1]",
        "PICAIVID_RENDER_POLL_S": "0.5",
        "PICAIVID_RENDER_ORPHAN_GRACE_S": "10",
        "PICAIVID_RENDER_HEARTBEAT_S": "0.5",
        "PICAIVID_RENDER_STALL_S": "6",
        "OMP_NUM_THREADS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }


@pytest.fixture(scope="module")
def stack(pipeline_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    from tests.conftest import _free_port

    config = StackConfig(root=tmp_path_factory.mktemp("stack"), port=_free_port(), ui=True,  # the browser test's
                         env=pipeline_settings, worker_poll_seconds=1.0, gpu_slots=1)
    with LocalStack(config) as running:
        yield running


@pytest.fixture
def on_stack(db: str, stack: LocalStack, pipeline_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    """This test process configured like the stack's processes and pointed at its API."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.settings import get_settings

    for key, value in pipeline_settings.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    with temporary_settings({PREFECT_API_URL: stack.config.api_url}):
        yield stack
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory):
    return make_listing(tmp_path_factory.mktemp("listing"), seed=1, size=(320, 214), music_seconds=30)


@pytest.fixture
def queues(on_stack: LocalStack) -> dict[str, str]:
    sqs = boto3.client("sqs")
    tag = uuid.uuid4().hex[:8]
    return {"queue": sqs.create_queue(QueueName=f"jobs-{tag}")["QueueUrl"],
            "dlq": sqs.create_queue(QueueName=f"jobs-dlq-{tag}")["QueueUrl"]}


@pytest.fixture
def relay(on_stack: LocalStack, queues: dict[str, str]) -> Iterator[subprocess.Popen]:
    """`picaivid relay` as its own process, with the stack's environment."""
    proc = on_stack.start_relay(queues["queue"], queues["dlq"], wait_seconds=1)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    on_stack.relay = None


def send(queue_url: str, body: str) -> None:
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=body)


def wait_for(what: str, check: Callable[[], object], timeout_s: float, stack: LocalStack, poll_s: float = 0.5) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        time.sleep(poll_s)
    logs = "\n".join(f"--- {name}\n{stack.log_tail(name)}" for name in ("worker-picaivid-cpu", "worker-picaivid-gpu"))
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{logs}")


def job_row(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def flow_run(run_id: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(run_id))


def finished_run(job_id: uuid.UUID, stack: LocalStack):
    """The job's create-video run, once it has ended (it must have completed)."""
    def ended():
        run_id = job_row(job_id).flow_run_id
        run = flow_run(run_id) if run_id else None
        return run if run is not None and run.state.is_final() else None

    run = wait_for(f"job {job_id}'s create-video run to end", ended, RUN_TIMEOUT_S, stack, poll_s=2)
    assert run.state.is_completed(), f"{run.state.name}: {run.state.message}\n{stack.log_tail('worker-picaivid-cpu', 80)}"
    return run
