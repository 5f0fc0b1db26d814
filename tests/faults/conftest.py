"""Fault fixtures: S3 behind a fault-injecting proxy (moto in server mode behind it)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

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
    import boto3

    from tasks.settings import get_settings

    name = f"picaivid-faults-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    monkeypatch.setenv("PICAIVID_STORAGE_URL", f"s3://{name}/picaivid")
    get_settings.cache_clear()
    return name


@pytest.fixture(scope="session")
def listing(tmp_path_factory: pytest.TempPathFactory):
    """The sample house at 320 px, plus `few/`: five of its photos (every phase runs, quickly)."""
    from flows.dev.sample_listing import make_listing

    made = make_listing(tmp_path_factory.mktemp("listing"), seed=3, size=(320, 214), music_seconds=20)
    few = made.root / "few"
    few.mkdir()
    for photo in sorted((made.root / "photos").iterdir())[:5]:
        shutil.copy(photo, few / photo.name)
    return made


@pytest.fixture
def small_render(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """320x180 clips and ultrafast finals: the production code paths, a fraction of the time."""
    from tasks.settings import get_settings

    monkeypatch.setenv("PICAIVID_CLIP_WIDTH", "320")
    monkeypatch.setenv("PICAIVID_CLIP_HEIGHT", "180")
    monkeypatch.setenv("PICAIVID_ASSEMBLE_X264_PRESET", "ultrafast")
    for limit in ("PICAIVID_UPSCALE_SOFT_LIMIT", "PICAIVID_UPSCALE_HARD_LIMIT"):  # 320 px photos: not judged small
        monkeypatch.setenv(limit, '{"16x9": 10, "9x16": 10, "1x1": 10}')
    get_settings.cache_clear()
