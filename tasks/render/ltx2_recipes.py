"""LTX-2 sampling recipes as data: how many stages, at what size, with which weights, sigmas and guidance.

The three recipes are Lightricks' own pipelines (ltx-pipelines) as the LTX-2 model cards and the diffusers LTX-2
docs run them:

* `full` (ti2vid_one_stage): the base model at the full generation size, 40 steps, CFG 4 with STG and modality
  guidance. The most compute by far.
* `two_stage` (ti2vid_two_stages_hq): the same guided sampling at half size, a x2 latent upscale
  (`LTX2LatentUpsamplePipeline`), then 3 refinement steps at full size on the stage-2 distilled sigmas with the
  distilled LoRA at 0.8, no guidance (the camera LoRA cards' command line).
* `distilled` (distilled.py): the distilled weights (the distilled LoRA at full strength stands in for the distilled
  checkpoint, so camera LoRAs trained on the base still apply) for 8 steps on the distilled sigmas at half size,
  the latent upscale, then the same 3 refinement steps. No guidance: one transformer pass per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES


@dataclass(frozen=True)
class Stage:
    """One denoising pass of `LTX2ConditionPipeline`."""

    steps: int
    sigmas: tuple[float, ...] | None  # a fixed schedule used as is; None: the model's shifted linear schedule
    guidance_scale: float  # CFG; 1 turns it off
    stg_scale: float  # spatio-temporal guidance; 0 turns it off
    modality_scale: float  # audio-video modality isolation guidance; 1 turns it off
    guidance_rescale: float
    distilled_lora: float  # strength of the distilled LoRA in this stage; 0: the base weights

    def __post_init__(self) -> None:
        if self.sigmas is not None and len(self.sigmas) != self.steps:
            raise ValueError(f"a fixed schedule of {len(self.sigmas)} sigmas cannot run {self.steps} steps")

    @property
    def passes_per_step(self) -> int:
        """Transformer forward rows per step: the prompt, plus one per guidance that is on (what the pipeline runs)."""
        return 1 + (self.guidance_scale > 1.0) + (self.stg_scale > 0.0) + (self.modality_scale > 1.0)

    def call_kwargs(self, stg_blocks: tuple[int, ...]) -> dict[str, object]:
        """Sampling arguments for `LTX2ConditionPipeline.__call__`; audio (discarded) is guided like video so an
        unguided stage really runs one pass per step (the pipeline's audio defaults would switch CFG back on)."""
        return dict(
            num_inference_steps=self.steps,
            sigmas=list(self.sigmas) if self.sigmas is not None else None,
            guidance_scale=self.guidance_scale,
            stg_scale=self.stg_scale,
            modality_scale=self.modality_scale,
            guidance_rescale=self.guidance_rescale,
            audio_guidance_scale=self.guidance_scale,
            audio_stg_scale=self.stg_scale,
            audio_modality_scale=self.modality_scale,
            audio_guidance_rescale=self.guidance_rescale,
            spatio_temporal_guidance_blocks=list(stg_blocks) if self.stg_scale > 0 else None,
            use_cross_timestep=False,  # LTX-2.0 (19B) was trained with the legacy timestep embedding
        )

    def scheduler(self, model_scheduler: FlowMatchEulerDiscreteScheduler) -> FlowMatchEulerDiscreteScheduler:
        """The model's scheduler for the shifted default schedule; a fixed schedule must reach the sampler unshifted."""
        if self.sigmas is None:
            return model_scheduler
        return FlowMatchEulerDiscreteScheduler.from_config(
            model_scheduler.config, use_dynamic_shifting=False, shift_terminal=None, shift=1.0
        )


@dataclass(frozen=True)
class Recipe:
    name: str
    first: Stage
    refine: Stage | None = None  # set: `first` runs at half size, the latents are upscaled x2, then this at full size

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (self.first, self.refine) if self.refine else (self.first,)

    @property
    def size_multiple(self) -> int:
        """Generation sides must be multiples of 32 (the VAE); halving for the first stage needs 64."""
        return 64 if self.refine else 32

    @property
    def distilled_lora(self) -> bool:
        return any(stage.distilled_lora for stage in self.stages)

    def transformer_passes(self, tokens: int) -> list[tuple[int, int]]:
        """(token count, forward passes) per stage for a clip of `tokens` video tokens at full size: the cost model."""
        first_tokens = math.ceil(tokens / 4) if self.refine else tokens
        rows = [(first_tokens, self.first.steps * self.first.passes_per_step)]
        if self.refine:
            rows.append((tokens, self.refine.steps * self.refine.passes_per_step))
        return rows


GUIDED = Stage(steps=40, sigmas=None, guidance_scale=4.0, stg_scale=1.0, modality_scale=3.0, guidance_rescale=0.7,
               distilled_lora=0.0)


def _distilled(sigmas: list[float], lora: float) -> Stage:
    return Stage(steps=len(sigmas), sigmas=tuple(sigmas), guidance_scale=1.0, stg_scale=0.0, modality_scale=1.0,
                 guidance_rescale=0.0, distilled_lora=lora)


RECIPES: dict[str, Recipe] = {
    "full": Recipe("full", GUIDED),
    "two_stage": Recipe("two_stage", GUIDED, refine=_distilled(STAGE_2_DISTILLED_SIGMA_VALUES, 0.8)),
    "distilled": Recipe("distilled", _distilled(DISTILLED_SIGMA_VALUES, 1.0),
                        refine=_distilled(STAGE_2_DISTILLED_SIGMA_VALUES, 1.0)),
}
