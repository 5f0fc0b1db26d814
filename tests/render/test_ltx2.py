"""LTX-2 backend on a tiny random LTX-2, built from configs the way diffusers' own fast tests build it.

Nothing is downloaded: the Gemma-3 text encoder comes from a tiny config and its tokenizer is a BPE trained
here on the prompts the backend writes. The model is saved and loaded back through the production loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    FlowMatchEulerDiscreteScheduler,
    LTX2ImageToVideoPipeline,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2 import LTX2TextConnectors
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
from peft import LoraConfig, get_peft_model_state_dict
from tokenizers import trainers
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GemmaTokenizer

from db.enums import MotionType, RoomType
from tasks.render.ltx2 import (
    NEGATIVE_PROMPT,
    CameraMove,
    GenerationRequest,
    LTX2Generator,
    PanDirection,
    SamplerSettings,
    build_prompt,
    camera_move,
    generation_size,
    keyframe_indices,
    lora_source,
    ltx_frame_count,
    plan_shape,
)
from tasks.render.memory_plan import (
    CPU_PLAN,
    FP8,
    GiB,
    InsufficientMemory,
    MemoryPlan,
    Placement,
    choose_memory_plan,
    ltx2_facts,
)
from tasks.settings import Settings

TINY_SAMPLER = SamplerSettings(steps=2, stg_blocks=(1,), max_sequence_length=16, max_pixels=64 * 32)
TEXT_HIDDEN, TEXT_LAYERS = 32, 2


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


# --- a tiny LTX-2 ------------------------------------------------------------------------------------------------


def tiny_tokenizer() -> GemmaTokenizer:
    """Gemma's tokenizer class around a 160-token BPE trained on the prompts this backend writes."""
    tokenizer = GemmaTokenizer()
    corpus = [build_prompt(room, motion, pan) for room in RoomType for motion in MotionType for pan in PanDirection]
    trainer = trainers.BpeTrainer(vocab_size=160, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])
    tokenizer.backend_tokenizer.train_from_iterator([*corpus, NEGATIVE_PROMPT], trainer=trainer)
    return tokenizer


def tiny_pipeline() -> LTX2ImageToVideoPipeline:
    """diffusers' LTX-2 fast-test components, with a Gemma-3 of our own instead of hf-internal-testing's."""
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    text_encoder = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=dict(
                vocab_size=len(tokenizer), hidden_size=TEXT_HIDDEN, intermediate_size=64,
                num_hidden_layers=TEXT_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                max_position_embeddings=64, sliding_window=16,
            ),
            vision_config=dict(
                hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                image_size=28, patch_size=14,
            ),
            mm_tokens_per_image=4, boi_token_index=2, eoi_token_index=1, image_token_index=3,
        )
    )
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=TEXT_HIDDEN, rope_double_precision=False, rope_type="split",
    )
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=TEXT_HIDDEN, text_proj_in_factor=TEXT_LAYERS + 1,
        video_connector_num_attention_heads=4, video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split",
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1,
        patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=32,
        out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2], resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1, output_sampling_rate=16000,
    )
    return LTX2ImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
        tokenizer=tokenizer, connectors=connectors, transformer=transformer, vocoder=vocoder,
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-ltx2")
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def dolly_in_lora(model_dir: Path) -> Path:
    """A random rank-4 LoRA on every attention projection, saved in diffusers' LTX-2 LoRA format."""
    transformer = LTX2VideoTransformer3DModel.from_pretrained(model_dir, subfolder="transformer")
    torch.manual_seed(1)
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    LTX2ImageToVideoPipeline.save_lora_weights(
        model_dir / "loras", transformer_lora_layers=get_peft_model_state_dict(transformer),
        weight_name="tiny-dolly-in.safetensors",
    )
    return model_dir / "loras" / "tiny-dolly-in.safetensors"


@pytest.fixture(scope="module")
def generator() -> LTX2Generator:
    """Built in memory through the alternate constructor, no LoRAs."""
    return LTX2Generator.from_pipelines(
        tiny_pipeline(), model_id="tiny", device="cpu", plan=CPU_PLAN, sampler=TINY_SAMPLER
    )


