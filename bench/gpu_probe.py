"""What LTX-2 (19B) costs on this GPU: peak memory, host RAM and seconds per denoising step for each recipe.

    python -m bench.gpu_probe                 # writes bench/results/ltx2_gpu_probe.md and .json

Builds the full-size LTX-2.0 transformer from its config with random weights straight on the GPU (nothing is
downloaded; timing and memory do not depend on the weights) and times its forward pass at the token counts our
clips give each recipe stage: the longest clip (161 frames) at the full-size budget, and the half size a two-stage
recipe starts at. A step is `passes_per_step` forwards (prompt, CFG, STG, modality: what the pipeline runs), so
s/step = passes x s/forward. Then the same in fp8 (torchao float8 weight-only, our fp8 plans). Gemma, the VAE and
the upsampler are not timed: they run once per clip (Gemma not even that, its embeddings are cached).

Under 10 minutes on one H100/H200-class GPU. Without CUDA it says so and exits 0, leaving the results alone:
bench/results/ltx2_cost.md then rests on its labelled derivations.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

LTX2_19B_TRANSFORMER = dict(
    # diffusers' LTX-2.0 transformer config (scripts/convert_ltx2_to_diffusers.py, version "2.0"): 18.9e9 params.
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32, attention_head_dim=128,
    cross_attention_dim=4096, vae_scale_factors=(8, 32, 32), pos_embed_max_pos=20, base_height=2048,
    base_width=2048, audio_in_channels=128, audio_out_channels=128, audio_patch_size=1, audio_patch_size_t=1,
    audio_num_attention_heads=32, audio_attention_head_dim=64, audio_cross_attention_dim=2048, audio_scale_factor=4,
    audio_pos_embed_max_pos=20, audio_sampling_rate=16000, audio_hop_length=160, num_layers=48,
    activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads", norm_elementwise_affine=False, norm_eps=1e-6,
    caption_channels=3840, attention_bias=True, attention_out_bias=True, rope_theta=10000.0, causal_offset=1,
)
TEXT_TOKENS = 1024  # max_sequence_length: the connectors pad every prompt to it
AUDIO_TOKENS_PER_SECOND = 25  # 16 kHz, hop 160, 4x audio latent downsampling


@dataclass(frozen=True)
class Shape:
    """A transformer input: latent frames x latent height x latent width video tokens."""

    label: str
    frames: int
    height: int
    width: int
    fps: float = 30.0

    @property
    def tokens(self) -> int:
        return self.frames * self.height * self.width

    @property
    def audio_tokens(self) -> int:
        return max(1, round((self.frames - 1) * 8 / self.fps * AUDIO_TOKENS_PER_SECOND))


def clip_shapes(width: int = 1280, height: int = 704, frames: int = 161, spatial: int = 32,
                temporal: int = 8) -> dict[str, Shape]:
    """Full size (refine and one-stage recipes) and half size (a two-stage recipe's first stage) of one clip."""
    latent_frames = (frames - 1) // temporal + 1
    return {
        "full": Shape(f"{width}x{height}x{frames}", latent_frames, height // spatial, width // spatial),
        "half": Shape(f"{width // 2}x{height // 2}x{frames}", latent_frames, height // 2 // spatial,
                      width // 2 // spatial),
    }


def forward_inputs(transformer: torch.nn.Module, shape: Shape, device: torch.device,
                   dtype: torch.dtype) -> dict[str, object]:
    """Random inputs of the sizes `LTX2ConditionPipeline` feeds the transformer for one batch row."""
    cfg = transformer.config

    def randn(*size: int) -> torch.Tensor:
        return torch.randn(*size, device=device, dtype=dtype)

    return dict(
        hidden_states=randn(1, shape.tokens, cfg.in_channels),
        audio_hidden_states=randn(1, shape.audio_tokens, cfg.audio_in_channels),
        encoder_hidden_states=randn(1, TEXT_TOKENS, cfg.caption_channels),
        audio_encoder_hidden_states=randn(1, TEXT_TOKENS, cfg.caption_channels),
        timestep=torch.full((1, shape.tokens), 500.0, device=device),
        audio_timestep=torch.full((1, shape.audio_tokens), 500.0, device=device),
        encoder_attention_mask=torch.ones(1, TEXT_TOKENS, device=device),
        audio_encoder_attention_mask=torch.ones(1, TEXT_TOKENS, device=device),
        num_frames=shape.frames, height=shape.height, width=shape.width, fps=shape.fps,
        audio_num_frames=shape.audio_tokens, return_dict=False,
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(transformer: torch.nn.Module, shape: Shape, device: torch.device, dtype: torch.dtype,
                 repeats: int = 2) -> dict[str, float]:
    """Seconds per forward (best of `repeats` after a warm-up) and the peak GPU memory it took."""
    inputs = forward_inputs(transformer, shape, device, dtype)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 1):
            synchronize(device)
            start = time.perf_counter()
            transformer(**inputs)
            synchronize(device)
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    return {"s_per_forward": min(times[1:]), "peak_gpu_gib": peak / 2**30}


def host_peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30  # Linux reports KiB


def probe(config: dict[str, object], shapes: dict[str, Shape], device: torch.device, dtype: torch.dtype,
          fp8: bool = True) -> dict[str, object]:
    """Build the transformer on `device` with random weights and time every (precision, shape)."""
    from diffusers import LTX2VideoTransformer3DModel

    from tasks.render.ltx2_recipes import RECIPES

    start = time.perf_counter()
    with torch.device(device):
        transformer = LTX2VideoTransformer3DModel.from_config(config).to(dtype).eval()
    build_s = time.perf_counter() - start
    params = sum(p.numel() for p in transformer.parameters())
    rows: list[dict[str, object]] = []
    precisions = ["bf16", "fp8"] if fp8 else ["bf16"]
    for precision in precisions:
        if precision == "fp8":
            from torchao.quantization import Float8WeightOnlyConfig, quantize_

            quantize_(transformer, Float8WeightOnlyConfig())
        weights = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
        for size, shape in shapes.items():
            measured = time_forward(transformer, shape, device, dtype)
            rows.append(dict(precision=precision, size=size, shape=shape.label, tokens=shape.tokens,
                             weights_gib=weights, **measured))
    steps = []
    for recipe in RECIPES.values():
        for index, stage in enumerate(recipe.stages):
            size = "half" if recipe.refine and index == 0 else "full"
            for row in (r for r in rows if r["size"] == size):
                steps.append(dict(recipe=recipe.name, stage=index + 1, size=size, precision=row["precision"],
                                  steps=stage.steps, passes_per_step=stage.passes_per_step,
                                  s_per_step=stage.passes_per_step * float(row["s_per_forward"])))
    return dict(params=params, build_s=build_s, forwards=rows, steps=steps, host_peak_gib=host_peak_gib())


def write_markdown(result: dict[str, object], device_name: str, path: Path) -> None:
    lines = [
        "# LTX-2 (19B) on a GPU: measured by bench/gpu_probe.py",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {device_name}, torch {torch.__version__}, "
        f"{platform.node()}. Random weights, transformer only ({result['params'] / 1e9:.2f}e9 params, built in "
        f"{result['build_s']:.0f} s); peak host RSS {result['host_peak_gib']:.1f} GiB.",
        "",
        "| precision | size | shape | tokens | weights (GiB) | s / forward | peak GPU (GiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["forwards"]:  # type: ignore[union-attr]
        lines.append(f"| {r['precision']} | {r['size']} | {r['shape']} | {r['tokens']} | {r['weights_gib']:.1f} | "
                     f"{r['s_per_forward']:.2f} | {r['peak_gpu_gib']:.1f} |")
    lines += ["", "| recipe | stage | size | precision | steps | passes/step | s/step | s/stage |", "|---|---|---|---|---|---|---|---|"]
    for s in result["steps"]:  # type: ignore[union-attr]
        lines.append(f"| {s['recipe']} | {s['stage']} | {s['size']} | {s['precision']} | {s['steps']} | "
                     f"{s['passes_per_step']} | {s['s_per_step']:.2f} | {s['s_per_step'] * s['steps']:.1f} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "ltx2_gpu_probe.md")
    parser.add_argument("--no-fp8", action="store_true", help="time bf16 only")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_probe: no CUDA device here, nothing measured; bench/results/ltx2_cost.md keeps its derivations.")
        return 0
    device = torch.device("cuda")
    result = probe(LTX2_19B_TRANSFORMER, clip_shapes(), device, torch.bfloat16, fp8=not args.no_fp8)
    name = torch.cuda.get_device_name(device)
    result["device"] = name
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_markdown(result, name, args.out)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=lambda o: asdict(o)))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
