"""Per-photo depth for planning and validation: MiDaS, or an honest layout-prior fallback.

Learned backends: MiDaS v2.1 small from its `.pt` checkpoint (the CPU choice: 40 photos in
seconds), or any transformers DPT checkpoint of MiDaS v3/v3.1 (hub id or folder; DPT-Hybrid costs
seconds per photo on a 2-core CPU, see bench/results/analyze.md). Which one runs depends on the
device (`depth_weights_for`): `depth_weights` wherever it is set, else `depth_weights_cpu` on a
CPU and `depth_weights_cuda` (DPT-Hybrid) on CUDA. Without weights, `LayoutDepthEstimator` runs:
no learning, just the geometry of the room a listing photo is usually taken in.

Every estimator returns *unit depth*: float32 HxW in [0, 1], 0 = nearest, 1 = farthest,

    unit = 1 - disparity / disparity_near        (disparity = 1 / z)

where `disparity_near` is the 99th percentile of the map's disparity. That is the parallax a
point loses relative to the nearest surface when the camera moves sideways, so it is the quantity
motion planning cares about: a flat wall is all ~0 (no depth to show), a room with a near sofa
and a far window spreads across [0, 1], and the sky (disparity 0) is 1. MiDaS/DPT predict
*relative inverse depth* (affine-invariant disparity: large = near), which this conversion reads
as disparity with its shift taken as zero; MiDaS is trained to put the sky and the far distance
at zero disparity, so the shift is small, but unit depth from MiDaS is relative, not metric.

Because unit depth is affine in disparity, and a 3D plane's disparity is affine in image
coordinates, `depth_stats.planarity` (the R^2 of an affine fit) measures exactly how well one 3D
plane explains the scene.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import structlog
from PIL import Image
from scipy.signal import find_peaks

from tasks.analyze.embeddings import check_images
from tasks.analyze.rooms import SKY_EXTERIOR, sky_mask
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

LAYOUT_BACKEND = "layout-prior"
NEAR_PERCENTILE = 99.0  # robust "nearest": ignores a few specks of over-confident disparity


class DepthEstimator(Protocol):
    backend: str

    def estimate(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Unit depth (float32 HxW in [0, 1], 0 = nearest) for each HxWx3 uint8 RGB image."""
        ...


def unit_depth_from_disparity(disparity: np.ndarray) -> np.ndarray:
    """The one conversion to unit depth (see module docstring); negative disparity counts as 0."""
    disp = np.maximum(np.asarray(disparity, dtype=np.float32), 0.0)
    near = float(np.percentile(disp, NEAR_PERCENTILE)) if disp.size else 0.0
    if near <= 0.0:
        return np.ones_like(disp)  # nothing has any disparity: all at infinity
    return np.clip(1.0 - disp / near, 0.0, 1.0).astype(np.float32)


def unit_depth_from_metric(z: np.ndarray) -> np.ndarray:
    """Unit depth of a metric depth map (ground truth, rendered truth); z <= 0 means unknown -> far."""
    z = np.asarray(z, dtype=np.float32)
    disparity = np.where(z > 0, 1.0 / np.maximum(z, 1e-6), 0.0)
    return unit_depth_from_disparity(disparity)


# ----------------------------------------------------------------------------- learned


@dataclass
class LearnedDepthEstimator:
    """A MiDaS-family network: photos in, relative inverse depth out, unit depth returned.

    `preprocess` turns one RGB photo into the network's CxHxW input; `forward` maps a batch to
    (B, h, w) disparity. Photos whose inputs differ in size (aspect-preserving resizes) are
    batched separately.
    """

    model: object
    preprocess: Callable[[np.ndarray], object]
    forward: Callable[[object], object]
    backend: str
    batch_size: int = 16
    device: str = "cpu"  # where the model lives; batches go there and disparity comes back

    def estimate(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        check_images(images)
        inputs = [self.preprocess(im) for im in images]
        outputs: list[np.ndarray] = [np.empty(0)] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, x in enumerate(inputs):
            by_shape.setdefault(tuple(x.shape), []).append(i)
        with torch.inference_mode():
            for indices in by_shape.values():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start:start + self.batch_size]
                    batch = torch.stack([inputs[i] for i in chunk]).to(self.device)
                    disparity = self.forward(batch).float().cpu().numpy()
                    for i, disp in zip(chunk, disparity):
                        h, w = images[i].shape[:2]
                        full = cv2.resize(disp, (w, h), interpolation=cv2.INTER_LINEAR)
                        outputs[i] = unit_depth_from_disparity(full)
        return outputs


