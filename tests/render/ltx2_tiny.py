"""A tiny random LTX-2, built from configs the way diffusers' own fast tests build it, plus LoRA files.

Nothing is downloaded: the Gemma-3 text encoder comes from a tiny config and its tokenizer is a BPE trained here on
the prompts the backend writes. LoRA files are written in Lightricks' published layout (`diffusion_model.*` keys,
the original checkpoint's module names), which diffusers must convert on load.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    FlowMatchEulerDiscreteScheduler,
    LTX2ConditionPipeline,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2 import LTX2TextConnectors
from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
from safetensors.torch import save_file
from tokenizers import trainers
from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GemmaTokenizer

from db.enums import MotionType, RoomType
from tasks.render.ltx2 import NEGATIVE_PROMPT, UPSAMPLER_SUBFOLDER, PanDirection, build_prompt

TEXT_HIDDEN, TEXT_LAYERS, LATENT_CHANNELS = 32, 2, 4

PUBLISHED_NAMES = {"proj_in": "patchify_proj", "time_embed.": "adaln_single.", "norm_q": "q_norm"}
"""diffusers module name -> the original LTX-2 checkpoint's, for the modules a published LoRA names differently."""


def tiny_tokenizer() -> GemmaTokenizer:
    """Gemma's tokenizer class around a 160-token BPE trained on the prompts this backend writes."""
    tokenizer = GemmaTokenizer()
    corpus = [build_prompt(room, motion, pan) for room in RoomType for motion in MotionType for pan in PanDirection]
    trainer = trainers.BpeTrainer(vocab_size=160, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])
    tokenizer.backend_tokenizer.train_from_iterator([*corpus, NEGATIVE_PROMPT], trainer=trainer)
    return tokenizer


def tiny_pipeline() -> LTX2ConditionPipeline:
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
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1, patch_size_t=1,
        num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16, audio_in_channels=4,
        audio_out_channels=4, audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8,
        num_layers=2, qk_norm="rms_norm_across_heads", caption_channels=TEXT_HIDDEN, rope_double_precision=False,
        rope_type="split",
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
        in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS, block_out_channels=(8,),
        decoder_block_out_channels=(8,), layers_per_block=(1,), decoder_layers_per_block=(1, 1),
        spatio_temporal_scaling=(True,), decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False),
        downsample_type=("spatial",), upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
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
    return LTX2ConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
        tokenizer=tokenizer, connectors=connectors, transformer=transformer, vocoder=vocoder,
    )


def tiny_upsampler() -> LTX2LatentUpsamplerModel:
    """The x2 spatial latent upsampler at test size (GroupNorm needs channels in multiples of 32)."""
    torch.manual_seed(0)
    return LTX2LatentUpsamplerModel(in_channels=LATENT_CHANNELS, mid_channels=32, num_blocks_per_stage=1, dims=3,
                                    spatial_upsample=True, temporal_upsample=False, use_rational_resampler=False)


def save_tiny_model(path: Path) -> Path:
    """A diffusers-format model folder like Lightricks/LTX-2's: the pipeline plus `latent_upsampler/`."""
    tiny_pipeline().save_pretrained(path)
    tiny_upsampler().save_pretrained(path / UPSAMPLER_SUBFOLDER)
    return path


def published_key(diffusers_module: str) -> str:
    name = diffusers_module
    for ours, theirs in PUBLISHED_NAMES.items():
        name = name.replace(ours, theirs)
    return f"diffusion_model.{name}"


def write_published_lora(transformer: torch.nn.Module, path: Path, targets: tuple[str, ...], seed: int,
                         rank: int = 4) -> dict[str, torch.Tensor]:
    """A random LoRA on every Linear whose name ends in one of `targets`, saved with the published files' keys
    (`diffusion_model.<original module>.lora_A/B.weight`); returns {diffusers module name: delta weight}."""
    generator = torch.Generator().manual_seed(seed)
    tensors, deltas = {}, {}
    for name, module in transformer.named_modules():
        if not isinstance(module, torch.nn.Linear) or not name.endswith(targets):
            continue
        down = torch.randn(rank, module.in_features, generator=generator) * 0.5
        up = torch.randn(module.out_features, rank, generator=generator) * 0.5
        key = published_key(name)
        tensors[f"{key}.lora_A.weight"], tensors[f"{key}.lora_B.weight"] = down, up
        deltas[name] = up @ down
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return deltas
