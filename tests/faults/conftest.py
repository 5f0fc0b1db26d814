"""Fault tests: small jobs run by real `picaivid run` processes against a shared local Prefect
server (flows.local_api, as an engineer's commands use it), on a home of this session's own."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fault_listing(tmp_path_factory: pytest.TempPathFactory):
    """The sample house at 320 px, with a short track: each phase still does real work, quickly."""
    from tasks.sample_listing import make_listing

    return make_listing(tmp_path_factory.mktemp("fault-listing"), seed=1, size=(320, 214), music_seconds=12)


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
    monkeypatch.setenv("PICAIVID_CLIP_WIDTH", "320")
    monkeypatch.setenv("PICAIVID_CLIP_HEIGHT", "180")
    for limit in ("PICAIVID_UPSCALE_SOFT_LIMIT", "PICAIVID_UPSCALE_HARD_LIMIT"):  # 320 px photos: not judged small
        monkeypatch.setenv(limit, '{"16x9": 10, "9x16": 10, "1x1": 10}')
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
