"""Clips made on purpose: good parallax renders and each kind of bad clip the validator must catch.

Each bad clip starts from a good one (or its photo) and breaks exactly one property:
- `wobbled`: a time-varying rubber-sheet warp (walls wobble, ~0.6 % of the width);
- `card_move`: the same move done as a flat 2D zoom/slide of the photo (planar, no parallax);
- `faded_flat`: the picture dissolves into a flat colour (the scene's depth collapses);
- `frozen`: the first frame held;
- `flickering`: brightness jumping ±amp levels from frame to frame.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from db.enums import MotionType
from tasks.depth.unit import unit_depth_from_metric


def sample_photo(listing_root: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """A sample-listing photo and its true unit depth."""
    image = np.asarray(Image.open(listing_root / "photos" / f"{stem}.jpg").convert("RGB"))
    metres = np.asarray(Image.open(listing_root / "depth" / f"{stem}.png"), dtype=np.float32) / 1000.0
    return image, unit_depth_from_metric(metres)


def _grid(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = frame.shape[:2]
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def wobbled(frames: list[np.ndarray], amplitude: float = 0.006, wavelength: float = 0.25) -> list[np.ndarray]:
    gx, gy = _grid(frames[0])
    h, w = frames[0].shape[:2]
    out = []
    for i, frame in enumerate(frames):
        phase = 3 * np.pi * i / (len(frames) - 1)
        dx = amplitude * w * np.sin(2 * np.pi * gy / (wavelength * h) + phase) * np.sin(
            2 * np.pi * gx / (1.3 * wavelength * w) + 0.5 * phase)
        dy = amplitude * w * np.sin(2 * np.pi * gx / (wavelength * w) - phase) * np.cos(
            2 * np.pi * gy / (1.2 * wavelength * h) + 0.7 * phase)
        out.append(cv2.remap(frame, gx + dx.astype(np.float32), gy + dy.astype(np.float32),
                             cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def card_move(image: np.ndarray, motion: MotionType, n: int, width: int, height: int) -> list[np.ndarray]:
    """The move as a flat picture: a 6 % zoom or a 4 %-of-width slide, no depth at all."""
    h, w = image.shape[:2]
    cover = max(width / w, height / h)
    frames = []
    for i in range(n):
        t = i / (n - 1)
        zoom = 1.05 if motion is MotionType.subtle_pan else 1.0 + 0.06 * (t if motion is MotionType.micro_push_in else 1 - t)
        slide = (t - 0.5) * 0.04 * width if motion is MotionType.subtle_pan else 0.0
        s = cover * zoom
        affine = np.array([[s, 0, width / 2 - s * w / 2 - slide], [0, s, height / 2 - s * h / 2]], np.float32)
        frames.append(cv2.warpAffine(image, affine, (width, height), flags=cv2.INTER_LINEAR))
    return frames


def faded_flat(frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for i, frame in enumerate(frames):
        t = i / (len(frames) - 1)
        flat = np.empty_like(frame)
        flat[:] = frame.reshape(-1, 3).mean(axis=0).astype(np.uint8)
        out.append(cv2.addWeighted(frame, 1 - t, flat, t, 0))
    return out


def frozen(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [frames[0]] * len(frames)


def flickering(frames: list[np.ndarray], amplitude: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(np.int16) + int(rng.choice([-amplitude, amplitude])), 0, 255).astype(np.uint8)
            for f in frames]


def plan_long_clip(store, listing_root: Path, monkeypatch, seconds: float = 40.0) -> tuple[uuid.UUID, int]:
    """A job with one planned 640x360 clip, `seconds` long (longer than the planner would ever
    ask, so a signal sent soon after the render starts lands mid-render). Settings go to the
    environment, so processes started from the test render it the same way."""
    from db.enums import ConfidenceTier
    from db.models import Clip
    from db.session import session_scope
    from tasks.render.phase import plan_clips
    from tasks.settings import get_settings
    from tests.render.phase1_rows import PhotoSpec, RoomSpec, seed_phase1

    for name, value in (("CLIP_FPS", 30), ("CLIP_WIDTH", 640), ("CLIP_HEIGHT", 360), ("GENERATOR", "parallax")):
        monkeypatch.setenv(f"PICAIVID_{name}", str(value))
    get_settings.cache_clear()
    image, depth = sample_photo(listing_root, "living_a")
    seeded = seed_phase1(store, [RoomSpec("living_room", ConfidenceTier.low, MotionType.micro_push_in,
                                          [PhotoSpec("living_a", image, depth)])])
    (clip_id,) = plan_clips(seeded.job_id)
    with session_scope() as session:
        session.get(Clip, clip_id).duration = seconds
    return seeded.job_id, clip_id
