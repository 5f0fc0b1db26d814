"""A procedurally made listing: photos of a small house, their truth, and a music track.

Tests, the demo and the benchmarks need photos whose answers are known: which room each
shows, which views overlap, how deep each pixel is, and music of a known tempo. The photos
are ray-cast from simple 3D scenes (a house front on a lawn under a sky; box rooms with
textured floors, walls and windows, furnished as real rooms are, at real sizes: a kitchen with
rows of cabinets under a worktop and splashback, an island and a fridge; a half-tiled bathroom
with vanity, mirror, bath and WC; a bedroom with a made bed, pillows and bedside lamps; a living
room with a cushioned sofa, armchair, coffee table and TV), so perspective, parallax and depth
layering are real. Everything is deterministic from the seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from db.enums import RoomType

SKY_DEPTH_M = 60.0  # what "infinitely far" is written as in the true depth maps


@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    material: str
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Camera:
    position: tuple[float, float, float]
    yaw_deg: float  # 0 looks along +z, positive turns right
    pitch_deg: float = -4.0
    fov_deg: float = 68.0


@dataclass(frozen=True)
class Scene:
    room_type: RoomType
    interior: bool
    shell: Box  # the room itself (interior) or the ground slab (exterior)
    wall_color: tuple[float, float, float]
    floor: str
    objects: tuple[Box, ...]
    windows: tuple[tuple[str, float, float, float, float], ...] = ()  # wall, u0, u1, v0, v1
    wall_material: str = "paint"


@dataclass
class SamplePhoto:
    path: Path
    room_type: RoomType
    view_group: int  # photos sharing a group are overlapping views of one room
    camera: Camera
    depth_path: Path


@dataclass
class Listing:
    root: Path
    photos: list[SamplePhoto]
    music_path: Path
    bpm: float
    overrides_path: Path
    seed: int
    size: tuple[int, int] = (768, 512)
    overlap_groups: list[list[str]] = field(default_factory=list)

    def depth(self, photo: SamplePhoto) -> np.ndarray:
        """True z-depth in metres (float32, HxW)."""
        return np.asarray(Image.open(photo.depth_path), dtype=np.float32) / 1000.0


# ----------------------------------------------------------------------------- textures


def _noise(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return rng.normal(0.0, scale, shape).astype(np.float32)


def _hash01(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Deterministic per-cell pseudo-random value in [0,1) (planks, tiles, bricks)."""
    h = np.sin(a * 12.9898 + b * 78.233) * 43758.5453
    return (h - np.floor(h)).astype(np.float32)