def photo(seed: int, width: int = 90, height: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def request(motion: MotionType, *images: np.ndarray, **overrides: object) -> GenerationRequest:
    fields: dict[str, object] = dict(
        images=images, motion=motion, room_type=RoomType.kitchen, seconds=0.25, fps=24, width=72, height=40, seed=3
    )
    return GenerationRequest(**(fields | overrides))


# --- pure decisions ----------------------------------------------------------------------------------------------


def test_frames_and_sizes_follow_the_ltx_grid() -> None:
    assert [ltx_frame_count(n) for n in (1, 2, 9, 10, 121, 150)] == [1, 9, 9, 17, 121, 153]
    assert generation_size(1920, 1080, 1280 * 736) == (1280, 736)
    assert generation_size(768, 512, 1280 * 736) == (768, 512)
    assert generation_size(1000, 700, 10**7) == (992, 704)
    shape = plan_shape(1920, 1080, seconds=5, fps=30, max_pixels=1280 * 736)
    assert (shape.width, shape.height, shape.num_frames, shape.out_frames) == (1280, 736, 153, 150)


def test_keyframes_spread_from_first_to_last_latent_frame() -> None:
    assert keyframe_indices(2, 153) == [0, 19]
    assert keyframe_indices(3, 153) == [0, 10, 19]
    assert keyframe_indices(4, 7, temporal_ratio=2) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="latent frames"):
        keyframe_indices(5, 7, temporal_ratio=2)


def test_prompt_names_the_move_and_the_room() -> None:
    assert build_prompt(RoomType.kitchen, MotionType.micro_push_in) == (
        "Smooth cinematic dolly in through a bright modern kitchen, realistic depth and parallax, "
        "steady camera, photorealistic real estate video"
    )
    assert "dolly left across" in build_prompt(RoomType.bedroom, MotionType.subtle_pan, PanDirection.left)
    assert "toward the front of a well-kept home" in build_prompt("front_exterior", MotionType.micro_push_in)
    assert "a wine cellar" in build_prompt("wine_cellar", MotionType.two_image_reveal)


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


@pytest.mark.parametrize(
    ("vram_gib", "host_gib", "expected"),
    [
        (1000, 1000, "resident+bf16"),  # everything fits, even the untiled decode
        (78.5, 256, "resident+bf16+vae_tiling"),  # H100 80 GB
        (44.5, 128, "model_offload+bf16+vae_tiling"),  # L40S, g6e.4xlarge
        (44.5, 32, "resident+fp8+vae_tiling"),  # L40S, g6e.xlarge: too little host RAM to offload
        (22.0, 64, "group_offload+fp8+vae_tiling"),  # A10G/L4 with 64 GiB: g5.4xlarge, g6.4xlarge
    ],
)
def test_memory_plan_prefers_precision_then_fewer_transfers(vram_gib: float, host_gib: float, expected: str) -> None:
    plan = choose_memory_plan(int(vram_gib * GiB), int(host_gib * GiB), ltx2_facts())
    assert plan.name == expected
    assert plan.vram_bytes <= vram_gib * GiB and plan.host_bytes <= host_gib * GiB


def test_memory_plan_uses_whole_component_offload_when_the_clip_is_small() -> None:
    assert choose_memory_plan(22 * GiB, 64 * GiB, ltx2_facts(768, 512, 121)).name == "model_offload+fp8+vae_tiling"


def test_memory_plan_refuses_a_g5_xlarge_naming_what_it_needs() -> None:
    with pytest.raises(InsufficientMemory) as refused:
        choose_memory_plan(22 * GiB, 16 * GiB, ltx2_facts())
    low_vram, low_host = refused.value.low_vram, refused.value.low_host
    # Streaming needs little VRAM but holds every weight on the host: fp8 storage plus the bf16 load peak.
    assert low_vram.name == "group_offload+fp8+vae_tiling" and low_vram.vram_bytes < 8 * GiB
    assert 40 * GiB < low_vram.host_bytes < 48 * GiB
    # Keeping the weights on the GPU needs little host RAM but 40+ GiB of VRAM.
    assert low_host.name == "resident+fp8+vae_tiling" and low_host.host_bytes < 16 * GiB
    assert low_host.vram_bytes > 40 * GiB
    assert f"Minimum VRAM: {low_vram.vram_bytes / GiB:.1f} GiB" in str(refused.value)


# --- generation on the tiny model --------------------------------------------------------------------------------


