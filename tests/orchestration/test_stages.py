"""Stages: Prefect tasks inside a flow run, plain calls outside; only I/O stages retry, and only
failures another try can cure."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from prefect import flow

from tasks.stages import is_transient, stage
from tasks.storage import ArtifactNotFound

calls: list[str] = []


@stage("read", io=True)
def read(fails: list[BaseException]) -> str:
    calls.append("read")
    if fails:
        raise fails.pop(0)
    return "ok"


@stage("compute")
def compute(fails: list[BaseException]) -> str:
    calls.append("compute")
    if fails:
        raise fails.pop(0)
    return "ok"


@flow
def reading(fails: list) -> str:
    return read(fails)


@flow
def computing(fails: list) -> str:
    return compute(fails)


@pytest.fixture(autouse=True)
def fresh() -> None:
    calls.clear()


def _throttled() -> ClientError:
    return ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")


def test_what_counts_as_transient() -> None:
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError()) and is_transient(_throttled())
    assert not is_transient(ArtifactNotFound("s3://b/k")) and not is_transient(ValueError("bad input"))
    assert not is_transient(ClientError({"Error": {"Code": "AccessDenied"}}, "GetObject"))


def test_outside_a_flow_a_stage_is_a_plain_call() -> None:
    with pytest.raises(ConnectionError):
        read([ConnectionError("reset")])  # no Prefect, no retry
    assert read([]) == "ok" and calls == ["read", "read"]


def test_an_io_stage_retries_a_transient_failure(prefect_api: None) -> None:
    assert reading([ConnectionError("reset"), _throttled()]) == "ok"
    assert calls == ["read"] * 3


def test_an_io_stage_does_not_retry_a_bad_input(prefect_api: None) -> None:
    with pytest.raises(ArtifactNotFound):
        reading([ArtifactNotFound("s3://bucket/missing.jpg")])
    assert calls == ["read"]


def test_a_compute_stage_never_retries(prefect_api: None) -> None:
    with pytest.raises(ConnectionError):
        computing([ConnectionError("reset")])
    assert calls == ["compute"]
