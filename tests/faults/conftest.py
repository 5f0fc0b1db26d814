"""Fault fixtures: S3 behind a fault-injecting proxy (moto in server mode behind it), a private
PostgreSQL these tests may stop, and small jobs run by real `picaivid run` processes against a
shared local Prefect server (flows.local_api, as an engineer's commands use it)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.s3_proxy import FaultyS3Proxy


def _small_clips(monkeypatch: pytest.MonkeyPatch) -> None:
    """320x180 clips from 320 px photos (not judged small): the production paths, quickly."""
    monkeypatch.setenv("PICAIVID_CLIP_WIDTH", "320")
    monkeypatch.setenv("PICAIVID_CLIP_HEIGHT", "180")
    for limit in ("PICAIVID_UPSCALE_SOFT_LIMIT", "PICAIVID_UPSCALE_HARD_LIMIT"):
        monkeypatch.setenv(limit, '{"16x9": 10, "9x16": 10, "1x1": 10}')


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


@pytest.fixture(scope="session")
def fault_listing(tmp_path_factory: pytest.TempPathFactory):
    """The sample house at 320 px, with a short track: each phase still does real work, quickly."""
    from flows.dev.sample_listing import make_listing

    return make_listing(tmp_path_factory.mktemp("fault-listing"), seed=1, size=(320, 214), music_seconds=12)


@pytest.fixture
def small_render(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small clips and ultrafast finals."""
    from tasks.settings import get_settings

    _small_clips(monkeypatch)
    monkeypatch.setenv("PICAIVID_ASSEMBLE_X264_PRESET", "ultrafast")
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def cli_prefect_home() -> Iterator[Path]:
    """One Prefect home for every run these tests start; its server is stopped at the end."""
    from flows.local_api import stop_local_api

    home = Path(tempfile.mkdtemp(prefix="picaivid-faults-prefect-"))
    yield home
    stop_local_api(home)


@pytest.fixture
def small_runs(env: Path, cli_prefect_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small clips, and the runs' Prefect home (no API URL: the CLI's shared local server)."""
    import os

    from tasks.settings import get_settings

    for name in [n for n in os.environ if n.startswith("PREFECT_") and n != "PREFECT_LOGGING_LEVEL"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(cli_prefect_home))
    _small_clips(monkeypatch)
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def private_postgres():
    """A PostgreSQL only these tests use, so they may stop it (tests.faults.outage)."""
    from tests.faults.outage import PrivatePostgres

    return PrivatePostgres(Path(tempfile.mkdtemp(prefix="picaivid-faults-pg-")))


@pytest.fixture
def private_db(env: Path, private_postgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, migrated database on the private server as DATABASE_URL."""
    from db.migrate import upgrade
    from tasks.settings import get_settings
    from tests.conftest import empty_database

    url = empty_database(private_postgres.url, "faults")
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    return url