@pytest.mark.slow
def test_camera_lora_changes_the_clip_and_unloading_restores_it(model_dir: Path, dolly_in_lora: Path) -> None:
    push_in = request(MotionType.micro_push_in, photo(0))
    plain = LTX2Generator.from_pretrained(model_dir, device="cpu", memory_plan=CPU_PLAN, sampler=TINY_SAMPLER)
    base = plain.generate(push_in)
    gen = LTX2Generator.from_pretrained(
        model_dir, device="cpu", memory_plan=CPU_PLAN, camera_loras={CameraMove.dolly_in: str(dolly_in_lora)},
        lora_strength=1.0, sampler=TINY_SAMPLER,
    )
    with_lora = gen.generate(push_in)

    assert base.metadata["lora"] is None
    assert with_lora.metadata["lora"] == str(dolly_in_lora) and with_lora.metadata["lora_strength"] == 1.0
    assert np.abs(with_lora.frames.astype(int) - base.frames.astype(int)).max() > 8
    prompt_only = gen.generate(request(MotionType.micro_push_in, photo(0), use_camera_lora=False))
    np.testing.assert_array_equal(prompt_only.frames, base.frames)

    gen.unload_loras()
    assert gen.i2v.get_list_adapters() == {}
    np.testing.assert_array_equal(gen.generate(push_in).frames, base.frames)


def test_single_image_clip_has_the_exact_size_and_length(generator: LTX2Generator) -> None:
    clip = generator.generate(request(MotionType.subtle_pan, photo(0), pan_direction=PanDirection.left))
    assert clip.frames.shape == (6, 40, 72, 3) and clip.frames.dtype == np.uint8
    assert clip.fps == 24
    meta = clip.metadata
    assert meta["pipeline"] == "LTX2ImageToVideoPipeline" and meta["lora"] is None  # no LoRA configured
    assert (meta["frames"], meta["generated_frames"], meta["generated_size"]) == (6, 7, [64, 32])
    assert meta["seconds"] == 0.25 and meta["device"] == "cpu" and "dolly left" in meta["prompt"]


def test_two_image_reveal_is_driven_by_both_keyframes(generator: LTX2Generator) -> None:
    reveal = generator.generate(request(MotionType.two_image_reveal, photo(0), photo(1)))
    other_end = generator.generate(request(MotionType.two_image_reveal, photo(0), photo(2)))
    assert reveal.frames.shape == (6, 40, 72, 3)
    assert reveal.metadata["pipeline"] == "LTX2ConditionPipeline"
    assert reveal.metadata["keyframe_indices"] == [0, 3]
    assert not np.array_equal(reveal.frames, other_end.frames)


def test_multi_image_synthesis_spreads_its_keyframes(generator: LTX2Generator) -> None:
    clip = generator.generate(request(MotionType.multi_image_synthesis, photo(0), photo(1), photo(2)))
    assert clip.frames.shape == (6, 40, 72, 3)
    assert clip.metadata["keyframe_indices"] == [0, 2, 3]
    with pytest.raises(ValueError, match="at least two"):
        generator.generate(request(MotionType.multi_image_synthesis, photo(0)))


def test_fp8_and_tiling_plan_applies_to_the_loaded_model(model_dir: Path, dolly_in_lora: Path) -> None:
    plan = MemoryPlan(Placement.resident, fp8=True, vae_tiling=True)
    gen = LTX2Generator.from_pretrained(
        model_dir, device="cpu", memory_plan=plan, camera_loras={CameraMove.dolly_out: str(dolly_in_lora)},
        sampler=TINY_SAMPLER,
    )
    transformer = gen.i2v.transformer
    assert transformer.transformer_blocks[0].attn1.to_q.base_layer.weight.dtype == FP8
    assert transformer.transformer_blocks[0].attn1.to_q.lora_A["camera_dolly_out"].weight.dtype == torch.float32
    assert any(p.dtype == FP8 for p in gen.i2v.text_encoder.parameters())
    assert gen.i2v.vae.use_tiling and gen.condition.vae is gen.i2v.vae
    clip = gen.generate(request(MotionType.micro_push_out, photo(0)))
    assert clip.frames.shape == (6, 40, 72, 3) and clip.metadata["memory_plan"] == "resident+fp8+vae_tiling"
    assert clip.metadata["lora"] == str(dolly_in_lora)


def test_settings_name_the_model_loras_and_sampling(model_dir: Path, dolly_in_lora: Path) -> None:
    settings = Settings(
        ltx2_model=str(model_dir), ltx2_camera_loras={"dolly_left": str(dolly_in_lora)}, ltx2_lora_strength=0.5,
        ltx2_steps=2, ltx2_max_pixels=2048,
    )
    gen = LTX2Generator.from_settings(settings, "cpu")
    assert gen.camera_loras == {CameraMove.dolly_left: str(dolly_in_lora)}
    assert set(gen.i2v.get_list_adapters()["transformer"]) == {"camera_dolly_left"}
    assert (gen.lora_strength, gen.sampler.steps, gen.sampler.max_pixels, gen.plan) == (0.5, 2, 2048, CPU_PLAN)
    assert set(Settings().ltx2_camera_loras) == {move.value for move in CameraMove}
