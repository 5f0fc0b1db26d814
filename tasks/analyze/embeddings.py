"""Image embeddings for room grouping and labelling: OpenCLIP, or an honest classical fallback.

OpenCLIP runs when `settings.clip_pretrained` names weights (an open_clip pretrained tag, or a
local checkpoint file). Without weights a randomly initialised CLIP would be noise dressed up as
AI, so the pipeline instead runs `ClassicalEmbedder`: hand-made colour, texture and layout
features that really do place two views of one room near each other. Its name says what it is,
and it cannot embed text, so room labels then come from rules (see `tasks.analyze.rooms`).

Both return L2-normalised float32 rows, so cosine similarity is a plain dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import cv2
import numpy as np
import structlog

from tasks.media.images import check_images
from tasks.settings import Settings, get_settings

log = structlog.get_logger(__name__)

CLASSICAL_BACKEND = "classical-fallback"


class Embedder(Protocol):
    backend: str

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, each row L2-normalised."""
        ...

    def text_embed(self, prompts: Sequence[str]) -> np.ndarray | None:
        """(P, D) float32 L2-normalised in the image space, or None when the backend has no text."""
        ...


def l2_normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------- OpenCLIP


@dataclass
class OpenClipEmbedder:
    """An open_clip model in eval mode; images and prompts go through it in batches."""

    model: object
    preprocess: object
    tokenizer: object
    backend: str
    batch_size: int = 16
    _text_cache: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict, repr=False)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch
        from PIL import Image

        check_images(images)
        dim = int(self.model.visual.output_dim)
        if not images:
            return np.zeros((0, dim), np.float32)
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start:start + self.batch_size]
                batch = torch.stack([self.preprocess(Image.fromarray(im)) for im in chunk])
                out.append(self.model.encode_image(batch).float().numpy())
        return l2_normalise(np.concatenate(out))

    def text_embed(self, prompts: Sequence[str]) -> np.ndarray:
        import torch

        key = tuple(prompts)
        if key not in self._text_cache:
            with torch.inference_mode():
                tokens = self.tokenizer(list(prompts))
                self._text_cache[key] = l2_normalise(self.model.encode_text(tokens).float().numpy())
        return self._text_cache[key]


@lru_cache(maxsize=2)
def load_openclip(model_name: str, pretrained: str, batch_size: int = 16) -> OpenClipEmbedder:
    """The production loader: `pretrained` is an open_clip tag (hub) or a local checkpoint path.

    Cached per process: a worker reads the weights and embeds the room prompts once, not per job.
    """
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    backend = f"openclip:{model_name}/{pretrained}"
    log.info("embedder_loaded", backend=backend)
    return OpenClipEmbedder(model, preprocess, tokenizer, backend, batch_size)


# ----------------------------------------------------------------------------- classical

_WORK_SIZE = (128, 96)  # (w, h) every photo is reduced to; global descriptors need no detail
_GRID = 4  # spatial layout cells per side (as GIST); divides both sides of _WORK_SIZE
_ORIENTATIONS = 8  # unsigned gradient orientation bins over 180 degrees
_LAB_BINS = (6, 8, 8)  # L*, a*, b* bins of the joint colour histogram
_AB_RANGE = 40.0  # a*/b* beyond +-40 are rare indoors; clipping keeps the bins fine where it matters
# Relative weight of each feature block (each is unit-length first). Colour statistics survive a
# change of viewpoint best; layout and texture move with the camera, so they weigh less. Chosen
# on crops of the houses photos, the shared depth frames and the sample listing (bench_analyze).
_BLOCK_WEIGHTS = {"colour_hist": 1.0, "colour_layout": 0.5, "texture": 0.75}


