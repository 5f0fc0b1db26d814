"""The CPU depth-parallax renderer: every move, every output size, real parallax, clean edges."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from db.enums import MotionType as M
from tasks.render.parallax import (
    DEFAULT_PROFILE,
    ease,
    parallax_frames,
    reveal_schedule,
)

ALL_MOTIONS = list(M)


def render(images, depths, motion: M, width: int = 480, height: int = 270, n: int = 24, direction: int = 1):
    return list(parallax_frames(images, depths, motion, width, height, n, direction))


def edge_texture_ratio(frame: np.ndarray) -> float:
    """Detail across the outermost pixel columns/rows relative to the bands just inside.

    A stretched (replicated) edge has no detail across it (ratio → 0). Natural content
    keeps it near 1; the inner reference is a median over 28 columns (rows), so one strong
    edge inside does not count as the norm.
    """
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ratios = []
    for band in (g, g[:, ::-1], g.T, g.T[:, ::-1]):  # left, right, top, bottom edges as columns
        detail = np.abs(np.diff(band[:, :32], axis=1)).mean(axis=0)
        ratios.append((detail[0] + 0.05) / (np.median(detail[3:]) + 0.05))
    return float(min(ratios))


def border_is_black(frame: np.ndarray) -> bool:
    strips = [frame[:2], frame[-2:], frame[:, :2], frame[:, -2:]]
    return any((s.max(axis=-1) < 8).mean() > 0.2 for s in strips)


@pytest.mark.parametrize("motion", ALL_MOTIONS)
@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (1080, 1080)])
def test_every_motion_renders_at_every_output_size(motion: M, size, living, living_b) -> None:
    (a, da), (b, db) = living, living_b
    frames = render([a, b, a], [da, db, da], motion, *size, n=6)
    assert len(frames) == 6
    assert all(f.shape == (size[1], size[0], 3) and f.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("motion", ALL_MOTIONS)
def test_every_motion_moves_visibly_without_black_or_stretched_edges(motion: M, living, living_b) -> None:
    (a, da), (b, db) = living, living_b
    frames = render([a, b, a], [da, db, da], motion)
    change = np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean()
    assert change > 4.0, f"{motion}: first and last frames barely differ ({change:.2f})"
    for i, frame in enumerate(frames):
        assert not border_is_black(frame), f"{motion} frame {i} has a black border"
        assert edge_texture_ratio(frame) > 0.3, f"{motion} frame {i} has a stretched edge"


def test_pushes_show_parallax_near_things_grow_more_than_far_ones(living) -> None:
    """Measured in the output: flow magnitude grows with nearness beyond a plain zoom."""
    image, depth = living
    frames = render([image], [depth], M.micro_push_in, n=2)
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g0, g1, None)
    h, w = g0.shape
    y, x = np.mgrid[0:h, 0:w]
    radius = np.hypot(x - w / 2, y - h / 2)
    scale = (flow[..., 0] * (x - w / 2) + flow[..., 1] * (y - h / 2)) / np.maximum(radius, 1) ** 2
    src_h, src_w = depth.shape
    crop_h = round(src_w * h / w)  # the output covers the photo's full width, cropped top and bottom
    seen = cv2.resize(depth[(src_h - crop_h) // 2:][:crop_h], (w, h))
    near, far = seen < np.percentile(seen, 30), seen > np.percentile(seen, 70)
    ring = (radius > 0.15 * w) & (radius < 0.45 * w)
    assert np.median(scale[near & ring]) > 1.5 * np.median(scale[far & ring]) > 0


def test_pan_direction_is_honoured(living) -> None:
    image, depth = living
    for direction in (1, -1):
        frames = render([image], [depth], M.subtle_pan, n=2, direction=direction)
        g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames)
        dx = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g0, g1, None)[..., 0]
        assert np.sign(np.median(dx)) == -direction  # camera right → scene slides left


def test_motion_is_eased_and_free_of_jitter(living) -> None:
    image, depth = living
    frames = render([image], [depth], M.micro_push_in, 960, 540, n=20)
    grays = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    speed = np.array([np.linalg.norm(dis.calc(a, b, None), axis=2).mean() for a, b in pairwise(grays)])
    assert speed[len(speed) // 2] > 1.5 * speed[0] and speed[len(speed) // 2] > 1.5 * speed[-1]  # eased
    jerk = np.abs(np.diff(speed, 2))
    assert jerk.max() < 0.25 * speed.mean()  # no frame-to-frame jumps
    assert ease(0.0, 0.5) == 0.0 and ease(1.0, 0.5) == 1.0
    assert all(ease(t, 0.5) < ease(t + 0.01, 0.5) for t in np.linspace(0, 0.98, 50))


def test_reveals_hand_over_from_each_view_to_the_next(living, living_b, listing_root: Path) -> None:
    from tests.render.clip_makers import sample_photo

    c, dc = sample_photo(listing_root, "living_c")
    (a, da), (b, db) = living, living_b
    views = [a, b, c]

    def closest(frame: np.ndarray) -> int:
        small = cv2.resize(frame, (96, 54)).astype(np.float32)
        refs = [cv2.resize(v, (96, 54)).astype(np.float32) for v in views]  # close enough to each view
        return int(np.argmin([np.abs(small - r).mean() for r in refs]))

    two = render([a, b], [da, db], M.two_image_reveal, n=30)
    assert (closest(two[0]), closest(two[-1])) == (0, 1)
    multi = render(views, [da, db, dc], M.multi_image_synthesis, n=60)
    assert [closest(multi[i]) for i in (0, 30, 59)] == [0, 1, 2]
    assert reveal_schedule(3, DEFAULT_PROFILE.reveal_share)[0][0] > 0.1  # each view holds a while


def test_bad_inputs_are_refused(living) -> None:
    image, depth = living
    with pytest.raises(ValueError, match="depth"):
        render([image], [], M.micro_push_in)
    with pytest.raises(ValueError, match="pan_direction"):
        render([image], [depth], M.subtle_pan, direction=0)
    with pytest.raises(ValueError, match="RGB"):
        render([image[..., 0]], [depth], M.micro_push_in)


@pytest.mark.shared_data
@pytest.mark.parametrize("house", ["1", "7"])
def test_real_listing_photos_render_every_motion_cleanly(house: str, shared_data: Path) -> None:
    """Published listing photos with Phase 1's depth (its fallback here), at 1920x1080."""
    from PIL import Image

    from tasks.depth.estimator import load_depth_estimator

    folder = shared_data / "listings" / "houses" / house
    images = [np.asarray(Image.open(folder / f"{room}.jpg").convert("RGB")) for room in ("kitchen", "bedroom", "bathroom")]
    depths = load_depth_estimator().estimate(images)
    for motion in ALL_MOTIONS:
        frames = render(images, depths, motion, 1920, 1080, n=5)
        assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 3.0, motion
        for frame in frames:
            assert not border_is_black(frame) and edge_texture_ratio(frame) > 0.3, motion