def _texture(material: str, u: np.ndarray, v: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Colour of a surface point from its in-plane coordinates (metres)."""
    if material == "wood":
        plank = np.floor(u / 0.18)
        jitter = _hash01(plank, np.floor((v + plank * 0.7) / 1.2))
        grain = 0.06 * np.sin(v * 40.0 + plank * 3.0 + 6 * np.sin(u * 9.0))
        gap = (np.abs(u / 0.18 - np.round(u / 0.18)) < 0.04).astype(np.float32)
        shade = 0.82 + 0.3 * jitter + grain - 0.35 * gap
    elif material in ("tile", "wall_tile"):  # 30 cm floor tiles, 15 cm wall tiles
        size = 0.3 if material == "tile" else 0.15
        gu, gv = np.abs(u / size - np.round(u / size)), np.abs(v / size - np.round(v / size))
        grout = ((gu < 0.05) | (gv < 0.05)).astype(np.float32)
        shade = 0.95 + 0.08 * _hash01(np.floor(u / size), np.floor(v / size)) - 0.3 * grout
    elif material == "cabinet":  # 60 cm doors: shadow gaps between them, a bar handle near each top
        door = np.floor(u / 0.6)
        gap = (np.abs(u / 0.6 - np.round(u / 0.6)) < 0.015) | (np.abs(v / 0.36 - np.round(v / 0.36)) < 0.02)
        handle = (np.abs(u - (door + 0.5) * 0.6) < 0.12) & (np.abs(np.mod(v, 0.36) - 0.3) < 0.012)
        shade = 0.96 - 0.45 * gap.astype(np.float32) - 0.55 * handle.astype(np.float32)
    elif material == "carpet":
        shade = 0.9 + 0.1 * np.sin(u * 55) * np.sin(v * 61)
    elif material == "grass":
        shade = 0.75 + 0.35 * _hash01(np.floor(u * 30), np.floor(v * 30)) + 0.1 * np.sin(u * 3 + v * 2)
    elif material == "brick":
        row = np.floor(v / 0.075)
        col = np.floor((u + (row % 2) * 0.11) / 0.22)
        mortar = (np.abs(v / 0.075 - np.round(v / 0.075)) < 0.12) | (
            np.abs((u + (row % 2) * 0.11) / 0.22 - np.round((u + (row % 2) * 0.11) / 0.22)) < 0.05
        )
        shade = 0.8 + 0.35 * _hash01(row, col) - 0.45 * mortar.astype(np.float32)
    elif material == "fabric":
        shade = 0.88 + 0.08 * np.sin(u * 80) + 0.08 * np.sin(v * 75)
    elif material == "cushion":  # upholstery in 60 cm cushions with sunken seams
        seam = np.abs(u / 0.6 - np.round(u / 0.6)) < 0.03
        shade = 0.9 + 0.05 * np.sin(u * 80) * np.sin(v * 70) - 0.35 * seam.astype(np.float32)
    elif material == "paint":
        shade = 0.97 + 0.03 * np.sin(u * 7 + v * 5)
    elif material == "dado_tile":  # wall tiles to 1.2 m, paint above
        return np.where((v < 1.2)[:, None], _texture("wall_tile", u, v, base), _texture("paint", u, v, base))
    else:  # glossy / plain
        shade = np.ones_like(u)
    return base[None, :] * shade[:, None]


# ----------------------------------------------------------------------------- ray casting


def _rays(cam: Camera, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """World-space unit ray directions (N,3) and the camera's forward axis."""
    focal = 0.5 * width / np.tan(np.radians(cam.fov_deg) / 2)
    xs = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / focal
    ys = -(np.arange(height, dtype=np.float32) + 0.5 - height / 2) / focal
    gx, gy = np.meshgrid(xs, ys)
    dirs = np.stack([gx, gy, np.ones_like(gx)], axis=-1).reshape(-1, 3)
    yaw, pitch = np.radians(cam.yaw_deg), np.radians(cam.pitch_deg)
    rot_pitch = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
    rot_yaw = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rot = (rot_yaw @ rot_pitch).astype(np.float32)
    world = dirs @ rot.T
    forward = rot @ np.array([0, 0, 1], dtype=np.float32)
    return world / np.linalg.norm(world, axis=1, keepdims=True), forward


def _slab(origin: np.ndarray, dirs: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ray/box slab test: entry t, exit t, and the axes the ray enters and leaves through."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(dirs) < 1e-9, 1e-9, dirs)
        t1 = (np.asarray(lo, np.float32) - origin) * inv
        t2 = (np.asarray(hi, np.float32) - origin) * inv
    tnear, tfar = np.minimum(t1, t2), np.maximum(t1, t2)
    return tnear.max(axis=1), tfar.min(axis=1), tnear.argmax(axis=1), tfar.argmin(axis=1)


def _may_hit(origin: np.ndarray, dirs: np.ndarray, box: Box) -> np.ndarray:
    """Rays that pass within the box's bounding sphere (all of them from inside it): the slab
    test then runs on those few rays only, which keeps furnished rooms fast to render."""
    lo, hi = np.asarray(box.lo, np.float32), np.asarray(box.hi, np.float32)
    to_centre = (lo + hi) / 2 - origin
    dist, radius = float(np.linalg.norm(to_centre)), float(np.linalg.norm(hi - lo)) / 2
    if dist <= radius:
        return np.ones(len(dirs), bool)
    return dirs @ (to_centre / dist) >= np.sqrt(1.0 - (radius / dist) ** 2)


def _render(scene: Scene, cam: Camera, width: int, height: int, rng: np.random.Generator):
    origin = np.asarray(cam.position, np.float32)
    dirs, forward = _rays(cam, width, height)
    n = dirs.shape[0]
    t_best = np.full(n, np.inf, np.float32)
    color = np.zeros((n, 3), np.float32)
    normal = np.zeros((n, 3), np.float32)

    def shade_hits(mask, t, axis, sign, material, base):
        """Shade the rays in `mask` (bool over all rays) hit at t along `axis`; t, axis and sign
        hold one value per ray in the mask."""
        if not mask.any():
            return
        p = origin + dirs[mask] * t[:, None]
        u = np.where(axis == 0, p[:, 2], p[:, 0])
        v = np.where(axis == 1, p[:, 2], p[:, 1])
        color[mask] = _texture(material, u, v, np.asarray(base, np.float32))
        nrm = np.zeros((len(t), 3), np.float32)
        nrm[np.arange(len(t)), axis] = sign
        normal[mask] = nrm
        t_best[mask] = t

    shell = scene.shell
    if scene.interior:
        _, t_exit, _, ax_exit = _slab(origin, dirs, shell.lo, shell.hi)
        sign = -np.sign(dirs[np.arange(n), ax_exit])  # inward normal
        hit = np.isfinite(t_exit)
        for axis_id, material, base in (
            (1, scene.floor, shell.color),
            (0, scene.wall_material, scene.wall_color),
            (2, scene.wall_material, scene.wall_color),
        ):
            m = hit & (ax_exit == axis_id)
            if axis_id == 1:
                floor = m & (dirs[:, 1] < 0)
                ceiling = m & (dirs[:, 1] >= 0)
                shade_hits(floor, t_exit[floor], ax_exit[floor], sign[floor], material, base)
                shade_hits(ceiling, t_exit[ceiling], ax_exit[ceiling], sign[ceiling], "paint", (0.93, 0.93, 0.9))
            else:
                shade_hits(m, t_exit[m], ax_exit[m], sign[m], material, base)
        # windows: bright panes on walls
        p = origin + dirs * t_exit[:, None]
        for wall, u0, u1, v0, v1 in scene.windows:
            axis_id, coord = {"north": (2, shell.hi[2]), "south": (2, shell.lo[2]),
                              "east": (0, shell.hi[0]), "west": (0, shell.lo[0])}[wall]
            along = p[:, 0] if axis_id == 2 else p[:, 2]
            m = (ax_exit == axis_id) & (np.abs(p[:, axis_id] - coord) < 1e-3) & (along > u0) & (along < u1) & (p[:, 1] > v0) & (p[:, 1] < v1)
            mullion = (np.abs(along - (u0 + u1) / 2) < 0.03) | (np.abs(p[:, 1] - (v0 + v1) / 2) < 0.03)
            color[m] = np.where(mullion[m, None], 0.85, np.array([0.82, 0.9, 1.0], np.float32) * 1.25)
    else:
        sky = np.clip(dirs[:, 1:2], 0, 1)
        color[:] = np.array([0.78, 0.86, 0.95], np.float32) * (1 - sky) + np.array([0.35, 0.55, 0.9], np.float32) * sky
        ground = dirs[:, 1] < -1e-4
        t_ground = np.where(ground, (shell.hi[1] - origin[1]) / np.where(ground, dirs[:, 1], -1), np.inf)
        lawn = ground & (t_ground < SKY_DEPTH_M * 1.5)
        k = int(lawn.sum())
        shade_hits(lawn, t_ground[lawn], np.ones(k, np.intp), np.ones(k, np.float32), scene.floor, shell.color)

    for box in scene.objects:
        rows = np.flatnonzero(_may_hit(origin, dirs, box))
        t_in, t_out, ax_in, _ = _slab(origin, dirs[rows], box.lo, box.hi)
        front = (t_in > 1e-3) & (t_in <= t_out) & (t_in < t_best[rows])
        mask = np.zeros(n, bool)
        mask[rows[front]] = True
        sign = -np.sign(dirs[rows[front], ax_in[front]])
        shade_hits(mask, t_in[front], ax_in[front], sign, box.material, box.color)

    hit_any = np.isfinite(t_best)
    light = np.array([0.35, 0.85, -0.4], np.float32)
    light /= np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0, 1)
    facing = np.clip(-(normal * dirs).sum(axis=1), 0, 1)
    lit = np.where(hit_any, 0.55 + 0.3 * lambert + 0.2 * facing, 1.0)
    if scene.interior:  # soft falloff away from the camera, like a room lit from the windows
        lit = lit * np.where(hit_any, 1.05 - 0.035 * np.minimum(t_best, 10), 1.0)
    img = color * lit[:, None] + _noise(rng, (n, 3), 0.012)
    depth = np.where(hit_any, t_best * (dirs @ forward), SKY_DEPTH_M)
    img = np.clip(img, 0, 1).reshape(height, width, 3)
    return (img * 255 + 0.5).astype(np.uint8), depth.reshape(height, width).astype(np.float32)


# ----------------------------------------------------------------------------- the house


def _room(room_type: RoomType, size, wall, floor, floor_color, objects, windows, wall_material="paint") -> Scene:
    w, h, d = size
    return Scene(room_type, True, Box((0, 0, 0), (w, h, d), floor, floor_color), wall, floor,
                 tuple(objects), tuple(windows), wall_material)


def _scenes(rng: np.random.Generator) -> dict[RoomType, Scene]:
    """The rooms, furnished at real sizes (seat 45 cm, counter 90 cm, bed 60 cm, vanity 85 cm)."""
    jitter = lambda c: tuple(float(np.clip(x + rng.normal(0, 0.03), 0, 1)) for x in c)  # noqa: E731
    sofa, pale, steel = jitter((0.3, 0.36, 0.5)), jitter((0.93, 0.92, 0.88)), jitter((0.75, 0.76, 0.78))
    living = _room(RoomType.living_room, (6.0, 2.7, 7.0), jitter((0.86, 0.82, 0.74)), "wood", jitter((0.62, 0.45, 0.3)), [
        Box((1.0, 0, 5.8), (4.6, 0.45, 6.8), "cushion", sofa),                         # sofa seat
        Box((1.0, 0.45, 6.45), (4.6, 0.9, 6.8), "cushion", sofa),                      # sofa back
        Box((0.75, 0, 5.8), (1.0, 0.62, 6.8), "fabric", sofa),                         # sofa arms
        Box((4.6, 0, 5.8), (4.85, 0.62, 6.8), "fabric", sofa),
        Box((1.3, 0.45, 6.2), (1.8, 0.85, 6.45), "fabric", jitter((0.8, 0.62, 0.3))),  # cushions
        Box((3.8, 0.45, 6.2), (4.3, 0.85, 6.45), "fabric", jitter((0.8, 0.62, 0.3))),
        Box((2.0, 0, 4.2), (3.6, 0.42, 5.0), "wood", jitter((0.42, 0.28, 0.18))),      # coffee table
        Box((1.4, 0, 3.4), (4.2, 0.01, 5.6), "carpet", jitter((0.75, 0.7, 0.62))),     # rug
        Box((0.3, 0, 3.0), (1.1, 0.45, 3.9), "cushion", jitter((0.6, 0.5, 0.4))),      # armchair
        Box((0.3, 0.45, 3.0), (0.5, 0.85, 3.9), "fabric", jitter((0.6, 0.5, 0.4))),
        Box((3.3, 1.2, 6.97), (4.3, 1.9, 7.0), "plain", jitter((0.3, 0.45, 0.6))),     # picture
        Box((5.6, 0, 4.8), (6.0, 2.0, 6.2), "cabinet", jitter((0.5, 0.36, 0.24))),     # bookcase
        Box((5.5, 0, 2.3), (6.0, 0.5, 4.0), "cabinet", jitter((0.35, 0.25, 0.18))),    # media console
        Box((5.94, 0.8, 2.5), (6.0, 1.5, 3.8), "plain", jitter((0.08, 0.08, 0.09))),   # television
        Box((0.5, 0, 6.2), (0.56, 1.4, 6.26), "plain", jitter((0.2, 0.2, 0.2))),       # floor lamp
        Box((0.33, 1.4, 6.03), (0.73, 1.7, 6.43), "fabric", pale),
        Box((0.2, 0, 1.0), (0.6, 1.5, 1.4), "fabric", jitter((0.3, 0.55, 0.3))),       # plant
    ], [("north", 1.0, 2.9, 1.0, 2.2), ("west", 4.2, 5.6, 0.9, 2.2)])
    kitchen = _room(RoomType.kitchen, (5.0, 2.7, 5.5), jitter((0.93, 0.93, 0.9)), "tile", jitter((0.8, 0.8, 0.78)), [
        Box((0.0, 0, 4.9), (5.0, 0.88, 5.5), "cabinet", jitter((0.9, 0.91, 0.9))),    # base cabinets
        Box((0.0, 0.88, 4.85), (5.0, 0.92, 5.5), "plain", jitter((0.2, 0.2, 0.22))),   # worktop
        Box((0.0, 0.92, 5.46), (5.0, 1.5, 5.5), "wall_tile", jitter((0.9, 0.9, 0.88))),# splashback
        Box((0.0, 1.5, 5.15), (5.0, 2.3, 5.5), "cabinet", jitter((0.9, 0.91, 0.9))),   # wall units
        Box((2.1, 1.6, 5.05), (2.9, 2.3, 5.5), "plain", steel),                        # cooker hood
        Box((1.5, 0, 2.4), (3.5, 0.88, 3.4), "cabinet", jitter((0.55, 0.4, 0.26))),    # island
        Box((1.45, 0.88, 2.35), (3.55, 0.92, 3.45), "plain", jitter((0.15, 0.15, 0.17))),
        Box((1.95, 0, 2.05), (2.05, 0.62, 2.15), "plain", jitter((0.2, 0.2, 0.2))),    # bar stools
        Box((1.8, 0.62, 1.9), (2.2, 0.68, 2.3), "plain", jitter((0.3, 0.25, 0.2))),
        Box((2.95, 0, 2.05), (3.05, 0.62, 2.15), "plain", jitter((0.2, 0.2, 0.2))),
        Box((2.8, 0.62, 1.9), (3.2, 0.68, 2.3), "plain", jitter((0.3, 0.25, 0.2))),
        Box((4.3, 0, 3.5), (5.0, 2.0, 4.8), "plain", steel),                           # fridge
    ], [("west", 1.5, 3.5, 1.1, 2.1)])
    bedroom = _room(RoomType.bedroom, (4.5, 2.6, 5.0), jitter((0.86, 0.83, 0.78)), "carpet", jitter((0.72, 0.68, 0.62)), [
        Box((1.2, 0, 2.8), (3.3, 0.35, 5.0), "wood", jitter((0.4, 0.3, 0.22))),        # bed frame
        Box((1.25, 0.35, 2.85), (3.25, 0.6, 4.95), "fabric", pale),                    # mattress and duvet
        Box((1.2, 0.6, 2.8), (3.3, 0.64, 3.4), "fabric", jitter((0.55, 0.25, 0.25))),  # throw
        Box((1.4, 0.6, 4.35), (2.15, 0.78, 4.75), "fabric", pale),                     # pillows
        Box((2.35, 0.6, 4.35), (3.1, 0.78, 4.75), "fabric", pale),
        Box((1.1, 0, 4.85), (3.4, 1.3, 5.0), "fabric", jitter((0.45, 0.42, 0.4))),     # headboard
        Box((0.3, 0, 4.4), (0.8, 0.55, 4.9), "cabinet", jitter((0.45, 0.32, 0.22))),   # night stands
        Box((3.7, 0, 4.4), (4.2, 0.55, 4.9), "cabinet", jitter((0.45, 0.32, 0.22))),
        Box((0.5, 0.55, 4.6), (0.6, 0.85, 4.7), "plain", jitter((0.3, 0.3, 0.3))),     # lamps
        Box((0.38, 0.85, 4.48), (0.72, 1.1, 4.82), "fabric", pale),
        Box((3.9, 0.55, 4.6), (4.0, 0.85, 4.7), "plain", jitter((0.3, 0.3, 0.3))),
        Box((3.78, 0.85, 4.48), (4.12, 1.1, 4.82), "fabric", pale),
        Box((1.7, 1.45, 4.98), (2.8, 1.95, 5.0), "plain", jitter((0.55, 0.6, 0.5))),   # picture
        Box((0.0, 0, 1.5), (0.5, 0.8, 2.7), "cabinet", jitter((0.45, 0.32, 0.22))),    # chest of drawers
    ], [("east", 1.0, 3.0, 1.0, 2.1)])
    bathroom = _room(RoomType.bathroom, (3.0, 2.5, 3.5), jitter((0.9, 0.92, 0.93)), "tile", jitter((0.88, 0.9, 0.92)), [
        Box((2.25, 0, 1.3), (3.0, 0.58, 3.5), "plain", jitter((0.97, 0.97, 0.97))),    # bath
        Box((0.9, 0, 2.95), (2.1, 0.82, 3.5), "cabinet", jitter((0.5, 0.38, 0.28))),   # vanity
        Box((0.88, 0.82, 2.92), (2.12, 0.86, 3.5), "plain", jitter((0.97, 0.97, 0.97))),
        Box((1.05, 1.05, 3.47), (1.95, 1.85, 3.5), "plain", jitter((0.7, 0.8, 0.85))), # mirror
        Box((0.0, 0, 1.22), (0.6, 0.4, 1.58), "plain", jitter((0.97, 0.97, 0.97))),    # toilet
        Box((0.0, 0.4, 1.2), (0.2, 0.8, 1.6), "plain", jitter((0.97, 0.97, 0.97))),
        Box((0.0, 0.9, 2.2), (0.04, 1.4, 2.7), "fabric", jitter((0.35, 0.5, 0.55))),   # towel
    ], [("west", 1.9, 2.6, 1.5, 2.2)], wall_material="dado_tile")
    exterior = Scene(RoomType.front_exterior, False, Box((-40, -1, -40), (40, 0, 80), "grass", jitter((0.32, 0.55, 0.25))),
                     (0.0, 0.0, 0.0), "grass", (
        Box((-6.0, 0, 12.0), (6.0, 5.5, 20.0), "brick", jitter((0.62, 0.36, 0.28))),   # house
        Box((-6.5, 5.5, 11.5), (6.5, 6.2, 20.5), "plain", jitter((0.25, 0.25, 0.28))), # roof slab
        Box((-0.7, 0, 11.9), (0.7, 2.2, 12.0), "wood", jitter((0.3, 0.2, 0.15))),      # door
        Box((-4.5, 1.2, 11.9), (-2.0, 2.6, 12.0), "plain", jitter((0.55, 0.65, 0.75))),# windows
        Box((2.0, 1.2, 11.9), (4.5, 2.6, 12.0), "plain", jitter((0.55, 0.65, 0.75))),
        Box((-4.5, 3.3, 11.9), (-2.0, 4.6, 12.0), "plain", jitter((0.55, 0.65, 0.75))),
        Box((2.0, 3.3, 11.9), (4.5, 4.6, 12.0), "plain", jitter((0.55, 0.65, 0.75))),
        Box((-9.0, 0, 6.0), (-7.5, 3.5, 7.5), "grass", jitter((0.2, 0.4, 0.18))),      # hedge / tree
        Box((6.5, 0, 4.0), (8.0, 1.2, 9.0), "grass", jitter((0.22, 0.42, 0.2))),
        Box((-1.0, 0, 0.0), (1.0, 0.02, 12.0), "tile", jitter((0.7, 0.68, 0.64))),     # path
    ))
    return {s.room_type: s for s in (exterior, living, kitchen, bedroom, bathroom)}


# room, file stem, camera
SHOTS: tuple[tuple[RoomType, str, Camera], ...] = (
    (RoomType.front_exterior, "exterior_front_a", Camera((0.0, 1.7, -2.0), 0.0, -2.0)),
    (RoomType.front_exterior, "exterior_front_b", Camera((3.0, 1.7, -1.0), -12.0, -2.0)),
    (RoomType.living_room, "living_a", Camera((3.0, 1.5, 0.4), 0.0)),
    (RoomType.living_room, "living_b", Camera((1.2, 1.5, 0.6), 18.0)),
    (RoomType.living_room, "living_c", Camera((4.8, 1.5, 0.6), -20.0)),
    (RoomType.kitchen, "kitchen_a", Camera((2.5, 1.55, 0.3), 0.0)),
    (RoomType.kitchen, "kitchen_b", Camera((0.7, 1.55, 0.5), 22.0)),
    (RoomType.bedroom, "bedroom_a", Camera((2.25, 1.5, 0.3), 0.0)),
    (RoomType.bedroom, "bedroom_b", Camera((3.9, 1.5, 0.5), -25.0)),
    (RoomType.bathroom, "bathroom_a", Camera((1.6, 1.5, 0.2), 4.0, -8.0)),
)

DEMO_OVERRIDES = {
    "living_a.jpg": {"hero_global": True, "notes": "agent's favourite"},
    "exterior_front_b.jpg": {"preferred_closing": True},
    "kitchen_b.jpg": {"hero_room": True, "hero_priority": 2, "caption": "Chef's kitchen"},
}

# What Rails would write in jobs.listing for the sample house (logo and headshot URIs are
# filled in once make_agent_media's files are in the artifact store).
DEMO_LISTING = {
    "address_lines": ["1428 Orchard Lane", "Springfield, IL 62704"],
    "price": {"amount": 849000, "currency": "USD"},
    "beds": 4, "baths": 2.5, "area": {"value": 2150, "unit": "sqft"},
    "status": "Just listed",
    "agent": {"name": "Jordan Avery", "brokerage": "Northgate Realty Group", "phone": "(217) 555-0142",
              "email": "jordan@northgate.example"},
    "brand": {"primary": "#1F3A5F", "accent": "#E8B04B"},
    "caption_language": "en",
}


def make_agent_media(out_dir: Path) -> tuple[Path, Path]:
    """A brokerage logo (initials on the brand colour) and an illustrated headshot, as PNGs."""
    from PIL import ImageDraw, ImageFont

    from tasks.assemble.cards import BOLD, FONTS

    out_dir.mkdir(parents=True, exist_ok=True)
    logo = Image.new("RGBA", (560, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(logo)
    draw.rounded_rectangle((0, 0, 159, 159), radius=28, fill=(232, 176, 75, 255))
    draw.text((80, 82), "N", font=ImageFont.truetype(str(FONTS / BOLD), 120), fill=(31, 58, 95, 255), anchor="mm")
    draw.text((180, 82), "NORTHGATE", font=ImageFont.truetype(str(FONTS / BOLD), 60), fill=(250, 250, 248, 255),
              anchor="lm")
    logo_path = out_dir / "logo.png"
    logo.save(logo_path)
    y, x = np.mgrid[0:320, 0:320]
    face = np.zeros((320, 320, 3), np.uint8)
    face[:] = np.stack([90 + y * 0.25, 120 + y * 0.2, 150 + y * 0.15], axis=-1).astype(np.uint8)
    head = (x - 160) ** 2 + (y - 130) ** 2 < 62**2
    shoulders = ((x - 160) ** 2 / 130**2 + (y - 330) ** 2 / 110**2) < 1
    face[shoulders] = (40, 52, 70)
    face[head] = (224, 180, 150)
    face[((x - 160) ** 2 + (y - 112) ** 2 < 66**2) & (y < 100)] = (70, 48, 36)  # hair
    headshot_path = out_dir / "headshot.png"
    Image.fromarray(face).save(headshot_path)
    return logo_path, headshot_path


def synth_music(path: Path, bpm: float = 120.0, seconds: float = 75.0, sr: int = 22050, seed: int = 0) -> Path:
    """A 4/4 groove at exactly `bpm`: accented kick on every bar start, kick on beats, hats on
    off-beats, and a bass note per bar. Written as Ogg Vorbis (or WAV by suffix)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, np.float32)
    beat = 60.0 / bpm
    t_kick = np.arange(int(0.25 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-t_kick * 30)) * t_kick) * np.exp(-t_kick * 14)
    hat = rng.normal(0, 1, int(0.05 * sr)).astype(np.float32) * np.exp(-np.arange(int(0.05 * sr)) / sr * 80)
    roots = [55.0, 65.41, 49.0, 58.27]
    for i, start in enumerate(np.arange(0.0, seconds - 0.3, beat)):
        s = int(start * sr)
        gain = 1.0 if i % 4 == 0 else 0.7
        seg = kick[: n - s] * gain
        out[s : s + seg.size] += seg
        h = int((start + beat / 2) * sr)
        if h < n:
            out[h : h + hat.size] += 0.18 * hat[: n - h]
        if i % 4 == 0:
            length = int(min(4 * beat, seconds - start) * sr)
            tt = np.arange(length) / sr
            bass = 0.25 * np.sin(2 * np.pi * roots[(i // 4) % 4] * tt) * np.exp(-tt * 0.6)
            out[s : s + length] += bass[: n - s]
    out = 0.8 * out / np.max(np.abs(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.stack([out, out], axis=1), sr)
    return path


def make_listing(
    out_dir: Path,
    seed: int = 0,
    size: tuple[int, int] = (768, 512),
    bpm: float = 120.0,
    music_seconds: float = 75.0,
) -> Listing:
    """Render the sample house into `out_dir` (photos/, depth/, music, overrides, manifest)."""
    rng = np.random.default_rng(seed)
    scenes = _scenes(rng)
    photos_dir, depth_dir = out_dir / "photos", out_dir / "depth"
    photos_dir.mkdir(parents=True, exist_ok=True)
    depth_dir.mkdir(parents=True, exist_ok=True)
    groups = {room: i for i, room in enumerate(dict.fromkeys(room for room, _, _ in SHOTS))}
    photos: list[SamplePhoto] = []
    for room, stem, cam in SHOTS:
        jittered = Camera(
            tuple(float(x + rng.normal(0, 0.05)) for x in cam.position),  # type: ignore[arg-type]
            cam.yaw_deg + float(rng.normal(0, 1.5)), cam.pitch_deg, cam.fov_deg,
        )
        img, depth = _render(scenes[room], jittered, size[0], size[1], rng)
        path = photos_dir / f"{stem}.jpg"
        Image.fromarray(img).save(path, quality=92)
        depth_path = depth_dir / f"{stem}.png"
        Image.fromarray(np.clip(depth * 1000, 0, 65535).astype(np.uint16)).save(depth_path)
        photos.append(SamplePhoto(path, room, groups[room], jittered, depth_path))
    music = synth_music(out_dir / "music.ogg", bpm=bpm, seconds=music_seconds, seed=seed)
    overrides = out_dir / "overrides.json"
    overrides.write_text(json.dumps(DEMO_OVERRIDES, indent=2))
    overlap_groups = [[p.path.name for p in photos if p.view_group == g] for g in sorted(set(groups.values()))]
    listing = Listing(out_dir, photos, music, bpm, overrides, seed, size,
                      [g for g in overlap_groups if len(g) > 1])
    manifest = {
        "seed": seed, "bpm": bpm, "size": list(size),
        "photos": [{"file": p.path.name, "room_type": p.room_type.value, "view_group": p.view_group,
                    "depth": f"depth/{p.depth_path.name}", "camera": asdict(p.camera)} for p in photos],
        "overlap_groups": listing.overlap_groups,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return listing
