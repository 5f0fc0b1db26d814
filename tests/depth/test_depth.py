"""Depth: unit-depth conversion and statistics on hand-made maps, the DPT path through the
production loader on a tiny random model, and the layout prior against ground-truth depth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import structlog
from PIL import Image

from tasks.depth.agreement import abs_rel_error, rank_agreement
from tasks.depth.estimator import depth_device, depth_weights_for, load_depth_estimator
from tasks.depth.layout import LAYOUT_BACKEND, LayoutDepthEstimator, camera_pitch
from tasks.depth.models import (
    LearnedDepthEstimator,
    build_midas_small,
    midas_small_input,
)
from tasks.depth.stats import depth_stats
from tasks.depth.storage import decode_depth_png, encode_depth_png
from tasks.depth.unit import unit_depth_from_disparity, unit_depth_from_metric
from tasks.settings import Settings

# ----------------------------------------------------------------------------- conversion


def test_unit_depth_is_parallax_lost_relative_to_the_nearest_surface() -> None:
    z = np.array([[1.0, 2.0], [4.0, 0.0]])  # 0 = unknown (sky / no return)
    unit = unit_depth_from_metric(np.repeat(z, 50, axis=0))
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit[0], [0.0, 0.5], atol=1e-6)  # 1 - z_near / z
    np.testing.assert_allclose(unit[-1], [0.75, 1.0], atol=1e-6)
    # MiDaS-style disparity: larger is nearer, any positive scale gives the same unit depth.
    disparity = np.array([[4.0, 2.0], [1.0, 0.0]]).repeat(50, axis=0)
    np.testing.assert_allclose(unit_depth_from_disparity(7 * disparity), unit, atol=1e-6)


def test_unit_depth_of_degenerate_maps() -> None:
    np.testing.assert_array_equal(unit_depth_from_disparity(np.full((4, 4), 3.0)), 0.0)  # a wall
    np.testing.assert_array_equal(unit_depth_from_disparity(np.zeros((4, 4))), 1.0)  # all sky
    np.testing.assert_array_equal(unit_depth_from_disparity(-np.ones((4, 4))), 1.0)


def test_depth_png_round_trip() -> None:
    depth = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    back = decode_depth_png(encode_depth_png(depth))
    assert back.shape == depth.shape and back.dtype == np.float32
    np.testing.assert_allclose(back, depth, atol=1 / 65535)


# ----------------------------------------------------------------------------- statistics


def test_stats_of_a_wall() -> None:
    stats = depth_stats(np.full((120, 160), 0.3, np.float32))
    assert stats.variance == pytest.approx(0.0, abs=1e-12)
    assert (stats.layering, stats.planarity) == (1.0, 1.0)


def test_stats_of_a_floor_running_away_is_one_plane() -> None:
    ramp = np.repeat(np.linspace(1, 0, 120, dtype=np.float32)[:, None], 160, axis=1)
    stats = depth_stats(ramp)
    assert stats.planarity > 0.999
    assert stats.layering == 1.0
    assert stats.variance == pytest.approx(1 / 12, rel=0.05)  # uniform on [0, 1]


def test_stats_count_separable_planes() -> None:
    two = np.full((120, 160), 0.9, np.float32)
    two[40:100, 50:110] = 0.1  # a sofa before a wall
    three = two.copy()
    three[:, 130:] = 0.5  # and a bookcase at the side
    s2, s3 = depth_stats(two), depth_stats(three)
    assert (s2.layering, s3.layering) == (2.0, 3.0)
    assert s2.planarity < 0.1  # a box in the middle is nothing like a plane
    assert s2.variance == pytest.approx(0.64 * 0.1875 * 0.8125, rel=0.05)


def test_layering_ignores_specks() -> None:
    wall = np.full((120, 160), 0.5, np.float32)
    wall[:2, :2] = 0.0  # a handful of pixels is not a plane
    assert depth_stats(wall).layering == 1.0


def test_stats_refuse_non_maps() -> None:
    with pytest.raises(ValueError, match="HxW"):
        depth_stats(np.zeros((4, 4, 3)))


# ----------------------------------------------------------------------------- DPT


@pytest.fixture(scope="module")
def tiny_dpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A randomly initialised 4-layer DPT and its image processor, saved as a weights folder."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
        image_size=64, patch_size=16, backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_in_index=-1,
    )
    model = DPTForDepthEstimation(config).eval()
    folder = tmp_path_factory.mktemp("dpt")
    model.save_pretrained(folder)
    DPTImageProcessor(size={"height": 64, "width": 64}, keep_aspect_ratio=False).save_pretrained(folder)
    return folder, model


@pytest.mark.slow  # importing transformers' DPT stack takes seconds
def test_dpt_loads_local_weights_through_production_path(tiny_dpt) -> None:
    import torch
    from transformers import DPTImageProcessor

    folder, reference = tiny_dpt
    estimator = load_depth_estimator(Settings(depth_weights=str(folder), analysis_batch_size=2))
    assert isinstance(estimator, LearnedDepthEstimator)
    assert estimator.backend == f"dpt:{folder}"
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((48, 64), (80, 60), (64, 64))]
    depths = estimator.estimate(photos)
    for photo, depth in zip(photos, depths):
        assert depth.shape == photo.shape[:2] and depth.dtype == np.float32
        assert 0.0 <= depth.min() and depth.max() <= 1.0
    # The saved weights were loaded: same output as the in-memory model, batch or not.
    x = DPTImageProcessor.from_pretrained(folder)(images=photos[1], return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        disparity = reference(pixel_values=x).predicted_depth[0].numpy()
    import cv2

    expected = unit_depth_from_disparity(cv2.resize(disparity, (60, 80), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_allclose(depths[1], expected, atol=1e-4)
    np.testing.assert_allclose(estimator.estimate([photos[1]])[0], depths[1], atol=1e-4)


@pytest.fixture(scope="module")
def midas_small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    import torch

    torch.manual_seed(0)
    model = build_midas_small().eval()
    path = tmp_path_factory.mktemp("midas") / "midas_small.pt"
    torch.save(model.state_dict(), path)
    return path, model


def test_midas_small_matches_the_released_checkpoint_layout(midas_small_checkpoint) -> None:
    """Key names and shapes that identify isl-org/MiDaS's midas_v21_small_256.pt, and its size
    (81.8 MiB of float32: ~21.3 M parameters), so the real file loads without remapping."""
    _, model = midas_small_checkpoint
    state = model.state_dict()
    assert tuple(state["pretrained.layer1.0.weight"].shape) == (32, 3, 3, 3)  # stem
    assert tuple(state["pretrained.layer1.3.0.conv_dw.weight"].shape) == (32, 1, 3, 3)  # first block
    assert tuple(state["scratch.layer4_rn.weight"].shape) == (512, 384, 3, 3)
    assert tuple(state["scratch.refinenet1.resConfUnit1.conv1.weight"].shape) == (64, 64, 3, 3)
    assert tuple(state["scratch.output_conv.4.weight"].shape) == (1, 32, 1, 1)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(21.3e6, rel=0.01)


def test_midas_small_loads_through_production_path(midas_small_checkpoint) -> None:
    import torch

    path, reference = midas_small_checkpoint
    estimator = load_depth_estimator(Settings(depth_weights=str(path)))
    assert isinstance(estimator, LearnedDepthEstimator)
    assert estimator.backend == f"midas-small:{path}"
    rng = np.random.default_rng(1)
    wide, tall = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8), rng.integers(0, 256, (200, 120, 3), dtype=np.uint8)
    assert tuple(midas_small_input(wide).shape) == (3, 128, 256)  # fits 256, multiples of 32
    depths = estimator.estimate([wide, tall])
    assert [d.shape for d in depths] == [(120, 200), (200, 120)]
    with torch.inference_mode():
        disparity = reference(midas_small_input(tall)[None])[0].numpy()
    import cv2

    expected = unit_depth_from_disparity(cv2.resize(disparity, (120, 200), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_allclose(depths[1], expected, atol=1e-4)


def test_the_device_picks_the_depth_model_unless_weights_are_given() -> None:
    """MiDaS small on a CPU (DPT-Hybrid is ~10x slower there), DPT-Hybrid on CUDA; explicit
    `depth_weights` run anywhere; an empty per-device setting means the fallback."""
    defaults = Settings(depth_weights=None, depth_weights_cpu=None)
    assert depth_weights_for(defaults, "cuda") == "Intel/dpt-hybrid-midas"
    assert depth_weights_for(defaults, "cpu") is None
    both = Settings(depth_weights_cpu="/m/midas_v21_small_256.pt", depth_weights_cuda="Intel/dpt-large")
    assert depth_weights_for(both, "cpu") == "/m/midas_v21_small_256.pt"
    assert depth_weights_for(both, "cuda") == "Intel/dpt-large"
    pinned = both.model_copy(update={"depth_weights": "/m/dpt-folder"})
    assert depth_weights_for(pinned, "cpu") == depth_weights_for(pinned, "cuda") == "/m/dpt-folder"
    assert depth_weights_for(Settings(depth_weights_cuda=""), "cuda") is None
    assert depth_device(Settings(depth_device="cpu")) == "cpu"


def test_cpu_runs_the_cpu_weights_through_production_path(midas_small_checkpoint, tmp_path: Path) -> None:
    path, _ = midas_small_checkpoint
    settings = Settings(depth_device="cpu", depth_weights_cpu=str(path), depth_weights_cuda=str(tmp_path / "absent"))
    estimator = load_depth_estimator(settings)
    assert isinstance(estimator, LearnedDepthEstimator) and estimator.device == "cpu"
    assert estimator.backend == f"midas-small:{path}"


def test_no_depth_weights_means_layout_prior_with_a_warning() -> None:
    with structlog.testing.capture_logs() as logs:
        estimator = load_depth_estimator(Settings(depth_weights=None, depth_weights_cpu=None, depth_device="cpu"))
    assert isinstance(estimator, LayoutDepthEstimator) and estimator.backend == LAYOUT_BACKEND
    assert any(e["event"] == "depth_fallback" and e["log_level"] == "warning" for e in logs)


def test_missing_depth_weights_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_depth_estimator(Settings(depth_weights=str(tmp_path / "absent")))


# ----------------------------------------------------------------------------- layout prior vs truth


@pytest.mark.shared_data
def test_layout_prior_orders_depth_on_real_rgbd_frames(shared_data: Path) -> None:
    """A constant prediction carries no depth order (Spearman 0); the prior must, on every
    frame of the synthetic living room and the real TUM office."""
    root = shared_data / "depth"
    frames = [(root / f"color_{i:05d}.jpg", root / f"depth_{i:05d}.png", 1000.0) for i in range(5)]
    frames.append((root / "TUM_color.png", root / "TUM_depth.png", 5000.0))
    photos = [np.asarray(Image.open(c).convert("RGB")) for c, _, _ in frames]
    truths = [np.asarray(Image.open(d), dtype=np.float32) / scale for _, d, scale in frames]
    for pred, z in zip(LayoutDepthEstimator().estimate(photos), truths):
        assert pred.shape == z.shape
        assert rank_agreement(pred, z, valid=z > 0) > 0.2


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    from flows.dev.sample_listing import make_listing

    listing = make_listing(tmp_path_factory.mktemp("listing"), seed=0, size=(384, 256), music_seconds=2)
    return listing, [np.asarray(Image.open(p.path).convert("RGB")) for p in listing.photos]


def test_layout_prior_tracks_the_sample_listings_true_depth(sample) -> None:
    from flows.dev.sample_listing import SKY_DEPTH_M

    listing, photos = sample
    preds = LayoutDepthEstimator().estimate(photos)
    rho, ours, flat = [], [], []
    for photo, pred in zip(listing.photos, preds):
        z = listing.depth(photo)
        rho.append(rank_agreement(pred, z))
        finite = z < SKY_DEPTH_M  # AbsRel is undefined for the sky
        ours.append(abs_rel_error(pred, z, finite))
        flat.append(abs_rel_error(np.zeros_like(pred), z, finite))
    assert min(rho) > 0.5
    assert np.mean(ours) < np.mean(flat)


def test_camera_pitch_is_read_from_converging_verticals(sample) -> None:
    listing, photos = sample
    for photo, image in zip(listing.photos, photos):
        if photo.room_type.value.endswith("exterior"):
            continue  # few vertical lines on a lawn; the prior does not need the pitch there
        grey = np.asarray(Image.fromarray(image).convert("L"))
        focal = image.shape[1] / (2 * np.tan(np.deg2rad(photo.camera.fov_deg) / 2))
        assert np.degrees(camera_pitch(grey, focal)) == pytest.approx(-photo.camera.pitch_deg, abs=2.0)


def test_agreement_measures() -> None:
    z = np.repeat(np.linspace(1.0, 5.0, 40, dtype=np.float32)[:, None], 30, axis=1)
    unit = unit_depth_from_metric(z)
    everywhere = np.ones_like(z, bool)
    assert rank_agreement(unit, z) == pytest.approx(1.0)
    assert rank_agreement(1 - unit, z) == pytest.approx(-1.0)
    assert rank_agreement(np.zeros_like(z), z) == 0.0
    assert abs_rel_error(unit, z, everywhere) == pytest.approx(0.0, abs=1e-5)
    flat = abs_rel_error(np.zeros_like(z), z, everywhere)
    assert flat == pytest.approx(np.mean(np.abs(np.median(z) - z) / z), rel=1e-4)


@pytest.mark.skipif(sys.platform != "linux" or Path("/proc/driver/nvidia").exists(), reason="needs Linux without a GPU")
def test_on_a_machine_without_a_gpu_the_fallback_does_not_import_torch() -> None:
    """No NVIDIA driver: the device (and so the layout prior) is known without torch."""
    code = ("import sys; from tasks.depth.estimator import load_depth_estimator; from tasks.settings import Settings; "
            "e = load_depth_estimator(Settings(depth_device='auto', depth_weights=None, depth_weights_cpu=None)); "
            "print(e.backend, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split()[-2:] == ["layout-prior", "False"]  # (after the fallback warning)
