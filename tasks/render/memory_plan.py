"""How LTX-2 fits a machine: the most faithful placement whose weights and working set fit, or a refusal.

Deciding is a pure function of byte counts so it can be tested (and argued about, see
bench/results/ltx2_memory.md) without a GPU; `apply_memory_plan` then turns the decision into diffusers calls.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import torch
from diffusers import DiffusionPipeline, ModelMixin, PipelineQuantizationConfig
from diffusers import TorchAoConfig as DiffusersTorchAoConfig
from diffusers.hooks import apply_group_offloading
from torchao.quantization import Float8WeightOnlyConfig
from transformers import TorchAoConfig as TransformersTorchAoConfig

from tasks.render.sizing import LONGEST_CLIP_FRAMES

GB = 10**9
GiB = 2**30

HOST_RESERVE_BYTES = 4 * GiB
"""OS, Python, torch/CUDA libraries and the decoded frames: host memory that is never free for weights."""
VRAM_HEADROOM_BYTES = 1 * GiB
"""CUDA workspaces and allocator fragmentation, on top of the working set and its margin."""
WORKING_MARGIN = 0.10
"""The working set is an estimate; an OOM in the VAE decode after minutes of denoising is the costly failure."""

FP8_COMPONENTS = ("transformer", "text_encoder")
"""Only the two giants are stored in fp8 (torchao, per-row scaled); the rest is small and precision-sensitive."""
BLOCK_LEVEL_COMPONENTS = ("transformer",)
"""Components whose top-level ModuleList of blocks group offloading can stream; the rest stream leaf by leaf."""


class Placement(StrEnum):
    resident = "resident"  # every weight lives on the GPU
    model_offload = "model_offload"  # whole components swap host<->GPU (enable_model_cpu_offload)
    group_offload = "group_offload"  # blocks/leaves stream to the GPU as they run (CUDA streams prefetch)


@dataclass(frozen=True)
class Component:
    """Weight bytes of one pipeline component, as stored in bf16 and in torchao fp8 (1 byte + a scale per row)."""

    name: str
    bf16_bytes: int
    fp8_bytes: int
    stream_bf16_bytes: int
    """Bytes group offloading keeps on the GPU at once for it: what stays resident plus two groups (prefetch)."""
    stream_fp8_bytes: int

    def weight_bytes(self, fp8: bool) -> int:
        return self.fp8_bytes if fp8 else self.bf16_bytes

    def stream_bytes(self, fp8: bool) -> int:
        return self.stream_fp8_bytes if fp8 else self.stream_bf16_bytes


@dataclass(frozen=True)
class ModelFacts:
    """Weights (in load order) plus the GPU working set for one generation shape."""

    components: tuple[Component, ...]
    working_bytes: int  # max(denoising activations, untiled VAE decode)
    working_tiled_bytes: int  # the same with spatial+temporal VAE tiling


def _component(name: str, bf16: float, fp8: float, stream_bf16: float, stream_fp8: float) -> Component:
    return Component(name, round(bf16 * GB), round(fp8 * GB), round(stream_bf16 * GB), round(stream_fp8 * GB))


LTX2_19B_COMPONENTS = (
    # Counted by instantiating diffusers' LTX-2.0 configs (48 blocks, 32x128 video / 32x64 audio heads) on the
    # meta device: 18.876e9 params, 386.1e6 per block, 344.6e6 outside the blocks; fp8 = Linear weights in 1 byte
    # (norms and the per-row scales stay bf16). Stream = non-block + 2 blocks. Plus the four camera LoRAs
    # (0.327 GB each as published), which stay bf16 inside it.
    _component("transformer", 37.752 + 1.308, 18.882 + 1.308, 2.234 + 0.055, 1.118 + 0.055),
    # Gemma-3-12B (48 layers, hidden 3840, vocab 262208, tied embeddings, SigLIP tower): 12.2e9 params. Streams
    # leaf by leaf; its largest leaf is the 1.007e9-param embedding.
    _component("text_encoder", 24.40, 12.21, 2.13, 1.07),
    # Text connectors (2x2 blocks, 128 registers) 1.431e9 params, 0.72e9 of them in one input projection.
    _component("connectors", 2.862, 2.862, 1.48, 1.48),
    _component("vae", 2.444, 2.444, 0.45, 0.45),  # 1.222e9 params, largest conv 0.113e9
    _component("audio_vae", 0.106, 0.106, 0.106, 0.106),
    _component("vocoder", 0.112, 0.112, 0.112, 0.112),
)


def working_set_bytes(width: int, height: int, num_frames: int, tiled: bool) -> int:
    """GPU bytes beyond the weights for one clip of the given generation size.

    Denoising: CFG runs the positive and negative prompt as a batch of 2; a block keeps about 14 hidden-sized
    (4096) bf16 tensors alive per token (residual, norm, q/k/v, attention out, 4x-wide feed-forward in and
    out), so 2 * 14 * 4096 * 2 B = 229 KiB per video token (audio tokens are negligible).
    VAE decode: the last decoder stage runs at 1/4 resolution with 256 channels for every output frame and
    keeps about 4 such bf16 tensors alive: frames * h * w * 128 B. Tiling decodes 512x512x16-frame tiles
    instead, plus the bf16 output video it blends into.
    """
    latent_frames = (num_frames - 1) // 8 + 1
    tokens = latent_frames * math.ceil(height / 32) * math.ceil(width / 32)
    denoise = tokens * 2 * 14 * 4096 * 2
    if tiled:
        tile = 17 * min(height, 512) * min(width, 512) * 128
        decode = tile + num_frames * height * width * 3 * 2
    else:
        decode = num_frames * height * width * 128
    return max(denoise, decode)


REFERENCE_SHAPE = (1280, 736, LONGEST_CLIP_FRAMES)
"""The largest clip the render phase asks for: 1080p output generated at ~0.94 MP, 5.3 s at 30 fps."""


def ltx2_facts(width: int = REFERENCE_SHAPE[0], height: int = REFERENCE_SHAPE[1],
               num_frames: int = REFERENCE_SHAPE[2]) -> ModelFacts:
    """LTX-2 19B with the working set of one generation shape."""
    return ModelFacts(
        components=LTX2_19B_COMPONENTS,
        working_bytes=working_set_bytes(width, height, num_frames, tiled=False),
        working_tiled_bytes=working_set_bytes(width, height, num_frames, tiled=True),
    )


@dataclass(frozen=True)
class MemoryPlan:
    placement: Placement
    fp8: bool  # transformer and text encoder stored in float8_e4m3fn with per-row scales, computed in bf16
    vae_tiling: bool
    vram_bytes: int = 0  # estimated peak need (0: not estimated, e.g. the CPU plan)
    host_bytes: int = 0
    pinned: bool = True  # group offload only: pin every offloaded weight up front (fast streams, a second host copy)

    @property
    def name(self) -> str:
        parts = [self.placement.value, "fp8" if self.fp8 else "bf16"]
        if self.placement is Placement.group_offload and not self.pinned:
            parts.append("unpinned")
        return "+".join(parts + (["vae_tiling"] if self.vae_tiling else []))


CPU_PLAN = MemoryPlan(Placement.resident, fp8=False, vae_tiling=False)
"""Tests and CPU-only hosts: everything resident on the CPU in float32."""


class InsufficientMemory(RuntimeError):
    """No plan fits. Names the two ends of the trade-off so an operator can pick a machine: the plan needing the
    least VRAM (and the host RAM it then needs) and the plan needing the least host RAM (and its VRAM)."""

    def __init__(self, free_vram: int, host_ram: int, candidates: Sequence[MemoryPlan]) -> None:
        self.low_vram = min(candidates, key=lambda p: (p.vram_bytes, p.host_bytes))
        self.low_host = min(candidates, key=lambda p: (p.host_bytes, p.vram_bytes))
        self.min_vram_bytes = self.low_vram.vram_bytes
        self.min_host_bytes = self.low_host.host_bytes
        super().__init__(
            f"LTX-2 does not fit {free_vram / GiB:.1f} GiB free VRAM with {host_ram / GiB:.1f} GiB host RAM. "
            f"Minimum VRAM: {self.low_vram.vram_bytes / GiB:.1f} GiB, then with "
            f"{self.low_vram.host_bytes / GiB:.1f} GiB host RAM ({self.low_vram.name}); minimum host RAM: "
            f"{self.low_host.host_bytes / GiB:.1f} GiB, then with {self.low_host.vram_bytes / GiB:.1f} GiB VRAM "
            f"({self.low_host.name})."
        )


def _load_peak(components: Sequence[Component], fp8: bool) -> int:
    """Peak bytes while loading in order: each component arrives in bf16, then shrinks to its storage dtype."""
    peak = held = 0
    for c in components:
        peak = max(peak, held + c.bf16_bytes)
        held += c.weight_bytes(fp8 and c.name in FP8_COMPONENTS)
    return max(peak, held)


def _needs(facts: ModelFacts, placement: Placement, fp8: bool, tiled: bool, pinned: bool = True) -> MemoryPlan:
    cast = [c.weight_bytes(fp8 and c.name in FP8_COMPONENTS) for c in facts.components]
    work = round((facts.working_tiled_bytes if tiled else facts.working_bytes) * (1 + WORKING_MARGIN))
    heavy = [c for c in facts.components if c.name in FP8_COMPONENTS]
    light = sum(c.bf16_bytes for c in facts.components if c.name not in FP8_COMPONENTS)
    if placement is Placement.resident:
        # The giants load straight onto the GPU (device_map) and are cast there; the rest passes through host.
        vram = max(_load_peak(heavy, fp8), sum(cast) + work)
        host = light
    elif placement is Placement.model_offload:
        vram = max(cast) + work
        host = _load_peak(facts.components, fp8)
    else:
        stream = [c.stream_bytes(fp8 and c.name in FP8_COMPONENTS) for c in facts.components]
        vram = max(stream) + work
        # Pinning copies every offloaded weight into page-locked memory while the loaded copy is still held.
        host = max(_load_peak(facts.components, fp8), 2 * sum(cast) if pinned else 0)
    vram += VRAM_HEADROOM_BYTES
    host += HOST_RESERVE_BYTES
    return MemoryPlan(placement, fp8, tiled, vram_bytes=vram, host_bytes=host,
                      pinned=pinned or placement is not Placement.group_offload)


PREFERENCE = (
    (Placement.resident, False, True),
    (Placement.model_offload, False, True),
    (Placement.group_offload, False, True),
    (Placement.group_offload, False, False),
    (Placement.resident, True, True),
    (Placement.model_offload, True, True),
    (Placement.group_offload, True, True),
    (Placement.group_offload, True, False),
)
"""bf16 before fp8 (quality), then fewer transfers, pinned before unpinned streaming. Offloading costs little
here: one denoising forward is ~1 PFLOP per batch row at the reference shape, so streaming the blocks per forward
hides behind compute when they are pinned; unpinned they are pinned on the fly, which is slower."""


def candidate_plans(facts: ModelFacts) -> list[MemoryPlan]:
    """Every plan in preference order, untiled before tiled, with its estimated needs."""
    return [_needs(facts, placement, fp8, tiled, pinned)
            for placement, fp8, pinned in PREFERENCE for tiled in (False, True)]


def choose_memory_plan(free_vram_bytes: int, host_ram_bytes: int, facts: ModelFacts | None = None) -> MemoryPlan:
    """The first plan in `PREFERENCE` that fits both memories; InsufficientMemory when none does."""
    candidates = candidate_plans(facts or ltx2_facts())
    for plan in candidates:
        if plan.vram_bytes <= free_vram_bytes and plan.host_bytes <= host_ram_bytes:
            return plan
    raise InsufficientMemory(free_vram_bytes, host_ram_bytes, candidates)


def measured_plan(device: torch.device, facts: ModelFacts | None = None) -> MemoryPlan:
    """Choose for this machine: free memory of `device` and the host's physical RAM."""
    if device.type != "cuda":
        return CPU_PLAN
    free_vram, _ = torch.cuda.mem_get_info(device)
    return choose_memory_plan(free_vram, _physical_ram_bytes(), facts)


