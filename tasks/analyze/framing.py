"""Crop windows: where each output format frames a photo, planned in Phase 1 (pure).

A portrait or square video shows a slice of a landscape photo. Which slice decides whether the
room reads, so it is chosen here from what Phase 1 already measured, not cut at the centre in
Phase 4: a saliency map (gradient energy: furniture, windows, fittings; blank walls and ceilings
score low) weighted towards the near half of the scene by the depth map (a room's subject
stands in it, the far wall is background). Each format's window is the largest box of its
aspect inside the photo, slid along its free axis to hold the most saliency, with a small pull
to the centre so an even photo stays centred. 16:9 keeps the centred cover crop the walk-through
has always shown: listing photos are composed for landscape.

Windows and the subject point are shares of the photo's width and height (0..1), stored on
`photos.framing` as {"subject": [x, y], "windows": {format: [x, y, w, h]}}.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tasks.domain.formats import PRIMARY, Window, get_format

SALIENCY_SIDE = 256  # saliency needs layout, not detail
NEAR_WEIGHT = 0.5  # how much nearer parts count over farther ones (0: depth ignored)
CENTRE_PULL = 0.15  # saliency share a window gives up per slide of the whole free range from the centre


def saliency_map(rgb: np.ndarray, depth: np.ndarray | None) -> np.ndarray:
    """Where the subject is: float32 map at most SALIENCY_SIDE on its long side, summing to 1."""
    h, w = rgb.shape[:2]
    scale = min(1.0, SALIENCY_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    grey = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    energy = cv2.GaussianBlur(energy, (0, 0), max(1.0, max(size) / 64))
    if depth is not None:
        near = 1.0 - np.clip(cv2.resize(depth.astype(np.float32), size, interpolation=cv2.INTER_AREA), 0, 1)
        energy *= (1.0 - NEAR_WEIGHT) + NEAR_WEIGHT * near
    total = float(energy.sum())
    return energy / total if total > 0 else np.full(energy.shape, 1.0 / energy.size, np.float32)


def subject_point(saliency: np.ndarray) -> tuple[float, float]:
    """The saliency's centre of mass, as shares of width and height."""
    h, w = saliency.shape
    x = float((saliency.sum(axis=0) * (np.arange(w) + 0.5)).sum()) / w
    y = float((saliency.sum(axis=1) * (np.arange(h) + 0.5)).sum()) / h
    return round(x, 4), round(y, 4)


def crop_window(saliency: np.ndarray, photo_w: int, photo_h: int, aspect: float, centred: bool = False) -> Window:
    """The largest `aspect` box inside the photo holding the most saliency: (x, y, w, h) shares."""
    if photo_w / photo_h >= aspect:  # wider than the format: slide horizontally
        share, profile = aspect * photo_h / photo_w, saliency.sum(axis=0)
    else:
        share, profile = photo_w / aspect / photo_h, saliency.sum(axis=1)
    offset = 0.5 - share / 2 if centred or share >= 1 else _best_offset(profile, share)
    offset = round(min(max(offset, 0.0), 1.0 - share), 4)
    share = round(min(share, 1.0), 4)
    return (offset, 0.0, share, 1.0) if photo_w / photo_h >= aspect else (0.0, offset, 1.0, share)


def _best_offset(profile: np.ndarray, share: float) -> float:
    """Start (share of the axis) of the `share`-long slice that holds the most of `profile`,
    less the pull to the centre."""
    grid = np.arange(profile.size + 1)
    cumulative = np.concatenate([[0.0], np.cumsum(profile, dtype=np.float64)])
    starts = np.linspace(0.0, 1.0 - share, 101)
    held = np.interp((starts + share) * profile.size, grid, cumulative) - np.interp(starts * profile.size, grid, cumulative)
    pull = CENTRE_PULL * np.abs(starts - (1.0 - share) / 2) / max(1.0 - share, 1e-9)
    return float(starts[int(np.argmax(held - pull))])


def plan_framing(rgb: np.ndarray, depth: np.ndarray | None, photo_w: int, photo_h: int,
                 formats: Sequence[str]) -> dict:
    """The photo's subject and a crop window per format (`photos.framing`)."""
    saliency = saliency_map(rgb, depth)
    return {
        "subject": list(subject_point(saliency)),
        "windows": {name: list(crop_window(saliency, photo_w, photo_h, get_format(name).aspect,
                                           centred=name == PRIMARY)) for name in formats},
    }

