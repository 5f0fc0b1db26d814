"""LTX-2 backend of the render phase: listing photos in, uint8 frames of one clip out.

Every motion runs `LTX2ConditionPipeline`: a single photo conditions the first frame (image-to-video), a reveal or
a multi-photo clip places its photos as keyframes from the first frame to the last. A recipe (`ltx2_recipes`)
decides the stages; two-stage recipes upscale the first stage's latents with `LTX2LatentUpsamplePipeline` and
refine them with the distilled LoRA. Lightricks' camera-control LoRAs steer single-photo moves. Encoding,
validation and storage belong to other modules.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from diffusers import LTX2ConditionPipeline, LTX2LatentUpsamplePipeline
from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from PIL import Image

from db.enums import EXTERIOR_ROOMS, MotionType, RoomType
from tasks.domain.formats import FORMATS, PRIMARY
from tasks.domain.motions import CATALOGUE, MOTIONS, CameraMove, Ltx2Mode, PanDirection
from tasks.render.ltx2_recipes import RECIPES, Recipe, Stage
from tasks.render.memory_plan import (
    REFERENCE_SHAPE,
    MemoryPlan,
    Placement,
    apply_memory_plan,
    ltx2_facts,
    measured_plan,
    quantization_config,
)
from tasks.settings import Settings

ImageInput = Image.Image | np.ndarray


KEYFRAME_MOTIONS = frozenset(m.name for m in CATALOGUE if m.ltx2.mode is Ltx2Mode.keyframes)
DISTILLED_ADAPTER = "distilled"
UPSAMPLER_SUBFOLDER = "latent_upsampler"
"""Where Lightricks' diffusers-format LTX-2 repository keeps the x2 spatial latent upsampler."""


def camera_move(motion: MotionType, pan: PanDirection) -> CameraMove | None:
    """The LoRA move of a single-photo motion (its catalogue entry); keyframe motions get none, their
    photos define the path."""
    lora = MOTIONS[motion].ltx2.lora
    return lora[pan] if lora else None


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
    """Name the move and its destination: the camera LoRA cards ask prompts to say what the move reveals.
    The move's wording is its catalogue entry's prompt."""
    outside = room is not None and room in EXTERIOR_ROOMS
    move = MOTIONS[motion].ltx2.prompt.format(
        place=room_phrase(room), through="toward" if outside else "through", pan=pan.value,
        space="scene" if outside else "room")
    return f"{move}, {PROMPT_SUFFIX}"


# --- shapes and timing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationShape:
    """What LTX-2 generates at full size (multiples of the VAE grid) and what the caller gets back."""

    width: int
    height: int
    out_width: int
    out_height: int


def ltx_frame_count(frames: int, temporal_ratio: int = 8) -> int:
    """The smallest valid LTX length (ratio * k + 1) that holds `frames`."""
    return temporal_ratio * math.ceil(max(frames - 1, 0) / temporal_ratio) + 1


SIZE_MULTIPLE = 32
"""The LTX-2 pipelines reject any width or height that is not a multiple of 32 (the VAE's spatial ratio)."""


