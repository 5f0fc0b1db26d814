"""Every tunable of the pipeline in one place, read from the environment and `.env`.

Names are `PICAIVID_*` except the two that the wider world already spells one way
(`DATABASE_URL`, and `AWS_ENDPOINT_URL`, which boto3 reads by itself).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from db.settings import DatabaseSettings


class Settings(DatabaseSettings):
    """Everything the pipeline reads; the database's own two settings come first (db.settings)."""

    # --- where state and binaries live (database_url, data_dir: DatabaseSettings) -----------
    storage_url: str | None = Field(
        default=None,
        description="s3://bucket/prefix or file:///path. Unset: file://<data_dir>/artifacts.",
    )

    s3_retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard",
        description="botocore's retry mode for every S3 call: standard (exponential backoff with jitter, "
        "capped at 20 s, and a client-wide retry quota) or adaptive (the same plus client-side rate limiting "
        "once S3 throttles).",
    )
    s3_max_attempts: int = Field(
        default=5, ge=1, le=20,
        description="Tries per S3 request, the first included (botocore's max_attempts); a download whose "
        "body arrives short or damaged is fetched again up to as many times. With 20 % of requests failing, "
        "5 tries leave one request in 3,000 failing (0.2**5), which the I/O stage's own retries then cover; "
        "an unreachable store fails a request after about 15 s.",
    )
    s3_connect_timeout_s: float = Field(default=5.0, gt=0, description="Seconds to open a connection to S3.")
    s3_read_timeout_s: float = Field(default=60.0, gt=0, description="Seconds S3 may stay silent mid-request.")
    allowed_input_prefixes: list[str] | None = Field(
        default=None,
        description="URI prefixes workers may read photos and music from (JSON list, e.g. "
        '["s3://listings-bucket/uploads/"]). Unset: the artifact store\'s own bucket (S3) or folder (local). '
        "The store's own prefix is always readable. file:// URIs are read only when the store itself is "
        "file:// (local mode), and only under these folders; anything else is refused with a reason.",
    )
    max_download_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0,
        description="Largest object a worker downloads (photos, music, clips); larger ones are refused "
        "with their size before their bytes are read.",
    )

    # --- Phase 1 models -------------------------------------------------------------------
    clip_model: str = "ViT-B-32"
    clip_pretrained: str | None = Field(
        default=None,
        description="open_clip pretrained tag (e.g. laion2b_s34b_b79k) or a local checkpoint "
        "path. Unset: no learned weights, the classical fallback runs.",
    )
    depth_weights: str | None = Field(
        default=None,
        description="MiDaS weights used on any device, over the per-device choice below: a MiDaS v2.1 "
        "small .pt checkpoint (midas_v21_small_256.pt) or a DPT hub id / local folder (MiDaS v3/v3.1).",
    )
    depth_weights_cpu: str | None = Field(
        default=None,
        description="MiDaS weights when depth runs on a CPU and depth_weights is unset. Give MiDaS v2.1 "
        "small (midas_v21_small_256.pt): 40 photos in ~10 s on 2 cores, where DPT-Hybrid takes ~120 s "
        "(bench/results/analyze.md). Unset: the layout-prior fallback.",
    )
    depth_weights_cuda: str | None = Field(
        default="Intel/dpt-hybrid-midas",
        description="MiDaS weights when depth runs on CUDA and depth_weights is unset: DPT-Hybrid "
        "(MiDaS v3) from the hub or a local folder. Empty: the layout-prior fallback.",
    )
    depth_device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where the depth network runs; auto: CUDA when torch sees a GPU."
    )
    analysis_max_side: int = Field(default=512, description="Longest side photos are analysed at.")
    max_image_pixels: int = Field(
        default=250_000_000,
        description="Hard limit on any photo's pixels (decompression-bomb guard); JPEGs up to it are "
        "decoded at reduced scale (tasks.media.images).",
    )
    max_full_decode_pixels: int = Field(
        default=100_000_000,
        description="Limit for formats decoded whole before shrinking (PNG, WebP, TIFF, HEIC, ...).",
    )
    upscale_soft_limit: dict[str, float] = Field(
        default={"16x9": 2.75, "9x16": 2.75, "1x1": 2.75},
        description="Per output format: a photo whose frame-filling crop must be enlarged more than "
        "this is used only for short, static-safe shots (plain 2D push in). Published listing photos "
        "are often 720x480 or 900x600 (2.1-2.7x for 1080p), so those still get every motion.",
    )
    upscale_hard_limit: dict[str, float] = Field(
        default={"16x9": 4.0, "9x16": 4.0, "1x1": 4.0},
        description="Per output format: past this enlargement a photo is refused for video, with its size.",
    )
    soft_limit_max_seconds: float = Field(
        default=3.0, description="Longest shot of a photo between the soft and the hard upscale limit."
    )
    panorama_min_aspect: float = Field(
        default=2.4, description="Width / height from which a photo is a panorama: panned across its width."
    )
    duplicate_max_hash_distance: int = Field(
        default=8,
        description="Perceptual-hash (64-bit pHash) Hamming distance up to which two photos are near "
        "duplicates. Measured on ../shared/data/listings/houses: re-encodes, CMYK, WebP, resizes and "
        "brightness changes 0 bits, a 10 % crop 6, a 20 % crop 14; distinct photos 14 or more.",
    )
    duplicate_min_embedding_similarity: float = Field(
        default=0.96,
        description="Cosine similarity of learned (CLIP) embeddings from which two photos with a close "
        "hash are near duplicates (crops); the non-learned fallback embedding never decides.",
    )
    duplicate_max_crop_hash_distance: int = Field(
        default=12, description="Hash distance still checked against the embedding rule (crops move the hash)."
    )
    enable_colmap: bool = False
    analysis_batch_size: int = Field(
        default=16, description="Photos per model forward pass in Phase 1 (CLIP and depth)."
    )

    # --- Phase 1 rules: quality gates and the motion plan (tasks.analyze.plan) -------------
    min_sharpness: float = Field(
        default=0.35, description="Quality gate (0..1, see tasks.analyze.quality); no manual flag overrides it."
    )
    min_exposure: float = Field(default=0.25, description="Quality gate, like min_sharpness.")
    tier_flat_max_variance: float = Field(
        default=0.008, description="Unit-depth variance below this is a flat scene: low tier."
    )
    tier_flat_min_planarity: float = Field(
        default=0.9, description="Planarity at or above this is a flat scene: low tier."
    )
    tier_medium_min_layering: float = Field(
        default=2, description="Depth planes a room needs for a two-image reveal (medium tier)."
    )
    tier_high_min_layering: float = Field(
        default=3, description="Depth planes a room needs for multi-image synthesis (high tier)."
    )
    tier_high_min_variance: float = Field(
        default=0.04, description="Unit-depth variance a room needs for the high tier."
    )
    tier_high_min_images: int = Field(default=3, description="Views a room needs for the high tier.")
    tier_min_overlap: float = Field(
        default=0.2,
        description="Where COLMAP assessed overlap, less than this limits the room to the low tier.",
    )

    # --- Phase 2 generation ----------------------------------------------------------------
    generator: str = Field(
        default="auto",
        description="auto (LTX-2 when weights and a GPU exist, else CPU parallax), ltx2, parallax.",
    )
    ltx2_model: str | None = Field(
        default=None, description="LTX-2 diffusers hub id or local folder. Unset: no LTX-2."
    )
    ltx2_lora_strength: float = Field(
        default=1.0, description="Camera LoRA strength (1.0, as the LTX-2 camera LoRA cards run them)."
    )
    ltx2_camera_loras: dict[str, str] = Field(
        default_factory=lambda: {
            move: f"Lightricks/LTX-2-19b-LoRA-Camera-Control-{repo}/ltx-2-19b-lora-camera-control-{file}.safetensors"
            for move, repo, file in (
                ("dolly_in", "Dolly-In", "dolly-in"),
                ("dolly_out", "Dolly-Out", "dolly-out"),
                ("dolly_left", "Dolly-Left", "dolly-left"),
                ("dolly_right", "Dolly-Right", "dolly-right"),
            )
        },
        description="Camera move (dolly_in, dolly_out, dolly_left, dolly_right) to its LTX-2 19B LoRA: "
        "owner/repo/file.safetensors on the hub, or a local file or folder. A move left out moves by prompt alone.",
    )
    ltx2_distilled_lora: str | None = Field(
        default="Lightricks/LTX-2/ltx-2-19b-distilled-lora-384.safetensors",
        description="The LTX-2 distilled LoRA (hub owner/repo/file or local path): the distilled and two_stage "
        "recipes need it.",
    )
    ltx2_image_strength: float = Field(
        default=0.8, description="How strongly a photo pins its frame (0.8, the camera LoRA cards' image strength)."
    )
    ltx2_recipe_by_tier: dict[Literal["low", "medium", "high"], Literal["distilled", "two_stage", "full"]] = Field(
        default_factory=lambda: {"low": "distilled", "medium": "distilled", "high": "distilled"},
        description="Confidence tier (low, medium, high) to LTX-2 recipe (distilled, two_stage, full). Default: the "
        "cheapest everywhere (bench/results/ltx2_cost.md); two_stage adds guided sampling at half size.",
    )
    ltx2_max_pixels: int = Field(
        default=1280 * 736,
        description="Pixel budget of LTX-2's full-size generation (two-stage recipes run their first stage at half "
        "each side); frames are then resized to the clip's size.",
    )

    @field_validator("ltx2_recipe_by_tier")
    @classmethod
    def _every_tier_has_a_recipe(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"low", "medium", "high"} - set(value)
        if missing:
            raise ValueError(f"name a recipe for every tier, missing {', '.join(sorted(missing))}")
        return value
    clip_fps: int | None = Field(default=None, description="Clip frame rate; unset: the 16:9 format's "
                                 "(tasks.domain.formats).")
    clip_width: int | None = Field(default=None, description="A smaller 16:9 render width (tests, dry runs); "
                                   "other formats shrink alike. Unset: the format's own size.")
    clip_height: int | None = Field(default=None, description="The same for the 16:9 render height.")
    max_render_attempts: int = 4
    gpu_render_concurrency: int = Field(
        default=2,
        description="Clips of one job in flight at once (deployment dispatch): a per-job cap, so one big listing "
        "cannot take every GPU; the GPU work pool's concurrency limit caps all jobs together.",
    )
    inline_render_concurrency: int | None = Field(
        default=None, ge=1,
        description="Clips rendered at once by inline dispatch (threads of the render phase). Unset: one "
        "per CPU core (bench/results/pipeline.md).",
    )
    render_dispatch: str = Field(
        default="inline",
        description="inline: render clips in the phase's own process (laptop, ephemeral mode); "
        "deployment: one render-clip flow run per clip on the GPU work pool.",
    )
    render_clip_deployment: str = "render-clip/render-clip"
    render_dispatch_retries: int = Field(default=3, description="Re-dispatches of an interrupted clip (Spot).")
    render_poll_s: float = Field(default=5.0, description="How often a dispatcher checks its render-clip run.")
    render_orphan_grace_s: float = Field(
        default=60.0,
        description="A render-clip run still unreported this long after its clip row ended is marked "
        "Crashed (its machine vanished) and the clip re-dispatched.",
    )
    render_heartbeat_s: float = Field(default=15.0, description="How often a clip in work touches its row.")
    render_stall_s: float = Field(
        default=180.0,
        description="A clip row in work and silent this long has lost its render (machine gone without a "
        "word): its run is marked Crashed and the clip re-dispatched. Longer than the SIGTERM grace.",
    )
    render_run_timeout_s: float = Field(
        default=3600.0,
        description="A render-clip run still running this long (counted from when it started running, not "
        "from when it was queued) is cancelled, so its machine stops, and the clip re-dispatched.",
    )
    render_queue_timeout_s: float = Field(
        default=7200.0,
        description="A render-clip run still waiting for a GPU this long (Scheduled or Pending, e.g. no Spot "
        "capacity) is cancelled and the job fails with a 'no GPU capacity' error. Longer than the run timeout: "
        "waiting minutes for Spot is normal.",
    )
    render_dispatch_retry_delays: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 180.0],
        description="Seconds before each re-dispatch (the last repeats): time for Spot capacity to come back.",
    )
    clip_crf: int = Field(default=18, description="x264 CRF of rendered clips: lower is better and bigger.")
    clip_x264_preset: str = Field(
        default="ultrafast",
        description="x264 preset of rendered clips (intermediates, re-encoded by assembly). ultrafast costs a "
        "third less CPU than superfast and decodes a little faster; the validator judges the frames as "
        "rendered (tasks.render.analysis_frames), not this encode, so its blockier frames no longer move "
        "clip verdicts (bench/results/pipeline.md).",
    )
    sigterm_grace_s: float = Field(
        default=25.0,
        description="After SIGTERM a render worker hard-exits if it has not stopped cleanly by then. Below "
        "the 30 s after which `prefect flow-run execute` SIGKILLs its engine, itself below the containers' "
        "stopTimeout (120 s, Spot's notice): the chain is in infra/README.md, 'Spot interruptions'.",
    )

    # --- Phase 4 assembly ------------------------------------------------------------------
    ffmpeg: str | None = Field(
        default=None,
        description="ffmpeg binary (path or name). Unset: ffmpeg on PATH, else imageio-ffmpeg's build.",
    )
    loudness_lufs: float = Field(default=-14.0, description="Integrated loudness of the final mix.")
    true_peak_dbtp: float = Field(default=-1.0, description="Highest true peak of the final mix.")
    loudness_range_lu: float = Field(
        default=20.0,
        description="loudnorm's loudness-range target; wide, so that music keeps its dynamics and "
        "the gain stays linear wherever the true peak allows.",
    )
    true_peak_margin_db: float = Field(
        default=0.5,
        description="loudnorm aims this far below true_peak_dbtp: AAC encoding lifts peaks a little.",
    )
    audio_bitrate: str = Field(
        default="256k", description="AAC bitrate (ffmpeg's aac overshoots peaks more at 192k)."
    )
    music_fade_in_s: float = 0.5
    music_fade_out_s: float = 1.5
    duck_music_db: float = Field(
        default=-12.0, description="Music gain under a duck_music shot's own audio."
    )
    disclosure_parallax_travel: float = Field(
        default=0.05,
        description="A depth-parallax clip whose camera travels further than this (push or pan, the share the "
        "renderer records) counts as generated motion, like LTX-2's: disclosed and recorded.",
    )
    assemble_x264_preset: str = Field(
        default="superfast",
        description="x264 preset of final videos, chosen by measurement (bench/results/pipeline.md): the "
        "cheapest whose output keeps SSIM >= 0.98 against a slow CRF 20 render of the same timeline, on the "
        "demo and on real listing photos, at no more bytes than that render.",
    )
    assemble_crf: int = Field(
        default=24,
        description="x264 CRF of final videos. With superfast, 26 still keeps SSIM >= 0.98 on real photos "
        "(0.982); 24 keeps a margin (0.986) for 3 % more CPU.",
    )
    preview_x264_preset: str = "ultrafast"
    preview_crf: int = 28
    preview_short_side: int = Field(default=540, description="Short side of preview renders (540p).")
    assemble_fit: Literal["cover", "contain"] = Field(
        default="cover",
        description="How a clip meets another aspect: cover crops to fill, contain pads with black.",
    )
    assemble_segment_workers: int | None = Field(
        default=None, ge=1,
        description="Segments rendered at once (ffmpeg processes); a timeline long enough is split so that "
        "each gets one. Unset: one per 4 CPU cores (one ffmpeg keeps about that many busy).",
    )
    assemble_segment_shots: int = Field(
        default=4,
        ge=2,
        description="Shots per ffmpeg run: long timelines render in segments joined without "
        "re-encoding, so memory stays bounded whatever the timeline's length. Each 1080p clip open "
        "in a run holds about 50 MB of queued frames: on the demo, 4 shots per run peaked at 0.82 GB "
        "for the process tree against 1.05 GB with 8, for the same CPU (bench/results/pipeline.md).",
    )

    # --- Phase 3: music ----------------------------------------------------------------------
    beat_tracker: Literal["librosa", "madmom"] = Field(
        default="librosa",
        description="librosa: the shippable default (ISC). madmom: its RNN + DBN tracker, installed with "
        "the `madmom` extra; its models are CC BY-NC-SA, so non-commercial deployments only "
        "(bench/results/beats.md compares them).",
    )

    # --- orchestration ------------------------------------------------------------------
    queue_url: str | None = Field(default=None, description="SQS queue Rails sends run/edit/cancel requests to.")
    dead_letter_queue_url: str | None = Field(default=None, description="Where unusable messages go.")
    job_lock_wait_s: float = Field(
        default=3600.0, ge=0,
        description="How long a run waits for another run of the same job to finish before giving up.",
    )
    edit_video_deployment: str = "edit-video/edit-video"

    # --- events back to Rails (the outbox publisher) --------------------------------------
    events_queue_url: str | None = Field(default=None, description="SQS queue events are sent to (unset: none).")
    webhook_url: str | None = Field(default=None, description="HTTPS endpoint events are POSTed to (unset: none).")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key signing each webhook POST (required with webhook_url)."
    )
    events_poll_s: float = Field(default=1.0, gt=0, description="How often the publisher looks for unsent events.")
    events_batch: int = Field(default=50, ge=1, le=500)
    events_retry_base_s: float = Field(default=2.0, gt=0, description="First retry delay; doubles per attempt.")
    events_retry_max_s: float = Field(default=300.0, gt=0, description="Longest delay between delivery tries.")
    webhook_timeout_s: float = Field(default=10.0, gt=0)

    # --- cost control ------------------------------------------------------------------------
    gpu_hours_daily_alert: float = 24.0
    gpu_seconds_per_job_alert: float = 1800.0
    metrics_namespace: str | None = Field(
        default=None, description="CloudWatch namespace for GpuSeconds metrics (unset: logs only)."
    )

    @property
    def resolved_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir.resolve() / "artifacts").as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