def test_a_panorama_sweep_pans_from_its_left_edge_to_its_right_edge() -> None:
    """A plain 2D pan across a 6000x700 panorama: the first frame is its left end, the last its
    right end, each at the cover scale, with nothing stretched or black at either end."""
    from dataclasses import replace

    from tasks.render.parallax import sweep_profile

    rng = np.random.default_rng(0)
    pano = cv2.resize((rng.random((7, 60, 3)) * 255).astype(np.uint8), (6000, 700), interpolation=cv2.INTER_CUBIC)
    width, height = 480, 270
    profile = sweep_profile(pano, width, height, DEFAULT_PROFILE)
    flat = np.zeros(pano.shape[:2], np.float32)  # plain 2D: one depth everywhere
    frames = list(parallax_frames([pano], [flat], M.subtle_pan, width, height, 5, 1, replace(profile, ease_softness=0.0), zoom=1.0))
    scale = height / 700
    cover = cv2.resize(pano, (round(6000 * scale), height), interpolation=cv2.INTER_AREA)
    left, right = cover[:, :width], cover[:, -width:]
    assert np.abs(frames[0].astype(int) - left).mean() < 6
    assert np.abs(frames[-1].astype(int) - right).mean() < 6
    assert not any(border_is_black(f) for f in frames)
