"""Shared fixtures: a real embedded PostgreSQL, a file artifact store, and moto in server mode."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    # Keep torch from fighting pytest for the machine's two cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repo; tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real PostgreSQL for the session (pgserver), or the one DATABASE_URL names."""
    from db.session import start_embedded_postgres

    external = os.environ.get("PICAIVID_TEST_DATABASE_URL")
    if external:
        return external
    # Not under pytest's own temp tree: pytest locks that to 0700 at exit, before the server
    # (running as its own system user) is stopped.
    return start_embedded_postgres(Path(tempfile.mkdtemp(prefix="picaivid-test-pg-")))


@pytest.fixture(scope="session")
def migrated_db_url(pg_server_url: str) -> str:
    """A fresh database in that server, migrated to head through alembic."""
    from db.migrate import upgrade

    url = empty_database(pg_server_url, "test")
    upgrade(url)
    return url


def empty_database(server_url: str, purpose: str) -> str:
    """A new, empty database on the test server (unmigrated), named for what it is for."""
    from db.session import sqlalchemy_url, with_database

    name = f"picaivid_{purpose}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return with_database(server_url, name)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated settings: a private data dir and file artifact store for this test."""
    from tasks.settings import get_settings

    data_dir = tmp_path / "picaivid"
    monkeypatch.setenv("PICAIVID_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PICAIVID_STORAGE_URL", (tmp_path / "artifacts").as_uri())
    monkeypatch.setenv("PICAIVID_DEPTH_DEVICE", "cpu")  # a GPU box too: no reaching for hub weights
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


@pytest.fixture
def db(env: Path, migrated_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The migrated test database as DATABASE_URL, emptied after each test."""
    from db.models import ALL_TABLES
    from db.session import engine_for
    from tasks.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", migrated_db_url)
    get_settings.cache_clear()
    yield migrated_db_url
    with engine_for(migrated_db_url).begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(ALL_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def store(env: Path):
    from tasks.storage import get_store

    return get_store()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on loopback: S3 and SQS spoken over real HTTP by boto3."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS environment pointed at moto, with throwaway credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


@pytest.fixture
def s3_bucket(aws: str) -> str:
    import boto3

    name = f"picaivid-test-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session", autouse=True)
def no_stray_prefect_server() -> Iterator[None]:
    """A CLI `run` in a test without a Prefect API starts the shared local server
    (flows.local_api); one this session started is stopped at its end."""
    from flows.local_api import prefect_home, running_server, stop_local_api

    home = prefect_home()
    already = running_server(home)
    yield
    if already is None:
        stop_local_api(home)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A temporary Prefect API (its own SQLite, as Prefect's test harness makes), one per session:
    defined once here, because a second harness in the same process would leave task-run events
    going to the first server."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
