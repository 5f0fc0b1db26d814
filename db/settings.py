"""The settings db/ reads, read when a connection is made (not at import).

The pipeline's full settings (tasks.settings.Settings) extend this class, so each field is
defined once and both read the same environment (`DATABASE_URL`, `PICAIVID_*`, `.env`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PICAIVID_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PICAIVID_DATABASE_URL"),
        description="Any PostgreSQL URL. Unset: an embedded PostgreSQL under data_dir.",
    )
    data_dir: Path = Field(
        default=Path(".picaivid"),
        description="Local working folder: embedded database, default artifact store, caches.",
    )
    db_retry_s: float = Field(
        default=60.0, ge=0,
        description="How long a phase's edge (the job row, the job lock, a timeline's status) keeps retrying an "
        "unreachable database, with backoff, before the phase fails: a restart or failover takes ~30 s.",
    )