def _physical_ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def quantization_config(plan: MemoryPlan) -> PipelineQuantizationConfig | None:
    """fp8 plans: torchao float8 weight-only (per-row scales) on the transformer and the Gemma text encoder, applied
    while loading; LoRAs load on top of it (peft's torchao LoRA layer) and stay in the compute dtype."""
    if not plan.fp8:
        return None
    return PipelineQuantizationConfig(quant_mapping={
        "transformer": DiffusersTorchAoConfig(Float8WeightOnlyConfig()),
        "text_encoder": TransformersTorchAoConfig(Float8WeightOnlyConfig()),
    })


def apply_memory_plan(pipes: Sequence[DiffusionPipeline], plan: MemoryPlan, device: torch.device) -> None:
    """Place pipelines that share components (LTX-2's condition and latent-upsample pipelines) as `plan` says.

    Tiling and group offloading act on the shared modules once; model offload installs hooks per pipeline, and each
    pipeline re-installs its own after every call, so either may run next.
    """
    components = {name: c for pipe in pipes for name, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    if plan.vae_tiling:
        components["vae"].enable_tiling()
        components["vae"].use_framewise_decoding = True
    if plan.placement is Placement.resident:
        for pipe in pipes:
            if getattr(pipe, "hf_device_map", None) is None:  # loaded with device_map: already there
                pipe.to(device)
    elif plan.placement is Placement.model_offload:
        for pipe in pipes:
            pipe.enable_model_cpu_offload(device=device)
    else:
        stream = device.type == "cuda"
        for name, module in components.items():
            block_level = name in BLOCK_LEVEL_COMPONENTS
            options = dict(onload_device=device, offload_type="block_level" if block_level else "leaf_level",
                           num_blocks_per_group=1 if block_level else None, use_stream=stream,
                           low_cpu_mem_usage=not plan.pinned)
            if isinstance(module, ModelMixin):
                module.enable_group_offload(**options)
            else:  # Gemma is a transformers model: the same hooks, applied directly
                apply_group_offloading(module, **options)