@lru_cache(maxsize=2)
def load_dpt(weights: str, batch_size: int = 16, device: str = "cpu") -> LearnedDepthEstimator:
    """MiDaS v3/v3.1 (DPT) through transformers: `weights` is a hub id or a save_pretrained folder.
    Cached per process, like every loader here."""
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    model = AutoModelForDepthEstimation.from_pretrained(weights).eval().to(device)
    if model.config.model_type != "dpt":
        raise ValueError(
            f"{weights} is a {model.config.model_type!r} model; the depth code reads MiDaS-style "
            "relative inverse depth and supports DPT (MiDaS v3/v3.1) checkpoints only"
        )
    processor = AutoImageProcessor.from_pretrained(weights)
    return LearnedDepthEstimator(
        model=model,
        preprocess=lambda image: processor(images=image, return_tensors="pt")["pixel_values"][0],
        forward=lambda batch: model(pixel_values=batch).predicted_depth,
        backend=f"dpt:{weights}",
        batch_size=batch_size,
        device=device,
    )


# MiDaS v2.1 small: EfficientNet-Lite3 encoder (timm) + RefineNet-style decoder, 256 px. Module
# names follow isl-org/MiDaS (midas_net_custom.MidasNet_small) so its released checkpoint
# midas_v21_small_256.pt loads as is; about 10x cheaper than DPT-Hybrid on a CPU.
MIDAS_SMALL_SIZE = 256
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def build_midas_small(features: int = 64):
    """The MidasNet_small architecture with random weights (load a state dict into it)."""
    import timm
    import torch.nn.functional as F
    from torch import nn

    class ResidualConvUnit(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(width, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, width, 3, padding=1)

        def forward(self, x):
            return self.conv2(F.relu(self.conv1(F.relu(x)))) + x

    class FeatureFusionBlock(nn.Module):
        def __init__(self, width: int, expand: bool) -> None:
            super().__init__()
            self.out_conv = nn.Conv2d(width, width // 2 if expand else width, 1)
            self.resConfUnit1 = ResidualConvUnit(width)
            self.resConfUnit2 = ResidualConvUnit(width)

        def forward(self, x, skip=None):
            if skip is not None:
                x = x + self.resConfUnit1(skip)
            x = F.interpolate(self.resConfUnit2(x), scale_factor=2, mode="bilinear", align_corners=True)
            return self.out_conv(x)

    class MidasSmall(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            effnet = timm.create_model("tf_efficientnet_lite3", pretrained=False)
            self.pretrained = nn.Module()
            # nn.Identity stands where the original's separate stem activation sat (timm folds it
            # into bn1), keeping the checkpoint's layer indices.
            self.pretrained.layer1 = nn.Sequential(effnet.conv_stem, effnet.bn1, nn.Identity(), *effnet.blocks[0:2])
            self.pretrained.layer2 = nn.Sequential(*effnet.blocks[2:3])
            self.pretrained.layer3 = nn.Sequential(*effnet.blocks[3:5])
            self.pretrained.layer4 = nn.Sequential(*effnet.blocks[5:9])
            self.scratch = nn.Module()
            widths = (features, 2 * features, 4 * features, 8 * features)
            for k, (c_in, c_out) in enumerate(zip((32, 48, 136, 384), widths), start=1):
                setattr(self.scratch, f"layer{k}_rn", nn.Conv2d(c_in, c_out, 3, padding=1, bias=False))
            self.scratch.refinenet4 = FeatureFusionBlock(widths[3], expand=True)
            self.scratch.refinenet3 = FeatureFusionBlock(widths[2], expand=True)
            self.scratch.refinenet2 = FeatureFusionBlock(widths[1], expand=True)
            self.scratch.refinenet1 = FeatureFusionBlock(widths[0], expand=False)
            self.scratch.output_conv = nn.Sequential(
                nn.Conv2d(features, features // 2, 3, padding=1),
                nn.Upsample(scale_factor=2, mode="bilinear"),
                nn.Conv2d(features // 2, 32, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(32, 1, 1),
                nn.ReLU(),  # non-negative disparity
                nn.Identity(),
            )

        def forward(self, x):
            enc, dec = self.pretrained, self.scratch
            l1 = enc.layer1(x)
            l2 = enc.layer2(l1)
            l3 = enc.layer3(l2)
            l4 = enc.layer4(l3)
            path = dec.refinenet4(dec.layer4_rn(l4))
            path = dec.refinenet3(path, dec.layer3_rn(l3))
            path = dec.refinenet2(path, dec.layer2_rn(l2))
            path = dec.refinenet1(path, dec.layer1_rn(l1))
            return dec.output_conv(path).squeeze(1)

    return MidasSmall()


def midas_small_input(image: np.ndarray):
    """MiDaS v2.1's transform: fit inside 256x256 keeping the aspect ratio, sides a multiple of
    32 (rounded down), bicubic, ImageNet-normalised."""
    import torch

    h, w = image.shape[:2]
    scale = MIDAS_SMALL_SIZE / max(h, w)
    size = [max(32, int(side * scale) // 32 * 32) for side in (w, h)]
    resized = cv2.resize(image, tuple(size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    return torch.from_numpy(((resized - _IMAGENET_MEAN) / _IMAGENET_STD).transpose(2, 0, 1).copy())


def midas_small_estimator(model, backend: str, batch_size: int = 16, device: str = "cpu") -> LearnedDepthEstimator:
    """Wrap a MidasNet_small for inference. Channels-last memory halves its CPU time (oneDNN
    convolutions run without layout conversions); the numbers are the same."""
    import torch

    model = model.eval().to(device, memory_format=torch.channels_last)
    return LearnedDepthEstimator(
        model=model,
        preprocess=midas_small_input,
        forward=lambda batch: model(batch.contiguous(memory_format=torch.channels_last)),
        backend=backend,
        batch_size=batch_size,
        device=device,
    )


@lru_cache(maxsize=2)
def load_midas_small(checkpoint: str, batch_size: int = 16, device: str = "cpu") -> LearnedDepthEstimator:
    """MiDaS v2.1 small from its released state dict (midas_v21_small_256.pt or a copy)."""
    import torch

    model = build_midas_small()
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "optimizer" in state:  # a training checkpoint, as MiDaS' own loader accepts
        state = state["model"]
    model.load_state_dict(state)
    return midas_small_estimator(model, f"midas-small:{checkpoint}", batch_size, device)


# ----------------------------------------------------------------------------- layout prior

_PRIOR_WIDTH = 256  # the prior is smooth; it is computed small and resized
_HFOV_DEG = 65.0  # typical listing lens (24-28 mm full-frame equivalent)
# A camera 1.5 m above the floor of a 2.6 m room, walls 2.5 m to either side, the wall ahead at
# 7 m; outdoors the camera is 1.6 m above the ground and the house front 15 m away. Only ratios
# matter (unit depth is scale-free); these are typical listing-photo geometry, checked on the
# sample listing and the shared RGB-D frames (bench/results/analyze.md).
_CAMERA_HEIGHT, _CEILING_ABOVE, _SIDE_WALL, _BACK_WALL = 1.5, 1.1, 2.5, 7.0
_OUTDOOR_CAMERA_HEIGHT, _FACADE = 1.6, 15.0
_MAX_PITCH = np.deg2rad(35.0)
_MIN_VERTICAL_SEGMENTS = 3
_VANISHING_MISS = np.sin(np.deg2rad(8.0))  # lines that miss the vertical vanishing point by more are not verticals


def _lsd():
    return cv2.createLineSegmentDetector()


def camera_pitch(grey: np.ndarray, focal: float) -> float:
    """Downward tilt of the camera (radians) from where vertical scene lines converge.

    Near-vertical line segments (door frames, wall corners, cabinet sides) meet at the vertical
    vanishing point; its direction in camera coordinates is the world's vertical, whose angle to
    the image plane is the pitch. Listing photos are usually corrected to parallel verticals,
    which gives 0.
    """
    h, w = grey.shape
    segments = _lsd().detect(grey)[0]
    if segments is None:
        return 0.0
    s = segments.reshape(-1, 4).astype(np.float64)
    dx, dy = s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]
    length = np.hypot(dx, dy)
    near_vertical = (np.degrees(np.arctan2(np.abs(dx), np.abs(dy))) < 20) & (length > 0.06 * np.hypot(h, w))
    if near_vertical.sum() < _MIN_VERTICAL_SEGMENTS:
        return 0.0
    s, length = s[near_vertical], length[near_vertical]
    ones = np.ones(len(s))
    p1 = np.c_[(s[:, 0] - w / 2) / focal, (s[:, 1] - h / 2) / focal, ones]
    p2 = np.c_[(s[:, 2] - w / 2) / focal, (s[:, 3] - h / 2) / focal, ones]
    lines = np.cross(p1, p2)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    # Least-squares common point. Floorboards and tile joints running away from the camera are
    # near vertical in the frame too, but meet at the horizon: the line that misses the point
    # most is dropped and the point fitted again, while any line misses it clearly.
    vanishing = np.linalg.svd(lines * length[:, None])[2][-1]
    miss = np.abs(lines @ vanishing)
    while miss.max() > _VANISHING_MISS and len(lines) > _MIN_VERTICAL_SEGMENTS:
        keep = np.arange(len(lines)) != np.argmax(miss)
        lines, length = lines[keep], length[keep]
        vanishing = np.linalg.svd(lines * length[:, None])[2][-1]
        miss = np.abs(lines @ vanishing)
    vy, vz = vanishing[1], vanishing[2]
    if vy < 0:
        vy, vz = -vy, -vz
    return float(np.clip(np.arctan2(vz, vy), -_MAX_PITCH, _MAX_PITCH))


def layout_disparity(image: np.ndarray) -> np.ndarray:
    """Disparity (1/m up to scale) of the box room, or ground + facade + sky, the camera sits in.

    Each surface is a plane n.X = d, whose disparity along the ray (u, v, 1) is (n.r)/d; a ray
    stops at the first surface it meets, so the disparity is the largest of the planes'. The
    camera's pitch comes from the image (`camera_pitch`), and blue sky across the top switches
    to the outdoor model with the sky itself at zero disparity.
    """
    h, w = image.shape[:2]
    focal = w / (2 * np.tan(np.deg2rad(_HFOV_DEG) / 2))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    pitch = camera_pitch(grey, focal)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (x - w / 2) / focal, (y - h / 2) / focal
    down = v * np.cos(pitch) + np.sin(pitch)  # ray component along the world's down
    ahead = np.cos(pitch) - v * np.sin(pitch)  # ray component along the level forward direction
    sky = sky_mask(image)
    if sky[: h // 3].mean() >= SKY_EXTERIOR:
        disparity = np.maximum(down / _OUTDOOR_CAMERA_HEIGHT, ahead / _FACADE)
        disparity[sky] = 0.0
        return disparity
    return np.maximum.reduce([
        down / _CAMERA_HEIGHT, -down / _CEILING_ABOVE, -u / _SIDE_WALL, u / _SIDE_WALL, ahead / _BACK_WALL,
    ])


@dataclass
class LayoutDepthEstimator:
    """Non-learned: the depth of the room shape a listing photo is usually taken in.

    It knows where floor, ceiling, walls and sky are likely to be, tilted by the camera pitch it
    reads from vertical lines; it knows nothing about the furniture, so depth variance and
    layering from it describe the room's shape more than its contents.
    """

    backend: str = LAYOUT_BACKEND

    def estimate(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        check_images(images)
        out = []
        for image in images:
            h, w = image.shape[:2]
            scale = min(1.0, _PRIOR_WIDTH / w)
            small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))),
                               interpolation=cv2.INTER_AREA) if scale < 1 else image
            unit = unit_depth_from_disparity(layout_disparity(small))
            out.append(cv2.resize(unit, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1 else unit)
        return out


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


# ----------------------------------------------------------------------------- statistics

_STATS_SIDE = 64  # statistics of a smooth map need no more pixels; keeps video frames cheap
_HIST_BINS = 32
_LAYER_PROMINENCE = 0.02  # a depth plane must hold a peak of >= 2 % of the pixels above its valleys


@dataclass(frozen=True)
class DepthStats:
    variance: float  # variance of unit depth: 0 flat, up to 0.25 (half nearest, half farthest)
    layering: float  # number of separable depth planes (peaks of the unit-depth histogram), >= 1
    planarity: float  # R^2 of one plane fitted to unit depth: 1 = a single plane explains it


def _small(depth: np.ndarray) -> np.ndarray:
    h, w = depth.shape
    scale = min(1.0, _STATS_SIDE / max(h, w))
    if scale == 1.0:
        return depth.astype(np.float32)
    return cv2.resize(depth.astype(np.float32), (max(2, round(w * scale)), max(2, round(h * scale))),
                      interpolation=cv2.INTER_AREA)


def depth_layers(depth: np.ndarray) -> int:
    """Peaks of the smoothed unit-depth histogram standing >= _LAYER_PROMINENCE above their
    surroundings: a wall is one, a sofa before a wall two; a floor running away is a flat
    histogram and adds none beyond the minimum of one."""
    hist = np.histogram(depth, bins=_HIST_BINS, range=(0.0, 1.0))[0].astype(np.float64)
    hist /= max(hist.sum(), 1.0)
    smooth = np.convolve(np.pad(hist, 2), [0.25, 0.5, 0.25], mode="same")
    peaks, _ = find_peaks(smooth, prominence=_LAYER_PROMINENCE)
    return max(1, len(peaks))


def plane_fit_r2(depth: np.ndarray) -> float:
    h, w = depth.shape
    y, x = np.mgrid[0:h, 0:w]
    design = np.c_[x.ravel() / w, y.ravel() / h, np.ones(h * w)]
    target = depth.ravel().astype(np.float64)
    total = float(((target - target.mean()) ** 2).sum())
    if total < 1e-12:
        return 1.0  # constant: a plane facing the camera
    residual = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
    return float(max(0.0, 1.0 - (residual**2).sum() / total))


def depth_stats(depth: np.ndarray) -> DepthStats:
    depth = np.asarray(depth)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty HxW map, got shape {depth.shape}")
    small = _small(depth)
    return DepthStats(
        variance=float(small.var()),
        layering=float(depth_layers(small)),
        planarity=plane_fit_r2(small),
    )


# ----------------------------------------------------------------------------- agreement


def rank_agreement(depth: np.ndarray, reference: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Spearman correlation of two depth maps: blind to scale, shift and any monotone warp, so
    unit depth compares directly with metric truth (or another estimator). 0 for a flat map."""
    from scipy.stats import spearmanr

    mask = np.ones(depth.shape, bool) if valid is None else valid
    a, b = depth[mask].ravel(), reference[mask].ravel()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def abs_rel_error(depth: np.ndarray, z: np.ndarray, valid: np.ndarray) -> float:
    """Mean |z_pred - z| / z over `valid`, with unit depth turned into relative metric depth
    (z / z_near = 1 / (1 - unit)), scaled by the ratio of medians and clipped to the truth's
    range, as monocular depth is evaluated (a flat prediction scores the spread of the truth)."""
    truth = z[valid].astype(np.float64)
    relative = 1.0 / np.maximum(1.0 - depth[valid].astype(np.float64), 1e-3)
    scaled = np.clip(relative * np.median(truth) / np.median(relative), truth.min(), truth.max())
    return float(np.mean(np.abs(scaled - truth) / truth))


# ----------------------------------------------------------------------------- storage form


def encode_depth_png(depth: np.ndarray) -> bytes:
    """Unit depth as a 16-bit greyscale PNG (0 = nearest), the artifact-store form."""
    levels = np.round(np.clip(depth, 0.0, 1.0) * 65535).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG")
    return buffer.getvalue()


def decode_depth_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) / 65535.0
