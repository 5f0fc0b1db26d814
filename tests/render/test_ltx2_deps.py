"""The installed diffusers/transformers/peft take every argument the LTX-2 backend passes.

Floors in pyproject.toml are the first releases that do (diffusers 0.40: `from_pretrained(dtype=)`; 0.38: STG,
modality and cross-timestep arguments; transformers 5.10.1: the Gemma-4 classes diffusers 0.40+ import; peft 0.19:
LoRA on torchao float8 weights). This test records the calls a real two-stage generation makes and binds each one
against the installed signature, so a release that renames or drops an argument fails here, not on a GPU.
"""

from __future__ import annotations

import functools
import inspect
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    LTX2ConditionPipeline,
    LTX2LatentUpsamplePipeline,
    LTX2VideoTransformer3DModel,
)
from diffusers.hooks import apply_group_offloading
from diffusers.models.modeling_utils import ModelMixin
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

from db.enums import MotionType, RoomType
from tasks.render.ltx2 import CameraMove, GenerationRequest, LTX2Generator, SamplerSettings
from tasks.render.ltx2_recipes import RECIPES
from tasks.render.memory_plan import CPU_PLAN, MemoryPlan, Placement, quantization_config
from tests.render.ltx2_tiny import save_tiny_model, write_published_lora

RECORDED = (
    (LTX2ConditionPipeline, "__call__"),
    (LTX2ConditionPipeline, "encode_prompt"),
    (LTX2ConditionPipeline, "load_lora_weights"),
    (LTX2ConditionPipeline, "set_adapters"),
    (LTX2LatentUpsamplePipeline, "__call__"),
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    path = save_tiny_model(tmp_path_factory.mktemp("tiny-ltx2-deps"))
    transformer = LTX2VideoTransformer3DModel.from_pretrained(path, subfolder="transformer")
    write_published_lora(transformer, path / "distilled.safetensors", ("to_q", "to_v"), seed=2)
    write_published_lora(transformer, path / "dolly-in.safetensors", ("to_k",), seed=1)
    return path


@pytest.fixture
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, set[str]]]:
    """Wrap each recorded method: bind every call against the installed signature and note the names passed."""
    passed: dict[str, set[str]] = defaultdict(set)
    for cls, name in RECORDED:
        original = getattr(cls, name)
        signature = inspect.signature(original)
        label = f"{cls.__name__}.{name}"

        def wrapper(*args: object, __original=original, __signature=signature, __label=label, **kwargs: object):
            try:
                __signature.bind(*args, **kwargs)
            except TypeError as err:
                raise AssertionError(f"{__label} of this diffusers does not take what we pass: {err}") from None
            passed[__label].update(kwargs)
            return __original(*args, **kwargs)

        monkeypatch.setattr(cls, name, functools.wraps(original)(wrapper))
    yield passed


@pytest.mark.slow
def test_every_argument_of_a_two_stage_generation_is_in_the_installed_signatures(
        model_dir: Path, recorded_calls: dict[str, set[str]]) -> None:
    two_stage = RECIPES["two_stage"]
    gen = LTX2Generator.from_pretrained(
        model_dir, device="cpu", memory_plan=CPU_PLAN, distilled_lora=str(model_dir / "distilled.safetensors"),
        camera_loras={CameraMove.dolly_in: str(model_dir / "dolly-in.safetensors")},
        sampler=SamplerSettings(stg_blocks=(1,), max_sequence_length=16, max_pixels=64 * 64),
        recipes={"two_stage": replace(two_stage, first=replace(two_stage.first, steps=1))},
    )
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    clip = gen.generate(GenerationRequest(images=(photo,), motion=MotionType.micro_push_in, room_type=RoomType.kitchen,
                                          seconds=0.25, fps=8, width=64, height=64, recipe="two_stage"))
    assert clip.frames.shape == (2, 64, 64, 3)
    pipeline_call = recorded_calls["LTX2ConditionPipeline.__call__"]
    # the arguments the LTX-2 19B sampling depends on were really passed (not left to defaults)
    assert {"conditions", "sigmas", "stg_scale", "modality_scale", "spatio_temporal_guidance_blocks",
            "use_cross_timestep", "audio_guidance_scale", "prompt_embeds", "negative_prompt_embeds", "latents",
            "audio_latents", "frame_rate"} <= pipeline_call
    assert {"latents", "output_type"} <= recorded_calls["LTX2LatentUpsamplePipeline.__call__"]
    assert {"adapter_weights"} <= recorded_calls["LTX2ConditionPipeline.set_adapters"]
    assert {"weight_name", "adapter_name"} <= recorded_calls["LTX2ConditionPipeline.load_lora_weights"]


def test_what_only_a_gpu_exercises_is_in_the_installed_signatures() -> None:
    """Group offload and the scheduler swap run only on CUDA or only in some recipes: checked by name here."""
    offload = {"onload_device", "offload_type", "num_blocks_per_group", "use_stream", "low_cpu_mem_usage"}
    assert offload <= set(inspect.signature(ModelMixin.enable_group_offload).parameters)
    assert offload <= set(inspect.signature(apply_group_offloading).parameters)
    assert {"use_dynamic_shifting", "shift_terminal", "shift"} <= set(FlowMatchEulerDiscreteScheduler().config)
    assert {"frames", "index", "strength"} <= {f.name for f in fields(LTX2VideoCondition)}
    config = quantization_config(MemoryPlan(Placement.resident, fp8=True, vae_tiling=False))
    assert set(config.quant_mapping) == {"transformer", "text_encoder"}


def test_dtype_reaches_diffusers_and_transformers_components(model_dir: Path) -> None:
    """`dtype=` (not the deprecated `torch_dtype=`) must cast both diffusers models and the transformers Gemma."""
    pipe = LTX2ConditionPipeline.from_pretrained(model_dir, dtype=torch.bfloat16)
    assert pipe.transformer.dtype == pipe.text_encoder.dtype == pipe.vae.dtype == torch.bfloat16