def generation_size(width: int, height: int, max_pixels: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """Scale into the pixel budget keeping the aspect, then snap each side to the nearest multiple."""
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))

    def snap(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return snap(width), snap(height)


def plan_shape(width: int, height: int, max_pixels: int, multiple: int = SIZE_MULTIPLE) -> GenerationShape:
    gen_w, gen_h = generation_size(width, height, max_pixels, multiple)
    return GenerationShape(gen_w, gen_h, width, height)


@dataclass(frozen=True)
class ClipTiming:
    """How many frames to generate, where each photo is conditioned, and which generated frame each output frame is."""

    num_frames: int  # generated, temporal_ratio * k + 1
    latent_indices: tuple[int, ...]  # one per photo, as LTX2ConditionPipeline reads `index`
    keep: tuple[int, ...]  # generated frame index of each output frame
    frame_rate: float  # what the model is told, so the generated span lasts the clip's seconds

    def keyframe_frames(self, temporal_ratio: int) -> list[int]:
        """The output frame on which each photo lands."""
        pixels = [0 if i == 0 else (i - 1) * temporal_ratio + 1 for i in self.latent_indices]
        return [self.keep.index(p) for p in pixels]


def clip_timing(num_images: int, out_frames: int, fps: int, temporal_ratio: int = 8) -> ClipTiming:
    """Frames to generate for `out_frames` output frames from `num_images` photos.

    One photo conditions frame 0 and the clip is the first `out_frames` generated frames. Keyframe clips: the
    pipeline puts a keyframe at latent index k >= 1 on pixel frame (k - 1) * ratio + 1, so the last one lands on
    the last output frame only when the clip is that long plus one. The last keyframe goes on the first such frame
    at or after the clip's end, the model is told the frame rate that makes that span the clip's seconds, and the
    output takes evenly spaced generated frames from the first keyframe to the last (at most ratio - 1 dropped).
    """
    if num_images < 1:
        raise ValueError("a clip needs at least one photo")
    if num_images == 1:
        return ClipTiming(ltx_frame_count(out_frames, temporal_ratio), (0,), tuple(range(out_frames)), float(fps))
    last = max(num_images - 1, math.ceil((out_frames - 2) / temporal_ratio) + 1)
    last_pixel = (last - 1) * temporal_ratio + 1
    indices = tuple(round(i * last / (num_images - 1)) for i in range(num_images))
    keep = tuple(round(i * last_pixel / (out_frames - 1)) for i in range(out_frames))
    return ClipTiming(last * temporal_ratio + 1, indices, keep, fps * last_pixel / (out_frames - 1))


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
    recipe: str = "distilled"


@dataclass(frozen=True)
class GeneratedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8: the requested size, max(2, round(seconds * fps)) frames
    fps: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplerSettings:
    """What every recipe shares: LTX-2.0's STG block, the prompt length, the pixel budget at full size, how strongly a
    photo pins its frame (0.8, the camera LoRA cards' image strength) and how many prompt encodings to keep."""

    stg_blocks: tuple[int, ...] = (29,)
    max_sequence_length: int = 1024
    max_pixels: int = 1280 * 736
    image_strength: float = 0.8
    prompt_cache_size: int = 8


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


def load_lora(pipe: LTX2ConditionPipeline, spec: str, name: str) -> None:
    """Load one LoRA file (diffusers layout or Lightricks' published `diffusion_model.*` layout) as adapter `name`;
    diffusers converts the published keys and loads its text-connector part too."""
    if name in set(getattr(pipe.transformer, "peft_config", None) or {}):
        return
    where, weight_name = lora_source(spec)
    with warnings.catch_warnings():
        # a worker keeps several adapters on one transformer on purpose (the camera LoRAs, the distilled one),
        # which peft warns about on every load after the first
        warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)
        pipe.load_lora_weights(where, weight_name=weight_name, adapter_name=name)


class PromptCache:
    """Gemma embeddings per (prompt, negative prompt), kept on the host: a render worker writes the same few prompts
    for clip after clip, and one encoding is a 12B forward whose output (49 stacked hidden states) is ~0.4 GB."""

    def __init__(self, pipe: LTX2ConditionPipeline, max_sequence_length: int, size: int) -> None:
        self.pipe = pipe
        self.max_sequence_length = max_sequence_length
        self.size = size
        self._entries: OrderedDict[tuple[str, str], tuple[torch.Tensor, ...]] = OrderedDict()

    def __call__(self, prompt: str, negative: str, device: torch.device) -> dict[str, torch.Tensor]:
        key = (prompt, negative)
        if key in self._entries:
            self._entries.move_to_end(key)
        else:
            with torch.no_grad():
                encoded = self.pipe.encode_prompt(prompt, negative, do_classifier_free_guidance=True,
                                                  max_sequence_length=self.max_sequence_length)
            self._entries[key] = tuple(t.to("cpu") for t in encoded)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        embeds, mask, negative_embeds, negative_mask = (t.to(device) for t in self._entries[key])
        return dict(prompt_embeds=embeds, prompt_attention_mask=mask, negative_prompt_embeds=negative_embeds,
                    negative_prompt_attention_mask=negative_mask)


