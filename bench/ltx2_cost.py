"""Seconds and dollars per clip and per 60 s video for each LTX-2 recipe on the GPU instances infra/ can use.

    python -m bench.ltx2_cost                 # writes bench/results/ltx2_cost.md

Until bench/gpu_probe.py has run on a GPU (bench/results/ltx2_gpu_probe.json), time is a derivation, labelled as
such in the output: transformer FLOPs per forward (2 x params x tokens for the linears, 4 x tokens^2 x width x layers
for attention) at an assumed 40 % of the GPU's dense bf16 peak, and for offload plans the weight traffic over PCIe.
With a probe result the utilisation is the measured one instead. Whether a recipe fits an instance at all is
`tasks.render.memory_plan.choose_memory_plan` on the instance's memory (infra.config.GPU_INSTANCES).
`cheapest_instance` is what infra's default GPU class must be (tests/render/test_ltx2_cost.py holds it to that).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from infra.config import GPU_INSTANCES
from tasks.render.ltx2_recipes import RECIPES, Recipe
from tasks.render.memory_plan import (
    GiB,
    InsufficientMemory,
    MemoryPlan,
    Placement,
    choose_memory_plan,
    ltx2_facts,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

PARAMS = 18.876e9  # LTX-2.0 transformer (memory_plan.LTX2_19B_COMPONENTS)
WIDTH, LAYERS = 4096, 48  # video hidden size and blocks
ASSUMED_MFU = 0.40
PCIE_BYTES_PER_S = 20e9  # PCIe 4.0 x16 host-to-device, what pinned copies sustain in practice
UNPINNED_SLOWDOWN = 2.0  # pinning each group on the fly halves the usable bandwidth and stops the overlap
HOSTED_USD_PER_SECOND = 0.04  # a hosted LTX-2 API, per generated second

# Clips: the 1080p output generated at the 0.9 MP budget; a 60 s video is 12 clips of 5 s at 30 fps.
CLIP_SECONDS, CLIP_FPS, VIDEO_SECONDS = 5.0, 30, 60.0

GPUS = {  # dense bf16 tensor TFLOPS (NVIDIA datasheets, without sparsity)
    "A10G": 125.0,  # the A10's figure; AWS's A10G clocks lower, so this flatters g5
    "L4": 121.0,
    "L40S": 362.0,  # 733 with sparsity; 181 is the L40's dense figure
}
FAMILY_GPU = {"g5": "A10G", "g6": "L4", "g6e": "L40S"}
ON_DEMAND_USD_PER_HOUR = {  # us-east-1 Linux on-demand list prices; Spot is usually 30-60 % of these
    "g5.xlarge": 1.006, "g5.2xlarge": 1.212, "g5.4xlarge": 1.624, "g5.8xlarge": 2.448,
    "g6.xlarge": 0.805, "g6.2xlarge": 0.978, "g6.4xlarge": 1.323, "g6.8xlarge": 2.014,
    "g6e.xlarge": 1.861, "g6e.2xlarge": 2.242, "g6e.4xlarge": 3.004, "g6e.8xlarge": 4.529,
}


def clip_tokens(recipe: Recipe, seconds: float = CLIP_SECONDS, fps: int = CLIP_FPS) -> tuple[int, int, int]:
    """(width, height, full-size video tokens) LTX-2 generates for one 1080p clip under `recipe`."""
    from tasks.render.ltx2 import generation_size, ltx_frame_count

    width, height = generation_size(1920, 1080, 1280 * 736, recipe.size_multiple)
    frames = ltx_frame_count(round(seconds * fps))
    return width, height, ((frames - 1) // 8 + 1) * (height // 32) * (width // 32)


def forward_flops(tokens: int) -> float:
    return 2 * PARAMS * tokens + 4 * tokens**2 * WIDTH * LAYERS


@dataclass(frozen=True)
class Estimate:
    instance: str
    recipe: str
    plan: str | None  # None: does not fit
    seconds_per_clip: float
    usd_per_clip: float
    measured: bool

    @property
    def usd_per_video(self) -> float:
        return self.usd_per_clip * VIDEO_SECONDS / CLIP_SECONDS


def stream_seconds(plan: MemoryPlan, passes: int) -> float:
    """Host-to-GPU weight traffic a plan adds per clip: group offload streams the transformer every forward."""
    if plan.placement is not Placement.group_offload:
        return 0.0
    transformer = next(c for c in ltx2_facts().components if c.name == "transformer")
    seconds = transformer.weight_bytes(plan.fp8) / PCIE_BYTES_PER_S * passes
    return seconds * (1 if plan.pinned else UNPINNED_SLOWDOWN)


def estimate(instance: str, recipe: Recipe, mfu: float = ASSUMED_MFU, measured: bool = False) -> Estimate:
    _, host_gib, vram_gib = GPU_INSTANCES[instance]
    width, height, tokens = clip_tokens(recipe)
    try:
        plan = choose_memory_plan(int(vram_gib * GiB), int(host_gib * GiB), ltx2_facts(width, height, 161))
    except InsufficientMemory:
        return Estimate(instance, recipe.name, None, math.inf, math.inf, measured)
    peak = GPUS[FAMILY_GPU[instance.split(".")[0]]] * 1e12
    compute = sum(forward_flops(t) * n for t, n in recipe.transformer_passes(tokens)) / (peak * mfu)
    passes = sum(n for _, n in recipe.transformer_passes(tokens))
    traffic = stream_seconds(plan, passes)
    seconds = max(compute, traffic) if plan.pinned else compute + traffic  # streams overlap only when pinned
    return Estimate(instance, recipe.name, plan.name, seconds, seconds / 3600 * ON_DEMAND_USD_PER_HOUR[instance],
                    measured)


def measured_mfu(probe: Path) -> float | None:
    """Utilisation bench/gpu_probe.py measured (bf16, full size), if it has run: FLOPs / (time x peak)."""
    if not probe.exists():
        return None
    result = json.loads(probe.read_text())
    peaks = {"H100": 989.0, "H200": 989.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}
    peak = next((v for k, v in peaks.items() if k in result["device"]), None)
    row = next(r for r in result["forwards"] if r["precision"] == "bf16" and r["size"] == "full")
    return None if peak is None else forward_flops(row["tokens"]) / (row["s_per_forward"] * peak * 1e12)


def estimates(mfu: float = ASSUMED_MFU, measured: bool = False) -> list[Estimate]:
    return [estimate(i, r, mfu, measured) for r in RECIPES.values() for i in ON_DEMAND_USD_PER_HOUR]


def cheapest_instance(recipe: str = "distilled", mfu: float = ASSUMED_MFU) -> str:
    """The instance type with the lowest $/clip that fits the recipe: infra's default GPU class."""
    fitting = [e for e in estimates(mfu) if e.recipe == recipe and e.plan]
    return min(fitting, key=lambda e: e.usd_per_clip).instance


