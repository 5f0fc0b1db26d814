"""CPU depth-parallax renderer: real 2.5D camera moves from a photo and its depth map.

The design's "simulate GPU outputs" and the safe floor of every downgrade. Each output pixel
is traced back to the photo through a moving pinhole camera: a point at source position q
with inverse depth δ(q) is seen, after the camera translates by T = (tx, 0, tz), at

    v = C + (q − C − f·T_xy·δ(q)) / (1 − tz·δ(q))

so its source position for a given output position v solves q = C + (v − C)(1 − tz·δ(q))
+ f·T_xy·δ(q). That fixed point is found by a few iterations on a coarse grid (⅛ of the
output size, where δ is smooth), and the resulting displacement field is upsampled to full
size and applied with one `cv2.remap`. Near things therefore move more than far ones
(parallax), and disocclusions are filled by stretching the smoothed depth's neighbourhood
over a few pixels instead of leaving holes.

No black or stretched edges: every move is built so that all source positions stay inside
the photo — pushes only ever shrink positions towards the centre (a push out is a push in
played backwards), and pans zoom in (overscan) by exactly the largest shift they make.

Depth maps are Phase 1's unit depth (`tasks.depth`): float32 in [0, 1], 0 = nearest,
defined as 1 − δ/δ_near with δ the disparity. So the relative disparity the parallax needs
is exactly 1 − depth: the nearest surface moves the full amount, the sky not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from db.enums import MotionType
from tasks.domain.motions import MOTIONS, CpuMove, views_used

# Output pixels per coarse-grid cell. The displacement field is smooth at this scale; 8 is
# visually the same as 4 (mean difference 0.2 grey levels), 14 % cheaper, and steadier at
# depth edges (max frame-to-frame jerk 0.25 px against 0.64 px).
GRID_STEP = 8
# Three steps converge to well under a pixel except right at depth edges, where the fixed
# point is ambiguous (occlusion); there more steps make the answer flip between foreground and
# background from frame to frame (measured on a 4-pixel grid: up to 4 px of frame-to-frame
# jerk with six steps, under 0.7 px with three), so three is both cheaper and steadier.
FIXED_POINT_ITERATIONS = 3
# Slightly under one photo pixel per output pixel, so that no frame maps pixel-for-pixel
# onto the resampled photo: otherwise the first frame of a push (pose at rest) would be an
# exact copy, sharper than every interpolated frame after it, and the clip would "pop".
SAMPLING_PITCH = 0.996


@dataclass(frozen=True)
class MotionProfile:
    """How far each move goes."""

    push_travel: float = 0.09  # camera travel towards the scene, in units of the nearest depth
    pan_travel: float = 0.05  # sideways travel of the nearest plane over a clip, share of the width
    reveal_share: float = 0.5  # share of the clip that each two-view reveal takes
    reveal_depth_lag: float = 0.35  # weight of depth (vs. screen position) in the reveal order
    reveal_softness: float = 0.3  # share of a reveal over which any one pixel changes view
    ease_softness: float = 0.5  # 0: linear speed; 1: full cosine ease-in-out (starts at rest)


DEFAULT_PROFILE = MotionProfile()


def ease(t: float, softness: float) -> float:
    """Eased progress in [0, 1]: a blend of constant speed and a cosine ease-in-out.

    A full ease starts and ends at rest, which looks dead once Phase 3 trims the clip; a
    partial one keeps some speed at the ends while removing the jolt of a linear start.
    """
    t = min(1.0, max(0.0, t))
    return float((1.0 - softness) * t + softness * 0.5 * (1.0 - np.cos(np.pi * t)))


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class CameraPose:
    """Camera translation: tx sideways (units of nearest depth · focal), tz forward."""

    tx: float = 0.0
    tz: float = 0.0


class ParallaxView:
    """One photo prepared for rendering at one output size: resampled once, δ on a coarse grid.

    `zoom` ≥ 1 is the overscan a move needs so that it never samples outside the photo.
    """

    def __init__(
        self,
        image: np.ndarray,
        depth: np.ndarray,
        width: int,
        height: int,
        zoom: float,
        profile: MotionProfile,
    ) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be RGB uint8 (H, W, 3), got {image.shape} {image.dtype}")
        if depth.ndim != 2:
            raise ValueError(f"depth must be a 2-D map, got shape {depth.shape}")
        self.width, self.height = width, height
        src_h, src_w = image.shape[:2]
        scale = max(width / src_w, height / src_h) * zoom  # cover, then overscan
        self.src_w, self.src_h = max(width, round(src_w * scale)), max(height, round(src_h * scale))
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        self.image = cv2.resize(image, (self.src_w, self.src_h), interpolation=interp)
        self.center = np.array([(self.src_w - 1) / 2.0, (self.src_h - 1) / 2.0], np.float32)
        self.focal = width / 2.0  # normalised image coordinates span ±1 across the output width
        self.disparity = self._coarse_disparity(depth)
        self.depth_coarse = self._coarse(depth)
        # Coarse grid of output pixel positions (every GRID_STEP-th pixel centre), with one
        # extra cell beyond each edge so that upsampling it is pure interpolation: a linear
        # field comes back exact up to the outermost pixels (no clamped, stretched border).
        # Positions are relative to the photo's centre, at SAMPLING_PITCH photo pixels per
        # output pixel.
        self.grid_w, self.grid_h = -(-width // GRID_STEP) + 2, -(-height // GRID_STEP) + 2
        xs = ((np.arange(self.grid_w, dtype=np.float32) - 0.5) * GRID_STEP - 0.5 - (width - 1) / 2.0)
        ys = ((np.arange(self.grid_h, dtype=np.float32) - 0.5) * GRID_STEP - 0.5 - (height - 1) / 2.0)
        gx, gy = np.meshgrid(xs * SAMPLING_PITCH, ys * SAMPLING_PITCH)
        self.grid_rel = np.stack([gx, gy], axis=-1)
        self.grid_pos = self._field_pos(self.grid_rel)  # the same points as coarse-field lookups

    def _coarse(self, depth: np.ndarray) -> np.ndarray:
        size = (max(2, self.src_w // GRID_STEP), max(2, self.src_h // GRID_STEP))
        return cv2.resize(np.clip(depth.astype(np.float32), 0.0, 1.0), size, interpolation=cv2.INTER_AREA)

    def _coarse_disparity(self, depth: np.ndarray) -> np.ndarray:
        """Relative disparity (1 − unit depth), smoothed, with near objects slightly grown.

        Growing the near side (a min filter on depth) keeps object borders moving with the
        object; the blur steadies the fixed-point iteration and spreads the disocclusion
        stretch over several pixels, where it is invisible at micro-motion amplitudes.
        """
        coarse = self._coarse(depth)
        coarse = cv2.erode(coarse, np.ones((3, 3), np.uint8))
        coarse = cv2.GaussianBlur(coarse, (0, 0), 1.5)
        return (1.0 - coarse).astype(np.float32)

    def _field_pos(self, rel: np.ndarray) -> np.ndarray:
        """Lookup positions in the coarse fields of source points given relative to the centre."""
        return (rel + self.center) / GRID_STEP - 0.5 + 0.5 / GRID_STEP

    def _sample(self, field: np.ndarray, pos: np.ndarray) -> np.ndarray:
        return cv2.remap(field, pos, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def coarse_source(self, pose: CameraPose) -> np.ndarray:
        """Lookup positions, in the coarse fields, of the coarse output grid's source points.

        q = C + (v − C)(1 − tz·δ) + f·T·δ is rewritten as pos = pos₀ − δ·(tz·(v − C) − f·T),
        so each fixed-point step is one multiply, one subtract and one lookup.
        """
        shift = np.array([self.focal * pose.tx, 0.0], np.float32)
        step = ((pose.tz * self.grid_rel - shift) / GRID_STEP).astype(np.float32)
        pos = self.grid_pos
        for _ in range(FIXED_POINT_ITERATIONS):
            disparity = self._sample(self.disparity, pos)
            pos = self.grid_pos - disparity[..., None] * step
        return pos

    def render(self, pose: CameraPose, with_depth: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """The frame for one camera pose, and (if asked) the depth it shows on the coarse grid."""
        pos = self.coarse_source(pose)
        source = pos * GRID_STEP + (GRID_STEP - 1) / 2.0  # coarse-field units → photo pixels
        size = (self.grid_w * GRID_STEP, self.grid_h * GRID_STEP)
        full = cv2.resize(source, size, interpolation=cv2.INTER_LINEAR)
        full = full[GRID_STEP : GRID_STEP + self.height, GRID_STEP : GRID_STEP + self.width]
        map1, map2 = cv2.convertMaps(full, None, cv2.CV_16SC2)
        frame = cv2.remap(self.image, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return frame, self._sample(self.depth_coarse, pos) if with_depth else None


def required_zoom(motion: MotionType, profile: MotionProfile) -> float:
    """Overscan that keeps every source position of the move inside the photo.

    Pushes need none (positions only move towards the centre). A pan shifts the nearest
    plane (δ = 1) by ±pan_travel/2 of the width, so the photo must be that much wider on
    each side: zoom = 1 + pan_travel. Reveals pan too.
    """
    if not MOTIONS[motion].cpu.overscan:
        return 1.0
    return 1.0 + profile.pan_travel + 1e-3


def sweep_profile(image: np.ndarray, width: int, height: int, profile: MotionProfile) -> MotionProfile:
    """A pan across the photo's whole width (a panorama): scaled to cover the frame, the photo
    is wider than it by (cover width − width); a plain pan with pan_travel = that excess over
    the width moves from its left edge to its right one, with no overscan (zoom 1)."""
    src_h, src_w = image.shape[:2]
    cover_w = src_w * max(width / src_w, height / src_h)
    travel = max(0.0, (cover_w - width) / width) * (1.0 - 1e-3)  # stay a hair inside the edges
    return replace(profile, pan_travel=travel)


def camera_pose(motion: MotionType, progress: float, pan_direction: int, profile: MotionProfile) -> CameraPose:
    """Camera pose at eased progress p ∈ [0, 1], along the motion's CPU move (its catalogue entry)."""
    move = MOTIONS[motion].cpu.move
    if move is CpuMove.push_in:
        return CameraPose(tz=profile.push_travel * progress)
    if move is CpuMove.push_out:  # a push in played backwards: never leaves the photo
        return CameraPose(tz=profile.push_travel * (1.0 - progress))
    # Pans and reveals: a sideways truck. The shift focal·tx·δ moves the nearest plane
    # (δ = 1) by pan_travel·width over the clip when tx spans ±pan_travel (focal = width/2).
    return CameraPose(tx=pan_direction * profile.pan_travel * (2.0 * progress - 1.0))


