"""The GPU probe runs (on a tiny transformer here, the 19B one on a GPU), the cost table is current, and infra's
default GPU class is the instance that table says is cheapest that fits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import LTX2VideoTransformer3DModel

from bench import gpu_probe, ltx2_cost
from infra.config import InfraConfig
from tasks.render.ltx2_recipes import RECIPES
from tests.render.ltx2_tiny import tiny_pipeline


def test_probe_without_cuda_says_so_and_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "probe.md"
    assert gpu_probe.main(["--out", str(out)]) == 0
    assert "no CUDA device" in capsys.readouterr().out and not out.exists()


def test_probe_config_is_the_19b_transformer() -> None:
    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel.from_config(gpu_probe.LTX2_19B_TRANSFORMER)
    params = sum(p.numel() for p in transformer.parameters())
    assert params == pytest.approx(ltx2_cost.PARAMS, rel=0.005)


def test_probe_times_every_stage_of_every_recipe(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config = dict(tiny_pipeline().transformer.config)
    shapes = {"full": gpu_probe.Shape("tiny-full", 2, 4, 4), "half": gpu_probe.Shape("tiny-half", 2, 2, 2)}
    result = gpu_probe.probe(config, shapes, torch.device("cpu"), torch.float32, fp8=False)
    stages = {(s["recipe"], s["stage"], s["size"]) for s in result["steps"]}
    assert stages == {("full", 1, "full"), ("two_stage", 1, "half"), ("two_stage", 2, "full"),
                      ("distilled", 1, "half"), ("distilled", 2, "full")}
    assert all(s["s_per_step"] > 0 for s in result["steps"]) and result["host_peak_gib"] > 0
    guided = next(s for s in result["steps"] if s["recipe"] == "full")
    assert guided["passes_per_step"] == 4
    gpu_probe.write_markdown(result, "cpu", tmp_path / "probe.md")
    assert "| two_stage | 2 | full | bf16 | 3 | 1 |" in (tmp_path / "probe.md").read_text()


def test_the_cost_table_is_current_and_infra_runs_its_cheapest_fitting_instance() -> None:
    table = ltx2_cost.RESULTS / "ltx2_cost.md"
    if (ltx2_cost.RESULTS / "ltx2_gpu_probe.json").exists():
        pytest.skip("a GPU probe result exists: the table is calibrated by it")
    assert table.read_text() == ltx2_cost.markdown(ltx2_cost.ASSUMED_MFU, measured=False), (
        "bench/results/ltx2_cost.md is stale: run python -m bench.ltx2_cost")
    cheapest = ltx2_cost.cheapest_instance()
    cfg = InfraConfig()
    assert cfg.gpu_instance_types[0] == cheapest == cfg.dev_instance_type


def test_cost_derivation_orders_the_recipes_and_refuses_what_does_not_fit() -> None:
    per_clip = {r: ltx2_cost.estimate("g6e.xlarge", RECIPES[r]).seconds_per_clip for r in RECIPES}
    assert per_clip["distilled"] < per_clip["two_stage"] < per_clip["full"]
    assert ltx2_cost.estimate("g5.xlarge", RECIPES["distilled"]).plan is None
    assert ltx2_cost.GPUS["L40S"] == 362.0
    # a pinned plan overlaps its weight traffic with compute; an unpinned one adds it
    g6 = ltx2_cost.estimate("g6.4xlarge", RECIPES["distilled"])
    assert g6.plan.startswith("group_offload") and "unpinned" in g6.plan
