"""Every tunable of the pipeline in one place, read from the environment and `.env`.

Names are `PICAIVID_*` except the two that the wider world already spells one way
(`DATABASE_URL`, and `AWS_ENDPOINT_URL`, which boto3 reads by itself).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PICAIVID_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- where state and binaries live -------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PICAIVID_DATABASE_URL"),
        description="Any PostgreSQL URL. Unset: an embedded PostgreSQL under data_dir.",
    )
    data_dir: Path = Field(
        default=Path(".picaivid"),
        description="Local working folder: embedded database, default artifact store, caches.",
    )
    storage_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix or file:///path. Unset: file://<data_dir>/artifacts.",
    )

    # --- Phase 1 models -------------------------------------------------------------------
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = Field(
        default=None,
        description="open_clip pretrained tag (e.g. laion2b_s34b_b79k) or a local checkpoint "
        "path. Unset: no learned weights, the classical fallback runs.",
    )
    depth_model: str = Field(default="Intel/dpt-hybrid-midas", description="DPT/MiDaS hub id.")
    depth_weights: str | None = Field(
        default=None,
        description="Hub id or local folder of DPT/MiDaS weights. Unset: the layout-prior fallback.",
    )
    analysis_max_side: int = Field(default=512, description="Longest side photos are analysed at.")
    max_image_pixels: int = Field(default=80_000_000, description="Decompression-bomb guard.")
    enable_colmap: bool = False
    analysis_batch_size: int = Field(
        default=16, description="Photos per model forward pass in Phase 1 (CLIP and depth)."
    )

    # --- Phase 2 generation ----------------------------------------------------------------
    generator: str = Field(
        default="auto",
        description="auto (LTX-2 when weights and a GPU exist, else CPU parallax), ltx2, parallax.",
    )
    ltx2_model: str | None = Field(
        default=None, description="LTX-2 diffusers hub id or local folder. Unset: no LTX-2."
    )
    ltx2_lora_strength: float = 0.9
    clip_fps: int = 30
    clip_width: int = 1920
    clip_height: int = 1080
    max_render_attempts: int = 4
    gpu_render_concurrency: int = 4

    # --- Phase 4 assembly ------------------------------------------------------------------
    loudness_lufs: float = -14.0
    true_peak_dbtp: float = -1.0

    # --- orchestration ------------------------------------------------------------------
    queue_url: str | None = Field(default=None, description="SQS queue Rails sends run requests to.")
    dead_letter_queue_url: str | None = Field(default=None, description="Where unusable messages go.")

    # --- cost control ------------------------------------------------------------------------
    gpu_hours_daily_alert: float = 24.0
    gpu_seconds_per_job_alert: float = 1800.0

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir.resolve() / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