def reveal_weights(
    depth_a: np.ndarray, depth_b: np.ndarray, progress: float, pan_direction: int, profile: MotionProfile
) -> np.ndarray:
    """Per-pixel share of the next view during a handover (progress ∈ [0, 1]).

    A soft wipe that runs the way the camera travels (new content enters on the side the
    camera moves towards) and sweeps the back of the room before the foreground, so the
    next view is uncovered as if the camera slid past the near objects. Each pixel switches
    within `reveal_softness` of the window, so the two views never sit on top of each other
    for long (a plain dissolve of two non-aligned views ghosts).
    """
    gw = depth_a.shape[1]
    x = (np.arange(gw, dtype=np.float32) + 0.5) / gw
    sweep = x if pan_direction < 0 else 1.0 - x
    nearness = 1.0 - 0.5 * (depth_a + depth_b)
    lag = profile.reveal_depth_lag
    key = (1.0 - lag) * sweep[None, :] + lag * nearness
    soft = profile.reveal_softness
    return smoothstep((progress * (1.0 + soft) - key) / soft).astype(np.float32)


def parallax_frames(
    images: Sequence[np.ndarray],
    depths: Sequence[np.ndarray],
    motion: MotionType,
    width: int,
    height: int,
    n_frames: int,
    pan_direction: int = 1,
    profile: MotionProfile = DEFAULT_PROFILE,
    zoom: float | None = None,
) -> Iterator[np.ndarray]:
    """Yield the clip's frames (RGB uint8, height × width × 3) one at a time.

    `zoom` overrides the overscan the move needs (a sweep needs none: see `sweep_profile`).
    Single-image motions use the first image. Reveals (two images) and multi-image
    synthesis (several) play the views in order under one continuous camera move, each
    handing over to the next through a depth-ordered reveal.
    """
    if len(images) != len(depths) or not images:
        raise ValueError("parallax needs one depth map per image and at least one image")
    if n_frames < 2:
        raise ValueError("a clip needs at least two frames")
    if pan_direction not in (-1, 1):
        raise ValueError("pan_direction must be -1 (left) or +1 (right)")
    count = views_used(motion, len(images))
    zoom = required_zoom(motion, profile) if zoom is None else zoom
    views = [ParallaxView(images[i], depths[i], width, height, zoom, profile) for i in range(count)]
    handovers = reveal_schedule(count, profile.reveal_share)
    for index in range(n_frames):
        t = index / (n_frames - 1)
        pose = camera_pose(motion, ease(t, profile.ease_softness), pan_direction, profile)
        yield _compose(views, handovers, t, pose, pan_direction, profile)