def markdown(mfu: float, measured: bool) -> str:
    basis = (f"**measured** utilisation {mfu:.0%} (bench/results/ltx2_gpu_probe.json)" if measured else
             f"**derived, not measured**: {ASSUMED_MFU:.0%} of dense bf16 peak assumed (no GPU run yet)")
    lines = [
        "# LTX-2 cost per clip and per 60 s video, by recipe and instance",
        "",
        f"Written by `python -m bench.ltx2_cost`. Time basis: {basis}. A clip is {CLIP_SECONDS:g} s of 1080p at "
        f"{CLIP_FPS} fps, generated at the 0.9 MP budget (1280x704 for two-stage recipes, 1280x736 one-stage); a "
        f"60 s video is {VIDEO_SECONDS / CLIP_SECONDS:g} such clips. Transformer time only: Gemma runs once per prompt "
        "(cached), the VAE decode and the latent upscale are seconds. Prices: us-east-1 on-demand list prices; "
        "Spot is typically 30-60 % of them. Dense bf16 TFLOPS: " +
        ", ".join(f"{g} {t:g}" for g, t in GPUS.items()) + " (the L40S's dense figure, not the L40's 181).",
        "",
        "How an instance fits (`choose_memory_plan`, reference clip): weights resident in VRAM need ~42.5 GiB "
        "(fp8) on the GPU; offload plans hold the weights in host RAM instead, and pinned group offload (streams "
        "overlapping transfers with compute) holds a second, page-locked copy: 2 x 37.9 GB in fp8, 2 x 69 GB in "
        "bf16. Without room for it the plan pins on the fly (`unpinned`), which is slower "
        f"(traffic x{UNPINNED_SLOWDOWN:g} at {PCIE_BYTES_PER_S / 1e9:g} GB/s, not overlapped).",
        "",
        "| recipe | instance | plan | s / clip | $ / clip | $ / 60 s video |",
        "|---|---|---|---|---|---|",
    ]
    for e in sorted(estimates(mfu, measured), key=lambda e: (e.recipe, e.usd_per_clip)):
        if e.plan is None:
            lines.append(f"| {e.recipe} | {e.instance} | does not fit | - | - | - |")
        else:
            lines.append(f"| {e.recipe} | {e.instance} | {e.plan} | {e.seconds_per_clip:,.0f} | "
                         f"{e.usd_per_clip:.3f} | {e.usd_per_video:.2f} |")
    hosted = HOSTED_USD_PER_SECOND * CLIP_SECONDS
    lines += [
        f"| hosted LTX-2 API | - | - | - | {hosted:.3f} | {hosted * VIDEO_SECONDS / CLIP_SECONDS:.2f} |",
        "",
        "Per recipe, transformer passes per clip (stage: tokens x forwards): " + "; ".join(
            f"{r.name}: " + " + ".join(f"{t:,} x {n}" for t, n in r.transformer_passes(clip_tokens(r)[2]))
            for r in RECIPES.values()) + ".",
        "",
        f"**Cheapest that fits (distilled, the default recipe of every tier): {cheapest_instance(mfu=mfu)}**, "
        "infra's default GPU class (`InfraConfig.gpu_instance_types[0]`). Cheapest per recipe: " + ", ".join(
            f"{r} {cheapest_instance(r, mfu)}" for r in RECIPES) + ". fp8 here is torchao weight-only: weights "
        "stored in 1 byte, computed in bf16, so it saves memory, not time.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "ltx2_cost.md")
    args = parser.parse_args(argv)
    mfu = measured_mfu(RESULTS / "ltx2_gpu_probe.json")
    args.out.write_text(markdown(mfu or ASSUMED_MFU, mfu is not None))
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