def _lab(image: np.ndarray) -> np.ndarray:
    """CIELAB floats (L in 0..100, a/b about -100..100): distances there track perceived colour."""
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _colour_histogram(lab: np.ndarray) -> np.ndarray:
    """Joint L*a*b* histogram, square-rooted so the cosine of two is their Bhattacharyya overlap."""
    lo, hi = [0.0, -_AB_RANGE, -_AB_RANGE], [100.0, _AB_RANGE, _AB_RANGE]
    clipped = np.clip(lab, lo, hi).astype(np.float32)
    ranges = [lo[0], hi[0] + 1e-3, lo[1], hi[1] + 1e-3, lo[2], hi[2] + 1e-3]
    hist = cv2.calcHist([clipped], [0, 1, 2], None, list(_LAB_BINS), ranges).ravel()
    return np.sqrt(hist / max(hist.sum(), 1.0))


def _cell_means(values: np.ndarray) -> np.ndarray:
    """Mean of `values` (HxWxC) in each cell of a _GRID x _GRID layout, flattened."""
    h, w, c = values.shape
    cells = values.reshape(_GRID, h // _GRID, _GRID, w // _GRID, c)
    return cells.mean(axis=(1, 3)).reshape(-1)


def _colour_layout(lab: np.ndarray) -> np.ndarray:
    """Where the colours are: mean L*a*b* per grid cell, centred on mid-grey."""
    centred = (lab - np.array([50.0, 0.0, 0.0], np.float32)) / np.array([50.0, 30.0, 30.0], np.float32)
    return _cell_means(centred.astype(np.float32))


def _orientation_energy(grey: np.ndarray) -> np.ndarray:
    """GIST-like texture: gradient energy per orientation bin per grid cell."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / np.pi * _ORIENTATIONS).astype(np.int64), _ORIENTATIONS - 1)
    planes = np.zeros(grey.shape + (_ORIENTATIONS,), np.float32)
    np.put_along_axis(planes, bins[..., None], magnitude[..., None], axis=2)
    energy = np.sqrt(_cell_means(planes))
    return energy / max(float(np.linalg.norm(energy)), 1e-6)


def _texture(grey: np.ndarray) -> np.ndarray:
    """Orientation energy at two scales: fine texture (tiles, carpet) and coarse structure (walls)."""
    coarse = cv2.pyrDown(grey)
    return np.concatenate([_orientation_energy(grey), _orientation_energy(coarse)])


def classical_features(image: np.ndarray) -> np.ndarray:
    """One photo's fallback embedding: colour histogram, colour layout and texture, weighted."""
    small = cv2.resize(image, _WORK_SIZE, interpolation=cv2.INTER_AREA)
    lab = _lab(small)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    blocks = {
        "colour_hist": _colour_histogram(lab),
        "colour_layout": _colour_layout(lab),
        "texture": _texture(grey),
    }
    parts = [_BLOCK_WEIGHTS[name] * vec / max(float(np.linalg.norm(vec)), 1e-6) for name, vec in blocks.items()]
    return np.concatenate(parts).astype(np.float32)


@dataclass
class ClassicalEmbedder:
    """Non-learned descriptors; fast on a CPU, good at "same room", blind to text."""

    backend: str = CLASSICAL_BACKEND

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        check_images(images)
        if not images:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(np.stack([classical_features(im) for im in images]))

    @property
    def dim(self) -> int:
        return len(classical_features(np.zeros((8, 8, 3), np.uint8)))

    def text_embed(self, prompts: Sequence[str]) -> None:
        return None


# ----------------------------------------------------------------------------- entry point


def load_embedder(settings: Settings | None = None) -> Embedder:
    """OpenCLIP when weights are configured, else the classical fallback (with a warning).

    Configured weights that fail to load raise: silently running the fallback would hide a
    deployment mistake behind worse results.
    """
    settings = settings or get_settings()
    if not settings.clip_pretrained:
        log.warning(
            "embedder_fallback",
            backend=CLASSICAL_BACKEND,
            reason="PICAIVID_CLIP_PRETRAINED is unset: no CLIP weights, using classical colour/texture/layout features",
        )
        return ClassicalEmbedder()
    return load_openclip(settings.clip_model, settings.clip_pretrained, settings.analysis_batch_size)
