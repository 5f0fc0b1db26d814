"""LTX-2 backend of the render phase: listing photos in, uint8 frames of one clip out.

Single-photo motions run `LTX2ImageToVideoPipeline` steered by Lightricks' camera-control LoRAs; reveals and
multi-photo clips run `LTX2ConditionPipeline` with the photos as keyframes. Both pipelines share one set of
weights. Encoding, validation and storage belong to other modules.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from diffusers import DiffusionPipeline, LTX2ConditionPipeline, LTX2ImageToVideoPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from PIL import Image

from db.enums import EXTERIOR_ROOMS, MotionType, RoomType
from tasks.render.memory_plan import (
    FP8_COMPONENTS,
    REFERENCE_SHAPE,
    MemoryPlan,
    Placement,
    apply_memory_plan,
    cast_to_fp8,
    ltx2_facts,
    measured_plan,
)
from tasks.settings import Settings

ImageInput = Image.Image | np.ndarray


class CameraMove(StrEnum):
    """Moves with an official LTX-2 19B camera-control LoRA that the render phase uses."""

    dolly_in = "dolly_in"
    dolly_out = "dolly_out"
    dolly_left = "dolly_left"
    dolly_right = "dolly_right"


class PanDirection(StrEnum):
    left = "left"
    right = "right"


KEYFRAME_MOTIONS = frozenset({MotionType.two_image_reveal, MotionType.multi_image_synthesis})


def camera_move(motion: MotionType, pan: PanDirection) -> CameraMove | None:
    """The LoRA move of a single-photo motion; keyframe motions get none, their photos define the path."""
    match motion:
        case MotionType.micro_push_in:
            return CameraMove.dolly_in
        case MotionType.micro_push_out:
            return CameraMove.dolly_out
        case MotionType.subtle_pan:
            return CameraMove.dolly_left if pan is PanDirection.left else CameraMove.dolly_right
    return None


# --- prompts ---------------------------------------------------------------------------------------------------

ROOM_PHRASES: dict[RoomType, str] = {
    RoomType.front_exterior: "the front of a well-kept home",
    RoomType.backyard: "a landscaped backyard",
    RoomType.aerial: "a property seen from above",
    RoomType.pool: "a sparkling backyard pool",
    RoomType.living_room: "a bright, spacious living room",
    RoomType.kitchen: "a bright modern kitchen",
    RoomType.dining_room: "an elegant dining room",
    RoomType.bedroom: "a calm, sunlit bedroom",
    RoomType.bathroom: "a clean modern bathroom",
    RoomType.office: "a tidy home office",
    RoomType.laundry: "a neat laundry room",
    RoomType.garage: "a clean, organised garage",
    RoomType.hallway: "a bright hallway",
    RoomType.other: "a beautifully staged home",
}

PROMPT_SUFFIX = "realistic depth and parallax, steady camera, photorealistic real estate video"
NEGATIVE_PROMPT = (
    "worst quality, low resolution, blurry, jittery, shaky camera, distorted, warped geometry, bent walls, "
    "morphing furniture, flickering, people, text, watermark, static"
)


def room_phrase(room: RoomType | str | None) -> str:
    if room is None:
        return ROOM_PHRASES[RoomType.other]
    try:
        return ROOM_PHRASES[RoomType(room)]
    except ValueError:
        return f"a {str(room).replace('_', ' ')}"


def build_prompt(room: RoomType | str | None, motion: MotionType, pan: PanDirection = PanDirection.right) -> str:
    """Name the move and its destination: the camera LoRA cards ask prompts to say what the move reveals."""
    place = room_phrase(room)
    outside = room is not None and room in EXTERIOR_ROOMS
    through = "toward" if outside else "through"
    match motion:
        case MotionType.micro_push_in:
            move = f"Smooth cinematic dolly in {through} {place}"
        case MotionType.micro_push_out:
            move = f"Smooth cinematic dolly out from {place}, revealing more of the {'scene' if outside else 'room'}"
        case MotionType.subtle_pan:
            move = f"Slow cinematic dolly {pan.value} across {place}, revealing its {pan.value} side"
        case MotionType.two_image_reveal:
            move = f"Smooth cinematic camera move {through} {place}, revealing the next view"
        case MotionType.multi_image_synthesis:
            move = f"Smooth cinematic camera glide {through} {place}, passing each viewpoint in turn"
    return f"{move}, {PROMPT_SUFFIX}"


# --- shapes ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationShape:
    """What LTX-2 generates (multiples of the VAE grid) and what the caller gets back."""

    width: int
    height: int
    num_frames: int  # temporal_ratio * k + 1 (8k + 1 for LTX-2)
    out_width: int
    out_height: int
    out_frames: int


def ltx_frame_count(frames: int, temporal_ratio: int = 8) -> int:
    """The smallest valid LTX length (ratio * k + 1) that holds `frames`."""
    return temporal_ratio * math.ceil(max(frames - 1, 0) / temporal_ratio) + 1


SIZE_MULTIPLE = 32
"""The LTX-2 pipelines reject any width or height that is not a multiple of 32 (the VAE's spatial ratio)."""


def generation_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Scale into the pixel budget keeping the aspect, then snap each side to the nearest multiple of 32."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))

    def snap(side: int) -> int:
        return max(SIZE_MULTIPLE, round(side * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return snap(width), snap(height)


def plan_shape(width: int, height: int, seconds: float, fps: int, max_pixels: int,
               temporal_ratio: int = 8) -> GenerationShape:
    out_frames = max(2, round(seconds * fps))  # the render phase's contract: a clip has at least two frames
    gen_w, gen_h = generation_size(width, height, max_pixels)
    return GenerationShape(gen_w, gen_h, ltx_frame_count(out_frames, temporal_ratio), width, height, out_frames)


def keyframe_indices(num_images: int, num_frames: int, temporal_ratio: int = 8) -> list[int]:
    """Latent frame indices spreading `num_images` keyframes from the first to the last latent frame.

    LTX2ConditionPipeline reads `index` as a latent index; the last one lands on pixel frame
    num_frames - temporal_ratio, so a reveal settles on its second photo within the final few frames.
    """
    latent_frames = (num_frames - 1) // temporal_ratio + 1
    if num_images < 2:
        raise ValueError("keyframe clips need at least two photos")
    if num_images > latent_frames:
        raise ValueError(f"{num_images} keyframes need at least {num_images} latent frames, have {latent_frames}")
    return [round(i * (latent_frames - 1) / (num_images - 1)) for i in range(num_images)]


# --- images ----------------------------------------------------------------------------------------------------


def to_rgb_array(image: ImageInput) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 array, got {image.shape} {image.dtype}")
    return image


def cover(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize to cover width x height and centre-crop: no stretching, at most a sliver cropped."""
    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top : top + height, left : left + width]


# --- requests and results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationRequest:
    images: tuple[ImageInput, ...]
    motion: MotionType
    room_type: RoomType | str | None
    seconds: float
    fps: int
    width: int
    height: int
    seed: int = 0
    pan_direction: PanDirection = PanDirection.right
    use_camera_lora: bool = True  # False: prompt-only motion, e.g. a safer re-render after a failed validation


@dataclass(frozen=True)
class GeneratedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8: the requested size, max(2, round(seconds * fps)) frames
    fps: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerSettings:
    """LTX-2.0 (19B) sampling, from the diffusers LTX-2 docstrings: CFG 3, STG at block 29, legacy timesteps."""

    steps: int = 30
    guidance_scale: float = 3.0
    stg_scale: float = 1.0
    stg_blocks: tuple[int, ...] = (29,)
    modality_scale: float = 3.0
    guidance_rescale: float = 0.7
    use_cross_timestep: bool = False
    max_sequence_length: int = 1024
    max_pixels: int = 1280 * 736


def lora_source(spec: str) -> tuple[str, str | None]:
    """(where, weight_name) for diffusers from a local file, a local folder, or `owner/repo[/file.safetensors]`."""
    path = Path(spec)
    if path.exists():
        return str(path), None
    parts = spec.split("/")
    if len(parts) > 2:
        return "/".join(parts[:2]), "/".join(parts[2:])
    return spec, None


def adapter_name(move: CameraMove) -> str:
    return f"camera_{move.value}"


def load_camera_loras(transformer: torch.nn.Module, camera_loras: Mapping[CameraMove, str]) -> None:
    """Load each camera LoRA into `transformer` as its own adapter, skipping those already there.

    Call before fp8 casting: `enable_layerwise_casting` then leaves the small LoRA layers in bf16, whereas a LoRA
    loaded after casting inherits the fp8 dtype of its base layer and cannot compute.
    """
    present = set(getattr(transformer, "peft_config", None) or {})
    for move, spec in camera_loras.items():
        if adapter_name(move) in present:
            continue
        where, weight_name = lora_source(spec)
        state_dict = LTX2ImageToVideoPipeline.lora_state_dict(where, weight_name=weight_name)
        LTX2ImageToVideoPipeline.load_lora_into_transformer(
            state_dict, transformer=transformer, adapter_name=adapter_name(move)
        )


# --- the backend -----------------------------------------------------------------------------------------------


class LTX2Generator:
    """One loaded LTX-2 serving clips one at a time, its camera LoRAs loaded up front and switched per clip."""

    def __init__(
        self,
        i2v: LTX2ImageToVideoPipeline,
        condition: LTX2ConditionPipeline,
        *,
        model_id: str,
        device: torch.device,
        plan: MemoryPlan,
        camera_loras: Mapping[CameraMove, str],
        lora_strength: float,
        sampler: SamplerSettings,
    ) -> None:
        """Use `from_pipelines` or `from_pretrained`: they load the LoRAs and apply the plan in the right order."""
        self.i2v = i2v
        self.condition = condition
        self.model_id = model_id
        self.device = device
        self.plan = plan
        self.camera_loras = dict(camera_loras)
        self.lora_strength = lora_strength
        self.sampler = sampler
        for pipe in (i2v, condition):
            pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_pipelines(
        cls,
        i2v: LTX2ImageToVideoPipeline,
        *,
        model_id: str,
        device: torch.device | str,
        plan: MemoryPlan,
        camera_loras: Mapping[CameraMove, str] | None = None,
        lora_strength: float = 0.9,
        sampler: SamplerSettings = SamplerSettings(),
    ) -> LTX2Generator:
        """Wrap a built I2V pipeline: load the LoRAs, share its components with a condition pipeline, apply the plan."""
        device = torch.device(device)
        camera_loras = dict(camera_loras or {})
        load_camera_loras(i2v.transformer, camera_loras)
        condition = LTX2ConditionPipeline(**i2v.components)
        apply_memory_plan([i2v, condition], plan, device)
        return cls(i2v, condition, model_id=model_id, device=device, plan=plan, camera_loras=camera_loras,
                   lora_strength=lora_strength, sampler=sampler)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        device: torch.device | str = "cuda",
        memory_plan: MemoryPlan | None = None,
        *,
        camera_loras: Mapping[CameraMove, str] | None = None,
        lora_strength: float = 0.9,
        sampler: SamplerSettings = SamplerSettings(),
    ) -> LTX2Generator:
        """Load a diffusers-format LTX-2 (hub id or local folder) the way `memory_plan` needs it.

        The transformer and text encoder load first and one at a time, onto the GPU when resident, and are cast to
        fp8 as they arrive when planned: peak memory stays at one bf16 giant plus what is already stored.
        No plan: one is measured on this machine (InsufficientMemory when nothing fits).
        """
        device = torch.device(device)
        # Sized for the longest 1080p clip the render phase asks for, at this sampler's pixel budget.
        facts = ltx2_facts(*generation_size(1920, 1080, sampler.max_pixels), REFERENCE_SHAPE[2])
        plan = memory_plan or measured_plan(device, facts)
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        target = str(device) if plan.placement is Placement.resident and device.type != "cpu" else None
        index = DiffusionPipeline.load_config(str(model))
        giants = {}
        for name in FP8_COMPONENTS:
            library, class_name = index[name]
            component_cls = getattr(importlib.import_module(library), class_name)
            component = component_cls.from_pretrained(str(model), subfolder=name, dtype=dtype, device_map=target)
            if name == "transformer":
                load_camera_loras(component, camera_loras or {})
            if plan.fp8:
                cast_to_fp8(component, compute_dtype=dtype)
            giants[name] = component
        i2v = LTX2ImageToVideoPipeline.from_pretrained(str(model), dtype=dtype, **giants)
        return cls.from_pipelines(i2v, model_id=str(model), device=device, plan=plan, camera_loras=camera_loras,
                                  lora_strength=lora_strength, sampler=sampler)

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device | str) -> LTX2Generator:
        """The production generator: model, camera LoRAs, LoRA strength and sampling from PICAIVID_* settings."""
        if not settings.ltx2_model:
            raise ValueError("PICAIVID_LTX2_MODEL is not set")
        return cls.from_pretrained(
            settings.ltx2_model,
            device,
            camera_loras={CameraMove(move): spec for move, spec in settings.ltx2_camera_loras.items()},
            lora_strength=settings.ltx2_lora_strength,
            sampler=SamplerSettings(steps=settings.ltx2_steps, max_pixels=settings.ltx2_max_pixels),
        )

    # --- LoRAs ---

    def unload_loras(self) -> None:
        """Remove every camera LoRA, restoring the base weights; later clips move by prompt alone."""
        if self.camera_loras:
            self.i2v.unload_lora_weights()
            self.camera_loras.clear()

    def _activate(self, move: CameraMove | None) -> str | None:
        """Make `move`'s LoRA the only active adapter (or none); returns the adapter used."""
        if not self.camera_loras:
            return None
        if move not in self.camera_loras:
            self.i2v.disable_lora()
            return None
        self.i2v.enable_lora()
        self.i2v.set_adapters([adapter_name(move)], adapter_weights=[self.lora_strength])
        return adapter_name(move)

    # --- generation ---

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        pipe = self.condition if request.motion in KEYFRAME_MOTIONS else self.i2v
        temporal = pipe.vae_temporal_compression_ratio
        shape = plan_shape(request.width, request.height, request.seconds, request.fps, self.sampler.max_pixels,
                           temporal)
        if not request.images:
            raise ValueError("a clip needs at least one photo")
        images = [Image.fromarray(cover(to_rgb_array(i), shape.width, shape.height)) for i in request.images]

        move = camera_move(request.motion, request.pan_direction) if request.use_camera_lora else None
        adapter = self._activate(move)
        prompt = build_prompt(request.room_type, request.motion, request.pan_direction)

        s = self.sampler
        common = dict(
            prompt=prompt,
            negative_prompt=NEGATIVE_PROMPT,
            width=shape.width,
            height=shape.height,
            num_frames=shape.num_frames,
            frame_rate=float(request.fps),
            num_inference_steps=s.steps,
            guidance_scale=s.guidance_scale,
            stg_scale=s.stg_scale,
            spatio_temporal_guidance_blocks=list(s.stg_blocks),
            modality_scale=s.modality_scale,
            guidance_rescale=s.guidance_rescale,
            use_cross_timestep=s.use_cross_timestep,
            max_sequence_length=s.max_sequence_length,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            output_type="np",
            return_dict=False,
        )
        indices: list[int] = []
        if request.motion in KEYFRAME_MOTIONS:
            indices = keyframe_indices(len(images), shape.num_frames, temporal)
            conditions = [LTX2VideoCondition(frames=img, index=i) for img, i in zip(images, indices, strict=True)]
            video = self.condition(conditions=conditions, **common)[0]
        else:
            video = self.i2v(image=images[0], **common)[0]

        frames = (np.clip(video[0], 0.0, 1.0) * 255).round().astype(np.uint8)[: shape.out_frames]
        frames = np.stack([cover(f, shape.out_width, shape.out_height) for f in frames])
        metadata = {
            "model": self.model_id,
            "pipeline": type(pipe).__name__,
            "lora": self.camera_loras[move] if adapter and move else None,
            "lora_strength": self.lora_strength if adapter else None,
            "prompt": prompt,
            "negative_prompt": NEGATIVE_PROMPT,
            "seconds": shape.out_frames / request.fps,
            "frames": shape.out_frames,
            "generated_frames": shape.num_frames,
            "generated_size": [shape.width, shape.height],
            "keyframe_indices": indices,
            "steps": s.steps,
            "seed": request.seed,
            "device": str(self.device),
            "memory_plan": self.plan.name,
        }
        return GeneratedVideo(frames=frames, fps=request.fps, metadata=metadata)