def reveal_schedule(count: int, reveal_share: float) -> list[tuple[float, float]]:
    """(start, end) clip times of each handover between consecutive views.

    Views share the clip evenly; each handover is centred on the boundary between two views
    and lasts reveal_share of the clip divided among the handovers.
    """
    if count < 2:
        return []
    span = reveal_share / (count - 1)
    return [((k + 1) / count - span / 2, (k + 1) / count + span / 2) for k in range(count - 1)]


def _compose(
    views: list[ParallaxView],
    handovers: list[tuple[float, float]],
    t: float,
    pose: CameraPose,
    pan_direction: int,
    profile: MotionProfile,
) -> np.ndarray:
    current = sum(1 for _, end in handovers if t >= end)
    view = views[current]
    if current < len(handovers) and t > handovers[current][0]:
        start, end = handovers[current]
        frame_a, depth_a = view.render(pose, with_depth=True)
        frame_b, depth_b = views[current + 1].render(pose, with_depth=True)
        share = reveal_weights(depth_a, depth_b, (t - start) / (end - start), pan_direction, profile)
        share = cv2.resize(share, (view.width, view.height), interpolation=cv2.INTER_LINEAR)
        return cv2.blendLinear(frame_a, frame_b, 1.0 - share, share)
    frame, _ = view.render(pose)
    return frame
