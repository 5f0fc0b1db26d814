"""One generator interface for Phase 2: a clip request in, an encoded mp4 and its facts out.

Backends differ only in how they make frames: `ParallaxBackend` (CPU, from photo + depth)
and `LTX2Backend` (diffusers LTX-2 through `tasks.render.ltx2`). Which one runs is decided by
`choose_backend` from the settings, the machine and the plan's forced backend (a downgrade
may force the CPU floor); encoding, timing and checks of the result are shared here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from db.enums import ConfidenceTier, MotionType
from tasks.domain.motions import MOTIONS, views_used
from tasks.media.video import VideoInfo, VideoWriter, probe
from tasks.render.analysis_frames import AnalysisFrames
from tasks.render.interrupt import raise_if_stopping
from tasks.render.parallax import DEFAULT_PROFILE, parallax_frames, required_zoom, sweep_profile
from tasks.render.validate import ANALYSIS_MAX_SIDE, DEPTH_SAMPLES, sample_indices
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)



class BackendName(StrEnum):
    ltx2 = "ltx2"
    parallax = "parallax"


class BackendUnavailable(RuntimeError):
    """The chosen backend cannot run here (no weights, no GPU, failed to load)."""


class BadRender(RuntimeError):
    """A backend produced something other than what was asked (size, frame count)."""


@dataclass(frozen=True, eq=False)
class ClipRequest:
    """Everything a backend needs to make one clip; the hero photo comes first.

    `depths` holds one map per image (float32 in [0, 1], 0 = nearest) or None where the
    backend does not need depth (LTX-2 reads depth from the pixels itself).
    """

    images: tuple[np.ndarray, ...]
    depths: tuple[np.ndarray | None, ...]
    motion: MotionType
    room_type: str
    duration: float
    fps: int
    width: int
    height: int
    tier: ConfidenceTier
    seed: int = 0
    pan_direction: str = "right"  # "left" | "right": where a pan or reveal travels
    plain_2d: bool = False  # a rigid 2D move of the photo (no depth): the downgrade floor
    sweep: bool = False  # a pan across the photo's whole width (panoramas)
    model: str | None = None  # the LTX-2 path Phase 1/2 planned (catalogue `ltx2.model`); None: the motion's own

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("a clip needs at least one source image")
        if len(self.depths) != len(self.images):
            raise ValueError("give one depth entry (or None) per source image")
        if self.pan_direction not in ("left", "right"):
            raise ValueError(f"pan_direction must be 'left' or 'right', got {self.pan_direction!r}")
        if self.duration <= 0 or self.fps <= 0 or self.width <= 0 or self.height <= 0:
            raise ValueError("duration, fps and size must be positive")
        path = MOTIONS[self.motion].ltx2
        if self.model is not None and self.model != path.model:
            raise ValueError(f"{self.motion} renders with LTX-2 path {path.model!r}, not the planned {self.model!r}")

    @property
    def n_frames(self) -> int:
        return max(2, round(self.duration * self.fps))


@dataclass(frozen=True)
class RenderedClip:
    path: Path
    backend: str  # what `clips.model_used` records, e.g. "parallax-cpu" or "ltx2:<model>"
    info: VideoInfo
    wall_seconds: float  # generation and encoding; on a GPU backend this is GPU time
    uses_gpu: bool
    is_3d: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    analysis: AnalysisFrames | None = None  # what the validator reads, taken from the frames as made


FrameSink = Callable[[np.ndarray], None]


class ClipBackend(Protocol):
    name: str
    uses_gpu: bool

    def render(self, request: ClipRequest, write: FrameSink) -> dict[str, Any]:
        """Write request.n_frames frames (RGB uint8, height × width × 3); return metadata."""
        ...


class ParallaxBackend:
    """CPU 2.5D parallax from the photo and its depth map (see tasks.render.parallax)."""

    name = "parallax-cpu"
    uses_gpu = False

    def render(self, request: ClipRequest, write: FrameSink) -> dict[str, Any]:
        if any(d is None for d in request.depths):
            raise ValueError("the parallax backend needs a depth map for every source image")
        direction = 1 if request.pan_direction == "right" else -1
        depths = request.depths
        if request.plain_2d:  # one depth everywhere: every pixel moves alike, a rigid zoom or slide
            depths = tuple(np.zeros(image.shape[:2], np.float32) for image in request.images)
        profile = DEFAULT_PROFILE
        if request.sweep:
            profile = sweep_profile(request.images[0], request.width, request.height, DEFAULT_PROFILE)
        zoom = 1.0 if request.sweep else required_zoom(request.motion, profile)
        for frame in parallax_frames(
            request.images, depths, request.motion, request.width, request.height,  # type: ignore[arg-type]
            request.n_frames, direction, profile, zoom=zoom,
        ):
            write(frame)
        return {
            "profile": {k: getattr(profile, k) for k in profile.__dataclass_fields__},
            "overscan": zoom,
            "views": views_used(request.motion, len(request.images)),
            "plain_2d": request.plain_2d,
            "sweep": request.sweep,
        }


class LTX2Backend:
    """LTX-2 through the diffusers pipelines of `tasks.render.ltx2`, one model per process."""

    uses_gpu: bool

    def __init__(self, generator: Any, model: str, recipe_by_tier: dict[str, str]) -> None:
        self.generator = generator
        self.name = f"ltx2:{model}"
        self.recipe_by_tier = dict(recipe_by_tier)
        self.uses_gpu = str(getattr(generator, "device", "cpu")).startswith("cuda")

    def render(self, request: ClipRequest, write: FrameSink) -> dict[str, Any]:
        from tasks.render.ltx2 import GenerationRequest, PanDirection

        video = self.generator.generate(
            GenerationRequest(
                images=request.images,
                motion=request.motion,
                room_type=request.room_type,
                seconds=request.duration,
                fps=request.fps,
                width=request.width,
                height=request.height,
                seed=request.seed,
                pan_direction=PanDirection(request.pan_direction),
                recipe=self.recipe_by_tier[str(request.tier)],
            )
        )
        for frame in video.frames:
            write(np.ascontiguousarray(frame))
        return {**video.metadata, "model_path": MOTIONS[request.motion].ltx2.model}


def gpu_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def choose_backend(
    setting: str, ltx2_model: str | None, has_gpu: Callable[[], bool], forced: str | None = None
) -> BackendName:
    """Which backend renders a clip.

    A forced backend (a downgrade to the CPU floor) wins; then the `generator` setting:
    `parallax` and `ltx2` are taken as asked, `auto` uses LTX-2 only where weights are
    configured and a GPU exists (LTX-2 on a CPU is for tests with tiny models, not
    production), else the CPU parallax renderer. `has_gpu` is only asked when it matters
    (it imports torch).
    """
    if forced:
        return BackendName(forced)
    if setting == "auto":
        return BackendName.ltx2 if ltx2_model and has_gpu() else BackendName.parallax
    try:
        return BackendName(setting)
    except ValueError:
        raise ValueError(f"PICAIVID_GENERATOR must be auto, ltx2 or parallax, got {setting!r}") from None


def load_backend(name: BackendName, settings: Settings | None = None) -> ClipBackend:
    settings = settings or get_settings()
    if name is BackendName.parallax:
        return ParallaxBackend()
    if not settings.ltx2_model:
        raise BackendUnavailable("LTX-2 was chosen but PICAIVID_LTX2_MODEL is not set")
    device = "cuda" if gpu_available() else "cpu"
    key = (settings.model_dump_json(include=LTX2_SETTINGS), device)
    if key not in _LOADED:
        _LOADED.clear()  # one model per process: free the old one before loading another
        _LOADED[key] = _load_ltx2(settings, device)
    return _LOADED[key]


LTX2_SETTINGS = {"ltx2_model", "ltx2_camera_loras", "ltx2_lora_strength", "ltx2_distilled_lora", "ltx2_image_strength",
                 "ltx2_recipe_by_tier", "ltx2_max_pixels"}
_LOADED: dict[tuple[str, str], LTX2Backend] = {}
"""Loaded once per process: the 19B model takes minutes to load, every clip after reuses it."""


def _load_ltx2(settings: Settings, device: str) -> LTX2Backend:
    try:
        from tasks.render.ltx2 import LTX2Generator

        generator = LTX2Generator.from_settings(settings, device)
    except Exception as err:  # missing weights, refused memory plan, bad folder: all "cannot load"
        raise BackendUnavailable(f"LTX-2 failed to load from {settings.ltx2_model!r}: {err}") from err
    return LTX2Backend(generator, str(settings.ltx2_model), settings.ltx2_recipe_by_tier)


def generate_clip(request: ClipRequest, backend: ClipBackend, out_path: Path, settings: Settings | None = None) -> RenderedClip:
    """Render `request` with `backend` into an mp4 at `out_path` and check what came out.

    Frames stream into the encoder as they are made, so an interruption leaves a playable
    partial file behind (the writer closes on any exception, SIGTERM included). On the way
    they leave what the validator reads (tasks.render.analysis_frames), so the clip is not
    decoded again to be judged.
    """
    settings = settings or get_settings()
    started = time.monotonic()
    analysis = AnalysisFrames(request.n_frames, request.width, request.height, ANALYSIS_MAX_SIDE,
                              sample_indices(request.n_frames, DEPTH_SAMPLES))
    with VideoWriter(
        out_path, request.width, request.height, request.fps,
        crf=settings.clip_crf, preset=settings.clip_x264_preset,
    ) as writer:

        def write(frame: np.ndarray) -> None:
            raise_if_stopping()
            if writer.frames_written >= request.n_frames:
                raise BadRender(f"{backend.name} produced more than {request.n_frames} frames")
            analysis.add(frame, writer.write(frame))

        metadata = backend.render(request, write)
    wall = time.monotonic() - started
    info = probe(out_path)
    if (info.width, info.height, info.frame_count) != (request.width, request.height, request.n_frames):
        raise BadRender(
            f"{backend.name} made {info.width}x{info.height}x{info.frame_count} frames, "
            f"asked {request.width}x{request.height}x{request.n_frames}"
        )
    is_3d = backend.uses_gpu and MOTIONS[request.motion].needs_3d
    log.info("clip_generated", backend=backend.name, frames=info.frame_count, wall_s=round(wall, 2))
    return RenderedClip(
        path=out_path,
        backend=backend.name,
        info=info,
        wall_seconds=wall,
        uses_gpu=backend.uses_gpu,
        is_3d=is_3d,
        metadata=metadata,
        analysis=analysis,
    )
