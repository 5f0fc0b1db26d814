"""The non-learned fallback: the depth of the room (or ground, facade and sky) a listing photo is
usually taken in, tilted by the camera pitch its vertical lines show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tasks.depth.unit import unit_depth_from_disparity
from tasks.media.images import check_images
from tasks.media.sky import SKY_EXTERIOR, sky_mask

LAYOUT_BACKEND = "layout-prior"
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