# --- the backend -----------------------------------------------------------------------------------------------


class LTX2Generator:
    """One loaded LTX-2 serving clips one at a time: LoRAs loaded up front and switched per clip and stage."""

    def __init__(
        self,
        pipe: LTX2ConditionPipeline,
        upsampler: LTX2LatentUpsamplePipeline | None,
        *,
        model_id: str,
        device: torch.device,
        plan: MemoryPlan,
        camera_loras: Mapping[CameraMove, str],
        lora_strength: float,
        distilled_lora: str | None,
        sampler: SamplerSettings,
        recipes: Mapping[str, Recipe],
    ) -> None:
        """Use `from_pipeline` or `from_pretrained`: they load the LoRAs and apply the plan in the right order."""
        self.pipe = pipe
        self.upsampler = upsampler
        self.model_id = model_id
        self.device = device
        self.plan = plan
        self.camera_loras = dict(camera_loras)
        self.lora_strength = lora_strength
        self.distilled_lora = distilled_lora
        self.sampler = sampler
        self.recipes = dict(recipes)
        self.model_scheduler = pipe.scheduler
        self.prompts = PromptCache(pipe, sampler.max_sequence_length, sampler.prompt_cache_size)
        for p in (pipe, upsampler):
            if p is not None:
                p.set_progress_bar_config(disable=True)

    @classmethod
    def from_pipeline(
        cls,
        pipe: LTX2ConditionPipeline,
        *,
        model_id: str,
        device: torch.device | str,
        plan: MemoryPlan,
        latent_upsampler: LTX2LatentUpsamplerModel | None = None,
        camera_loras: Mapping[CameraMove, str] | None = None,
        lora_strength: float = 1.0,
        distilled_lora: str | None = None,
        sampler: SamplerSettings = SamplerSettings(),
        recipes: Mapping[str, Recipe] = RECIPES,
    ) -> LTX2Generator:
        """Wrap a built (and, for fp8 plans, quantized) pipeline: load the LoRAs, add the upsampler, apply the plan."""
        device = torch.device(device)
        camera_loras = dict(camera_loras or {})
        for move, spec in camera_loras.items():
            load_lora(pipe, spec, adapter_name(move))
        if distilled_lora:
            load_lora(pipe, distilled_lora, DISTILLED_ADAPTER)
        upsampler = None
        if latent_upsampler is not None:
            upsampler = LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=latent_upsampler)
        apply_memory_plan([p for p in (pipe, upsampler) if p is not None], plan, device)
        return cls(pipe, upsampler, model_id=model_id, device=device, plan=plan, camera_loras=camera_loras,
                   lora_strength=lora_strength, distilled_lora=distilled_lora, sampler=sampler, recipes=recipes)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        device: torch.device | str = "cuda",
        memory_plan: MemoryPlan | None = None,
        *,
        camera_loras: Mapping[CameraMove, str] | None = None,
        lora_strength: float = 1.0,
        distilled_lora: str | None = None,
        sampler: SamplerSettings = SamplerSettings(),
        recipes: Mapping[str, Recipe] = RECIPES,
    ) -> LTX2Generator:
        """Load a diffusers-format LTX-2 (hub id or local folder) the way `memory_plan` needs it.

        fp8 plans quantize the transformer and Gemma while they load; resident plans load straight onto the GPU.
        The latent upsampler loads when a recipe refines, the distilled LoRA when a recipe uses it (a recipe that
        needs either and cannot have it is refused here, not mid-job). No plan: one is measured on this machine
        (InsufficientMemory when nothing fits).
        """
        device = torch.device(device)
        if any(r.distilled_lora for r in recipes.values()) and not distilled_lora:
            raise ValueError(f"recipes {sorted(n for n, r in recipes.items() if r.distilled_lora)} need the "
                             "distilled LoRA (PICAIVID_LTX2_DISTILLED_LORA)")
        # Sized for the longest 16:9 clip the render phase asks for, at this sampler's pixel budget
        # (every format's generation has the same budget: a portrait one is the same size turned).
        facts = ltx2_facts(*generation_size(*FORMATS[PRIMARY].size, sampler.max_pixels), REFERENCE_SHAPE[2])
        plan = memory_plan or measured_plan(device, facts)
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        on_gpu = plan.placement is Placement.resident and device.type == "cuda"
        pipe = LTX2ConditionPipeline.from_pretrained(
            str(model), dtype=dtype, quantization_config=quantization_config(plan),
            device_map=device.type if on_gpu else None,
        )
        upsampler_model = None
        if any(r.refine for r in recipes.values()):
            upsampler_model = LTX2LatentUpsamplerModel.from_pretrained(str(model), subfolder=UPSAMPLER_SUBFOLDER,
                                                                       dtype=dtype)
        return cls.from_pipeline(pipe, model_id=str(model), device=device, plan=plan, latent_upsampler=upsampler_model,
                                 camera_loras=camera_loras, lora_strength=lora_strength,
                                 distilled_lora=distilled_lora, sampler=sampler, recipes=recipes)

    @classmethod
    def from_settings(cls, settings: Settings, device: torch.device | str) -> LTX2Generator:
        """The production generator: model, LoRAs, strengths, pixel budget and the tiers' recipes from settings."""
        if not settings.ltx2_model:
            raise ValueError("PICAIVID_LTX2_MODEL is not set")
        return cls.from_pretrained(
            settings.ltx2_model,
            device,
            camera_loras={CameraMove(move): spec for move, spec in settings.ltx2_camera_loras.items()},
            lora_strength=settings.ltx2_lora_strength,
            distilled_lora=settings.ltx2_distilled_lora,
            sampler=SamplerSettings(max_pixels=settings.ltx2_max_pixels,
                                    image_strength=settings.ltx2_image_strength),
            recipes={name: RECIPES[name] for name in set(settings.ltx2_recipe_by_tier.values())},
        )

    # --- LoRAs ---

    def unload_loras(self) -> None:
        """Remove the camera LoRAs, restoring the base weights; later clips move by prompt alone. The distilled LoRA
        stays: recipes need it."""
        if self.camera_loras:
            self.pipe.delete_adapters([adapter_name(move) for move in self.camera_loras])
            self.camera_loras.clear()

    def _activate(self, move: CameraMove | None, stage: Stage) -> list[str]:
        """Make exactly this stage's adapters active (`move`'s camera LoRA, the distilled LoRA); returns them."""
        weights: dict[str, float] = {}
        if move in self.camera_loras:
            weights[adapter_name(move)] = self.lora_strength
        if stage.distilled_lora:
            weights[DISTILLED_ADAPTER] = stage.distilled_lora
        if not getattr(self.pipe.transformer, "peft_config", None):
            return []
        if not weights:
            self.pipe.disable_lora()
            return []
        self.pipe.enable_lora()
        self.pipe.set_adapters(list(weights), adapter_weights=list(weights.values()))
        return list(weights)

    # --- generation ---

    def _stage(self, stage: Stage, images: list[np.ndarray], timing: ClipTiming, width: int, height: int,
               move: CameraMove | None, prompt: dict[str, torch.Tensor], seed: int, **extra: Any) -> tuple[Any, Any]:
        """One denoising pass at width x height with the photos as conditions; returns (video, audio)."""
        conditions = [
            LTX2VideoCondition(frames=Image.fromarray(cover(img, width, height)), index=i,
                               strength=self.sampler.image_strength)
            for img, i in zip(images, timing.latent_indices, strict=True)
        ]
        self._activate(move, stage)
        self.pipe.scheduler = stage.scheduler(self.model_scheduler)
        return self.pipe(
            conditions=conditions,
            width=width,
            height=height,
            num_frames=timing.num_frames,
            frame_rate=timing.frame_rate,
            generator=torch.Generator("cpu").manual_seed(seed),
            max_sequence_length=self.sampler.max_sequence_length,
            return_dict=False,
            **prompt,
            **stage.call_kwargs(self.sampler.stg_blocks),
            **extra,
        )

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        if not request.images:
            raise ValueError("a clip needs at least one photo")
        if request.recipe not in self.recipes:
            raise ValueError(f"recipe {request.recipe!r} is not loaded here; have {sorted(self.recipes)}")
        if request.motion in KEYFRAME_MOTIONS and len(request.images) < 2:
            raise ValueError("keyframe clips need at least two photos")
        recipe = self.recipes[request.recipe]
        if recipe.refine and self.upsampler is None:
            raise ValueError(f"recipe {recipe.name!r} needs the latent upsampler, which was not loaded")
        temporal = self.pipe.vae_temporal_compression_ratio
        out_frames = max(2, round(request.seconds * request.fps))  # the render phase's contract: at least two frames
        photos = request.images if request.motion in KEYFRAME_MOTIONS else request.images[:1]
        images = [to_rgb_array(i) for i in photos]
        timing = clip_timing(len(images), out_frames, request.fps, temporal)
        shape = plan_shape(request.width, request.height, self.sampler.max_pixels, recipe.size_multiple)

        move = camera_move(request.motion, request.pan_direction) if request.use_camera_lora else None
        prompt = build_prompt(request.room_type, request.motion, request.pan_direction)
        embeds = self.prompts(prompt, NEGATIVE_PROMPT, self.device)

        if recipe.refine is None:
            video, _ = self._stage(recipe.first, images, timing, shape.width, shape.height, move, embeds,
                                   request.seed, output_type="np")
        else:
            latents, audio = self._stage(recipe.first, images, timing, shape.width // 2, shape.height // 2, move,
                                         embeds, request.seed, output_type="latent")
            upscaled = self.upsampler(latents=latents, output_type="latent", return_dict=False)[0]
            video, _ = self._stage(recipe.refine, images, timing, shape.width, shape.height, move, embeds,
                                   request.seed, latents=upscaled, audio_latents=audio, output_type="np")

        frames = (np.clip(video[0], 0.0, 1.0) * 255).round().astype(np.uint8)[list(timing.keep)]
        frames = np.stack([cover(f, shape.out_width, shape.out_height) for f in frames])
        camera = move if move in self.camera_loras else None
        metadata = {
            "model": self.model_id,
            "pipeline": type(self.pipe).__name__,
            "recipe": recipe.name,
            "lora": self.camera_loras[camera] if camera else None,
            "lora_strength": self.lora_strength if camera else None,
            "distilled_lora": [stage.distilled_lora for stage in recipe.stages],
            "prompt": prompt,
            "negative_prompt": NEGATIVE_PROMPT,
            "seconds": out_frames / request.fps,
            "frames": out_frames,
            "generated_frames": timing.num_frames,
            "generated_size": [shape.width, shape.height],
            "first_stage_size": [shape.width // 2, shape.height // 2] if recipe.refine else [shape.width, shape.height],
            "keyframe_indices": list(timing.latent_indices) if request.motion in KEYFRAME_MOTIONS else [],
            "keyframe_frames": timing.keyframe_frames(temporal),
            "conditioning_frame_rate": timing.frame_rate,
            "steps": [stage.steps for stage in recipe.stages],
            "seed": request.seed,
            "device": str(self.device),
            "memory_plan": self.plan.name,
        }
        return GeneratedVideo(frames=frames, fps=request.fps, metadata=metadata)
