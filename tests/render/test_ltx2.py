"""LTX-2 backend on a tiny random LTX-2 (tests/render/ltx2_tiny.py), saved and loaded back through the production
loader: the three recipes end to end (latent upsampler included), keyframe timing against diffusers' own keyframe
placement, LoRAs in Lightricks' published key layout, fp8 through torchao, and the prompt-embedding cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES
from PIL import Image

from db.enums import MotionType, RoomType
from tasks.render.ltx2 import (
    DISTILLED_ADAPTER,
    CameraMove,
    GenerationRequest,
    LTX2Generator,
    PanDirection,
    SamplerSettings,
    adapter_name,
    build_prompt,
    camera_move,
    clip_timing,
    cover,
    generation_size,
    lora_source,
    ltx_frame_count,
    plan_shape,
)
from tasks.render.ltx2_recipes import RECIPES, Recipe
from tasks.render.memory_plan import (
    CPU_PLAN,
    GiB,
    InsufficientMemory,
    MemoryPlan,
    Placement,
    choose_memory_plan,
    ltx2_facts,
)
from tasks.settings import Settings
from tests.render.ltx2_tiny import save_tiny_model, write_published_lora

TINY_SAMPLER = SamplerSettings(stg_blocks=(1,), max_sequence_length=16, max_pixels=64 * 64)
TINY_RECIPES = {  # the guided stage at 2 steps instead of 40; everything else as production runs it
    name: dataclasses.replace(r, first=dataclasses.replace(r.first, steps=2) if r.first.sigmas is None else r.first)
    for name, r in RECIPES.items()
}
CAMERA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2")
DISTILLED_TARGETS = (*CAMERA_TARGETS, "proj_in", "time_embed.linear")  # renamed modules in the published layout


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-ltx2"))


@pytest.fixture(scope="module")
def transformer(model_dir: Path) -> LTX2VideoTransformer3DModel:
    return LTX2VideoTransformer3DModel.from_pretrained(model_dir, subfolder="transformer")


@pytest.fixture(scope="module")
def distilled_lora(model_dir: Path, transformer: LTX2VideoTransformer3DModel) -> tuple[Path, dict]:
    path = model_dir / "loras" / "tiny-distilled-lora.safetensors"
    return path, write_published_lora(transformer, path, DISTILLED_TARGETS, seed=2)


@pytest.fixture(scope="module")
def dolly_in_lora(model_dir: Path, transformer: LTX2VideoTransformer3DModel) -> Path:
    path = model_dir / "loras" / "tiny-dolly-in.safetensors"
    write_published_lora(transformer, path, CAMERA_TARGETS, seed=1)
    return path


@pytest.fixture(scope="module")
def generator(model_dir: Path, distilled_lora: tuple[Path, dict]) -> LTX2Generator:
    """Every recipe loaded, the distilled LoRA, no camera LoRA."""
    return LTX2Generator.from_pretrained(model_dir, device="cpu", memory_plan=CPU_PLAN,
                                         distilled_lora=str(distilled_lora[0]), sampler=TINY_SAMPLER,
                                         recipes=TINY_RECIPES)


def photo(seed: int, width: int = 90, height: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def request(motion: MotionType, *images: np.ndarray, **overrides: object) -> GenerationRequest:
    fields: dict[str, object] = dict(images=images, motion=motion, room_type=RoomType.kitchen, seconds=0.25, fps=16,
                                     width=90, height=90, seed=3)
    return GenerationRequest(**(fields | overrides))


# --- pure decisions ----------------------------------------------------------------------------------------------


def test_frames_and_sizes_follow_the_ltx_grid() -> None:
    assert [ltx_frame_count(n) for n in (1, 2, 9, 10, 121, 150)] == [1, 9, 9, 17, 121, 153]
    assert generation_size(1920, 1080, 1280 * 736) == (1280, 736)
    assert generation_size(1920, 1080, 1280 * 736, multiple=64) == (1280, 704)  # halves stay multiples of 32
    assert generation_size(768, 512, 1280 * 736) == (768, 512)
    assert generation_size(1000, 700, 10**7) == (992, 704)
    shape = plan_shape(1920, 1080, max_pixels=1280 * 736)
    assert (shape.width, shape.height, shape.out_width, shape.out_height) == (1280, 736, 1920, 1080)


@pytest.mark.parametrize(("images", "out_frames"), [(2, 150), (2, 149), (2, 2), (3, 150), (4, 60), (2, 6)])
def test_keyframes_land_on_the_first_and_last_output_frames(images: int, out_frames: int) -> None:
    timing = clip_timing(images, out_frames, fps=30)
    frames = timing.keyframe_frames(8)
    assert frames[0] == 0 and frames[-1] == out_frames - 1
    assert frames == sorted(set(frames))  # every photo on its own frame, in order
    assert len(timing.keep) == out_frames and timing.keep[-1] < timing.num_frames
    assert (timing.num_frames - 1) % 8 == 0
    steps = np.diff(timing.keep)
    assert steps.min() >= 1 and steps.max() <= 2  # evenly spaced: at most a dropped frame between two kept
    # the model is told the rate at which the generated span from first to last keyframe lasts the clip's seconds
    assert timing.keep[-1] / timing.frame_rate == pytest.approx((out_frames - 1) / 30)


def test_single_photo_clips_keep_the_first_frames_at_the_real_rate() -> None:
    timing = clip_timing(1, 150, fps=30)
    assert (timing.num_frames, timing.latent_indices, timing.keep, timing.frame_rate) == (
        153, (0,), tuple(range(150)), 30.0)


def test_prompt_names_the_move_the_room_and_the_direction() -> None:
    assert build_prompt(RoomType.kitchen, MotionType.micro_push_in) == (
        "Smooth cinematic dolly in through a bright modern kitchen, realistic depth and parallax, "
        "steady camera, photorealistic real estate video"
    )
    assert "dolly left across" in build_prompt(RoomType.bedroom, MotionType.subtle_pan, PanDirection.left)
    assert "toward the front of a well-kept home" in build_prompt("front_exterior", MotionType.micro_push_in)
    assert "a wine cellar" in build_prompt("wine_cellar", MotionType.two_image_reveal)
    for motion in (MotionType.two_image_reveal, MotionType.multi_image_synthesis):
        left = build_prompt(RoomType.kitchen, motion, PanDirection.left)
        right = build_prompt(RoomType.kitchen, motion, PanDirection.right)
        assert "to the left" in left and "to the right" in right


def test_motions_map_to_camera_loras() -> None:
    assert camera_move(MotionType.micro_push_in, PanDirection.right) is CameraMove.dolly_in
    assert camera_move(MotionType.micro_push_out, PanDirection.right) is CameraMove.dolly_out
    assert camera_move(MotionType.subtle_pan, PanDirection.left) is CameraMove.dolly_left
    assert camera_move(MotionType.subtle_pan, PanDirection.right) is CameraMove.dolly_right
    assert camera_move(MotionType.two_image_reveal, PanDirection.left) is None
    hub = "Lightricks/LTX-2-19b-LoRA-Camera-Control-Dolly-In/ltx-2-19b-lora-camera-control-dolly-in.safetensors"
    assert lora_source(hub) == (
        "Lightricks/LTX-2-19b-LoRA-Camera-Control-Dolly-In", "ltx-2-19b-lora-camera-control-dolly-in.safetensors"
    )


def test_recipes_are_the_model_cards() -> None:
    distilled, two_stage, full = RECIPES["distilled"], RECIPES["two_stage"], RECIPES["full"]
    assert distilled.first.sigmas == tuple(DISTILLED_SIGMA_VALUES) and distilled.first.steps == 8
    assert distilled.refine.sigmas == tuple(STAGE_2_DISTILLED_SIGMA_VALUES) == two_stage.refine.sigmas
    assert all(s.passes_per_step == 1 for s in (distilled.first, distilled.refine, two_stage.refine))
    assert (distilled.first.distilled_lora, two_stage.refine.distilled_lora, two_stage.first.distilled_lora) == (
        1.0, 0.8, 0.0)
    assert full.refine is None and full.first.passes_per_step == 4  # prompt, CFG, STG, modality
    assert full.first.call_kwargs((29,))["audio_guidance_scale"] == 4.0
    assert distilled.first.call_kwargs((29,))["audio_guidance_scale"] == 1.0  # else audio CFG doubles the batch
    assert [r.size_multiple for r in (distilled, two_stage, full)] == [64, 64, 32]


@pytest.mark.parametrize(
    ("vram_gib", "host_gib", "expected"),
    [
        (1000, 1000, "resident+bf16"),  # everything fits, even the untiled decode
        (78.5, 256, "resident+bf16+vae_tiling"),  # H100 80 GB
        (44.5, 128, "model_offload+bf16+vae_tiling"),  # L40S, g6e.4xlarge
        (44.5, 32, "resident+fp8+vae_tiling"),  # L40S, g6e.xlarge: too little host RAM to offload
        (22.0, 256, "group_offload+bf16+vae_tiling"),  # A10G/L4, 256 GiB: bf16 weights pinned twice over
        (22.0, 128, "group_offload+bf16+unpinned+vae_tiling"),  # g5/g6.8xlarge: bf16, pinned on the fly
        (22.0, 64, "group_offload+fp8+unpinned+vae_tiling"),  # g5/g6.4xlarge: no room for a pinned second copy
    ],
)
def test_memory_plan_prefers_precision_then_fewer_transfers(vram_gib: float, host_gib: float, expected: str) -> None:
    plan = choose_memory_plan(int(vram_gib * GiB), int(host_gib * GiB), ltx2_facts())
    assert plan.name == expected
    assert plan.vram_bytes <= vram_gib * GiB and plan.host_bytes <= host_gib * GiB


def test_memory_plan_refuses_a_g5_xlarge_naming_what_it_needs() -> None:
    with pytest.raises(InsufficientMemory) as refused:
        choose_memory_plan(22 * GiB, 16 * GiB, ltx2_facts())
    low_vram, low_host = refused.value.low_vram, refused.value.low_host
    assert low_vram.name == "group_offload+fp8+unpinned+vae_tiling" and low_vram.vram_bytes < 8 * GiB
    assert 40 * GiB < low_vram.host_bytes < 48 * GiB
    assert low_host.name == "resident+fp8+vae_tiling" and low_host.host_bytes < 16 * GiB
    assert low_host.vram_bytes > 40 * GiB
    assert f"Minimum VRAM: {low_vram.vram_bytes / GiB:.1f} GiB" in str(refused.value)


# --- the recipes on the tiny model -------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", ["distilled", "two_stage", "full"])
def test_each_recipe_makes_the_exact_clip(generator: LTX2Generator, recipe: str) -> None:
    clip = generator.generate(request(MotionType.subtle_pan, photo(0), pan_direction=PanDirection.left, recipe=recipe))
    assert clip.frames.shape == (4, 90, 90, 3) and clip.frames.dtype == np.uint8 and clip.fps == 16
    meta = clip.metadata
    assert (meta["recipe"], meta["pipeline"], meta["frames"], meta["generated_frames"]) == (
        recipe, "LTX2ConditionPipeline", 4, 5)
    assert meta["generated_size"] == [64, 64]
    refines = RECIPES[recipe].refine is not None
    assert meta["first_stage_size"] == ([32, 32] if refines else [64, 64])
    assert meta["steps"] == [s.steps for s in TINY_RECIPES[recipe].stages]
    assert meta["keyframe_frames"] == [0] and "dolly left" in meta["prompt"]
    last = TINY_RECIPES[recipe].stages[-1]
    if last.sigmas:  # the fixed schedule reached the sampler unshifted
        np.testing.assert_allclose(generator.pipe.scheduler.sigmas[:-1].numpy(), last.sigmas, rtol=1e-6)


def test_two_stage_refines_the_upscaled_first_stage(generator: LTX2Generator) -> None:
    seen: list[tuple[int, ...]] = []
    hook = generator.upsampler.latent_upsampler.register_forward_hook(
        lambda _m, args, out: seen.append((tuple(args[0].shape), tuple(out.shape))))
    try:
        generator.generate(request(MotionType.micro_push_in, photo(0), recipe="two_stage"))
    finally:
        hook.remove()
    (before, after), = seen
    assert after[-2:] == (before[-2] * 2, before[-1] * 2)  # x2 in latent height and width, same frames
    assert after[2] == before[2]


@pytest.mark.slow
def test_reveal_lands_both_photos_where_the_pipeline_places_them(generator: LTX2Generator) -> None:
    reveal = generator.generate(request(MotionType.two_image_reveal, photo(0), photo(1)))
    other_end = generator.generate(request(MotionType.two_image_reveal, photo(0), photo(2)))
    assert reveal.frames.shape == (4, 90, 90, 3)
    assert reveal.metadata["keyframe_frames"] == [0, 3]
    assert not np.array_equal(reveal.frames[-1], other_end.frames[-1])  # the second photo drives the end
    # Ask diffusers itself where it puts the last keyframe: its coordinates (seconds) times the rate we told it.
    pipe = generator.pipe
    timing = clip_timing(2, 4, 16, pipe.vae_temporal_compression_ratio)
    conditions = [LTX2VideoCondition(frames=Image.fromarray(cover(p, 32, 32)), index=i, crf=0)
                  for p, i in zip((photo(0), photo(1)), timing.latent_indices, strict=True)]
    *_, coords = pipe.prepare_latents(conditions, num_channels_latents=4, height=32, width=32,
                                      num_frames=timing.num_frames, frame_rate=timing.frame_rate,
                                      dtype=torch.float32, device=torch.device("cpu"))
    keyframe_start = coords[0, 0, :, 0] * timing.frame_rate
    assert torch.allclose(keyframe_start, torch.full_like(keyframe_start, timing.keep[-1]), atol=1e-4)


def test_multi_image_synthesis_spreads_its_keyframes(generator: LTX2Generator) -> None:
    clip = generator.generate(request(MotionType.multi_image_synthesis, photo(0), photo(1), photo(2)))
    assert clip.frames.shape == (4, 90, 90, 3)
    assert clip.metadata["keyframe_frames"] == [0, 1, 3]
    with pytest.raises(ValueError, match="at least two"):
        generator.generate(request(MotionType.multi_image_synthesis, photo(0)))


def test_prompt_embeddings_are_encoded_once_per_prompt(generator: LTX2Generator) -> None:
    calls = []
    hook = generator.pipe.text_encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        push = request(MotionType.micro_push_out, photo(4), room_type=RoomType.garage)
        first = generator.generate(push)
        encoded = len(calls)
        again = generator.generate(push)
        assert encoded == 2 and len(calls) == encoded  # prompt + negative once, then from the cache
        np.testing.assert_array_equal(first.frames, again.frames)
    finally:
        hook.remove()


def test_a_recipe_needing_the_distilled_lora_is_refused_without_it(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="distilled LoRA"):
        LTX2Generator.from_pretrained(model_dir, device="cpu", memory_plan=CPU_PLAN, sampler=TINY_SAMPLER)


# --- LoRAs -------------------------------------------------------------------------------------------------------


def test_a_published_layout_lora_maps_every_key_onto_the_transformer(generator: LTX2Generator,
                                                                      distilled_lora: tuple[Path, dict]) -> None:
    _, deltas = distilled_lora
    transformer = generator.pipe.transformer
    loaded = {name for name, m in transformer.named_modules() if DISTILLED_ADAPTER in getattr(m, "lora_A", {})}
    assert loaded == set(deltas) and {"proj_in", "time_embed.linear"} <= loaded  # renamed modules found too
    config = transformer.peft_config[DISTILLED_ADAPTER]
    scale = config.lora_alpha / config.r  # the file's own scale (no alphas in it: 1), not a stage's strength
    for name in ("proj_in", "transformer_blocks.1.ff.net.2"):
        module = transformer.get_submodule(name)
        got = module.lora_B[DISTILLED_ADAPTER].weight @ module.lora_A[DISTILLED_ADAPTER].weight * scale
        torch.testing.assert_close(got, deltas[name])


@pytest.mark.slow
def test_camera_lora_changes_the_clip_and_unloading_restores_it(model_dir: Path, dolly_in_lora: Path,
                                                                distilled_lora: tuple[Path, dict]) -> None:
    push_in = request(MotionType.micro_push_in, photo(0))
    common = dict(device="cpu", memory_plan=CPU_PLAN, distilled_lora=str(distilled_lora[0]), sampler=TINY_SAMPLER,
                  recipes={"distilled": TINY_RECIPES["distilled"]})
    base = LTX2Generator.from_pretrained(model_dir, **common).generate(push_in)
    gen = LTX2Generator.from_pretrained(model_dir, camera_loras={CameraMove.dolly_in: str(dolly_in_lora)}, **common)
    with_lora = gen.generate(push_in)

    assert base.metadata["lora"] is None
    assert with_lora.metadata["lora"] == str(dolly_in_lora) and with_lora.metadata["lora_strength"] == 1.0
    assert np.abs(with_lora.frames.astype(int) - base.frames.astype(int)).max() > 8
    prompt_only = gen.generate(request(MotionType.micro_push_in, photo(0), use_camera_lora=False))
    np.testing.assert_array_equal(prompt_only.frames, base.frames)

    gen.unload_loras()
    assert set(gen.pipe.get_list_adapters()["transformer"]) == {DISTILLED_ADAPTER}
    np.testing.assert_array_equal(gen.generate(push_in).frames, base.frames)


@pytest.mark.slow
def test_fp8_plan_quantizes_with_torchao_and_keeps_loras_in_compute_precision(
        model_dir: Path, dolly_in_lora: Path, distilled_lora: tuple[Path, dict]) -> None:
    from torchao.quantization import Float8Tensor

    plan = MemoryPlan(Placement.resident, fp8=True, vae_tiling=True)
    gen = LTX2Generator.from_pretrained(
        model_dir, device="cpu", memory_plan=plan, camera_loras={CameraMove.dolly_out: str(dolly_in_lora)},
        distilled_lora=str(distilled_lora[0]), sampler=TINY_SAMPLER, recipes={"distilled": TINY_RECIPES["distilled"]},
    )
    q = gen.pipe.transformer.transformer_blocks[0].attn1.to_q
    assert isinstance(q.base_layer.weight, Float8Tensor) and q.base_layer.weight.qdata.dtype == torch.float8_e4m3fn
    assert q.lora_A[adapter_name(CameraMove.dolly_out)].weight.dtype == torch.float32
    gemma_q = gen.pipe.text_encoder.model.language_model.layers[0].self_attn.q_proj.weight
    assert isinstance(gemma_q, Float8Tensor)  # scaled per row, not a bare cast
    assert gen.pipe.vae.use_tiling and gen.upsampler.vae is gen.pipe.vae
    clip = gen.generate(request(MotionType.micro_push_out, photo(0)))
    assert clip.frames.shape == (4, 90, 90, 3) and clip.metadata["memory_plan"] == "resident+fp8+vae_tiling"
    assert clip.metadata["lora"] == str(dolly_in_lora)


def test_settings_name_the_model_loras_and_recipes(model_dir: Path, dolly_in_lora: Path,
                                                   distilled_lora: tuple[Path, dict]) -> None:
    settings = Settings(
        ltx2_model=str(model_dir), ltx2_camera_loras={"dolly_left": str(dolly_in_lora)}, ltx2_lora_strength=0.5,
        ltx2_distilled_lora=str(distilled_lora[0]), ltx2_max_pixels=4096,
        ltx2_recipe_by_tier={"low": "distilled", "medium": "distilled", "high": "two_stage"},
    )
    gen = LTX2Generator.from_settings(settings, "cpu")
    assert gen.camera_loras == {CameraMove.dolly_left: str(dolly_in_lora)}
    assert set(gen.pipe.get_list_adapters()["transformer"]) == {"camera_dolly_left", DISTILLED_ADAPTER}
    assert (gen.lora_strength, gen.sampler.max_pixels, gen.plan, sorted(gen.recipes)) == (
        0.5, 4096, CPU_PLAN, ["distilled", "two_stage"])
    defaults = Settings()
    assert set(defaults.ltx2_camera_loras) == {move.value for move in CameraMove}
    assert (defaults.ltx2_lora_strength, defaults.ltx2_image_strength) == (1.0, 0.8)  # the camera LoRA cards
    assert isinstance(RECIPES[defaults.ltx2_recipe_by_tier["low"]], Recipe)
