"""Which depth estimator runs: MiDaS where weights are set for the device, else the layout prior.

Learned backends: MiDaS v2.1 small from its `.pt` checkpoint (the CPU choice: 40 photos in
seconds), or any transformers DPT checkpoint of MiDaS v3/v3.1 (hub id or folder; DPT-Hybrid costs
seconds per photo on a 2-core CPU, see bench/results/analyze.md). Which one runs depends on the
device (`depth_weights_for`): `depth_weights` wherever it is set, else `depth_weights_cpu` on a
CPU and `depth_weights_cuda` (DPT-Hybrid) on CUDA. Without weights, `LayoutDepthEstimator` runs:
no learning, just the geometry of the room a listing photo is usually taken in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import structlog

from tasks.depth.layout import LAYOUT_BACKEND, LayoutDepthEstimator
from tasks.depth.models import load_dpt, load_midas_small
from tasks.depth.unit import DepthEstimator
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)


def depth_device(settings: Settings) -> str:
    """The device the depth network runs on: the setting, or CUDA where "auto" finds a GPU."""
    if settings.depth_device != "auto":
        return settings.depth_device
    if sys.platform == "linux" and not Path("/proc/driver/nvidia").exists():
        return "cpu"  # no NVIDIA driver loaded: known without importing torch (~0.5 GB, seconds)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def depth_weights_for(settings: Settings, device: str) -> str | None:
    """The weights that run on `device`: `depth_weights` anywhere, else the device's own choice
    (MiDaS v2.1 small on a CPU, where DPT-Hybrid is ~10x slower; DPT-Hybrid on CUDA)."""
    if settings.depth_weights:
        return settings.depth_weights
    return (settings.depth_weights_cuda if device == "cuda" else settings.depth_weights_cpu) or None


def load_depth_estimator(settings: Settings | None = None) -> DepthEstimator:
    """MiDaS when weights are set for the device (`depth_weights_for`), else the layout prior
    (with a warning).

    A `.pt`/`.pth` file is a MiDaS v2.1 small checkpoint (the CPU choice); anything else is a
    transformers DPT hub id or folder (MiDaS v3 hybrid/large, v3.1 Swin2/BEiT).
    """
    settings = settings or get_settings()
    device = depth_device(settings)
    weights = depth_weights_for(settings, device)
    if not weights:
        log.warning(
            "depth_fallback",
            backend=LAYOUT_BACKEND,
            reason=f"no MiDaS weights for {device} (PICAIVID_DEPTH_WEIGHTS, PICAIVID_DEPTH_WEIGHTS_"
            f"{device.upper()}): using the non-learned room-layout prior",
        )
        return LayoutDepthEstimator()
    if weights.endswith((".pt", ".pth")):
        estimator = load_midas_small(weights, settings.analysis_batch_size, device)
    else:
        estimator = load_dpt(weights, settings.analysis_batch_size, device)
    log.info("depth_estimator_loaded", backend=estimator.backend, device=device)
    return estimator
