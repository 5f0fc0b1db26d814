"""Fault fixtures: S3 behind a fault-injecting proxy (moto in server mode behind it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.s3_proxy import FaultyS3Proxy
from tests.orchestration.conftest import prefect_api  # noqa: F401 - the job-level tests run real flows


@pytest.fixture
def s3_proxy(aws: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyS3Proxy]:
    """boto3 pointed at the proxy, which forwards to moto; no faults until a test sets `rate`."""
    from tasks.settings import get_settings

    proxy = FaultyS3Proxy(aws)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.start())
    get_settings.cache_clear()
    yield proxy
    proxy.stop()


@pytest.fixture
def faulty_bucket(s3_proxy: FaultyS3Proxy, env, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, made the artifact store, reached through the proxy."""
    import uuid

    import boto3

    from tasks.settings import get_settings

    name = f"picaivid-faults-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    monkeypatch.setenv("PICAIVID_STORAGE_URL", f"s3://{name}/picaivid")
    get_settings.cache_clear()
    return name
