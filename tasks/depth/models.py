"""Learned depth models (MiDaS v2.1 small, MiDaS v3/v3.1 DPT): loading and batched inference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from tasks.depth.unit import unit_depth_from_disparity
from tasks.media.images import check_images


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
