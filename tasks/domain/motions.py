"""The motion catalogue: every camera motion is one entry, and every phase reads it.

An entry says where the motion may be planned (the confidence tiers, whether it needs depth
layers and 3D eligibility, how many views it plays), how Phase 1 recommends it, how Phase 2
renders it (the LTX-2 mode, camera-control LoRA and prompt; the CPU parallax move), what the
validator judges it on, and the rung of the downgrade ladder below it. Phase 1 records the
plan (`allowed_motion_types`, `recommended_motion`, `model_recommendation`, `is_3d_eligible`)
from these entries; Phase 2 renders what that plan allowed; `tasks.render.downgrade` and the
validator's flags come from here. Adding a motion is one entry (plus, where its camera path is
new, the move in `tasks.render.parallax.camera_pose`); `tests/domain/test_motions.py` proves
each entry plannable, renderable on the CPU and ending on the ladder's floor.

Design: "Usage By Confidence Tier" (low: single-image LTX-2 with a camera LoRA — micro push in,
micro push out, subtle pan; medium: two-image keyframe interpolation, a reveal; high:
multi-image synthesis), "MiDaS Policy" (depth gates the motion) and "Depth Validation Policy"
(a clip that fails validation is re-rendered with a safer motion).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from db.enums import ConfidenceTier, MotionType

L, M, H = ConfidenceTier.low, ConfidenceTier.medium, ConfidenceTier.high


class PanDirection(StrEnum):
    left = "left"
    right = "right"


class CameraMove(StrEnum):
    """Moves with an official LTX-2 19B camera-control LoRA that the render phase uses."""

    dolly_in = "dolly_in"
    dolly_out = "dolly_out"
    dolly_left = "dolly_left"
    dolly_right = "dolly_right"


class Ltx2Mode(StrEnum):
    image_to_video = "image_to_video"  # one photo conditions the first frame; a camera LoRA steers
    keyframes = "keyframes"  # the photos are keyframes from the first frame to the last


class CpuMove(StrEnum):
    """The camera path of `tasks.render.parallax` (see `camera_pose`)."""

    push_in = "push_in"  # towards the scene
    push_out = "push_out"  # a push in played backwards: never leaves the photo
    truck = "truck"  # sideways; reveals and multi-view clips hand over between views along it


class Shot(StrEnum):
    """What a single-view room shot is, for choosing among the equally rich single-image moves."""

    flat = "flat"  # no depth to push into
    closing = "closing"  # holds the video's closing photo
    depth = "depth"  # any other scene with depth


@dataclass(frozen=True)
class Ltx2Path:
    mode: Ltx2Mode
    model: str  # what `analysis_results.model_recommendation` records for this motion
    prompt: str  # str.format fields: {place}, {through} ("through"/"toward"), {pan}, {space} ("room"/"scene")
    lora: dict[PanDirection, CameraMove] | None = None  # the camera LoRA per travel direction


@dataclass(frozen=True)
class CpuPath:
    move: CpuMove
    overscan: bool  # the move shifts the photo sideways, so it is zoomed in by that much first


@dataclass(frozen=True)
class Checks:
    """What `tasks.render.validate` judges: a single-view clip must keep its scene in view and
    keep lines straight in its worst interval; where the scene has depth (not flat by Phase 1's
    rule) it must also show parallax. Multi-view clips hand one view over to another, so neither."""

    single_view: bool


@dataclass(frozen=True)
class Motion:
    name: MotionType
    tiers: frozenset[ConfidenceTier]  # confidence tiers whose plan allows it
    needs_depth_layers: bool  # not on a flat scene (Phase 1's flat rule)
    needs_3d: bool  # only where the room is 3D (multi-view) eligible
    min_views: int  # photos it needs
    max_views: int | None  # photos it plays (None: every one given, hero first)
    rank: int  # richness: Phase 1 recommends the richest motion a room allows
    suits: Shot | None  # among equally rich single-view moves, the shot it is chosen for
    plan_rule: str  # the recommendation's rule and reason in `debug_metrics`
    plan_reason: str
    seconds: float  # natural clip length; Phase 3 trims to the beat from it
    max_seconds: float  # the longest it may be stretched to (tasks.render.sizing)
    ltx2: Ltx2Path
    cpu: CpuPath
    checks: Checks
    downgrade: MotionType | None  # the rung below after a rejection; None: the floor (a plain 2D move)
    cpu_first: bool  # rejected on LTX-2: the same move on the CPU renderer before stepping down

    def views(self, available: int) -> int:
        """Photos it plays out of `available`."""
        return available if self.max_views is None else min(available, self.max_views)


SINGLE_VIEW = Checks(single_view=True)
MULTI_VIEW = Checks(single_view=False)
I2V = "ltx2-i2v-camera-lora"

CATALOGUE: tuple[Motion, ...] = (
    Motion(
        name=MotionType.micro_push_in, tiers=frozenset({L, M, H}), needs_depth_layers=False, needs_3d=False,
        min_views=1, max_views=1, rank=0, suits=Shot.depth,
        plan_rule="push_in", plan_reason="single-image depth: a micro push in",
        seconds=3.0, max_seconds=5.5,
        ltx2=Ltx2Path(Ltx2Mode.image_to_video, I2V, "Smooth cinematic dolly in {through} {place}",
                      {PanDirection.left: CameraMove.dolly_in, PanDirection.right: CameraMove.dolly_in}),
        cpu=CpuPath(CpuMove.push_in, overscan=False), checks=SINGLE_VIEW,
        # it only ever magnifies the photo: nothing off-frame or behind objects is shown
        downgrade=None, cpu_first=True,
    ),
    Motion(
        name=MotionType.micro_push_out, tiers=frozenset({L, M, H}), needs_depth_layers=False, needs_3d=False,
        min_views=1, max_views=1, rank=0, suits=Shot.closing,
        plan_rule="closing_pull_back", plan_reason="holds the closing photo: the video pulls back to end",
        seconds=3.0, max_seconds=5.5,
        ltx2=Ltx2Path(Ltx2Mode.image_to_video, I2V,
                      "Smooth cinematic dolly out from {place}, revealing more of the {space}",
                      {PanDirection.left: CameraMove.dolly_out, PanDirection.right: CameraMove.dolly_out}),
        cpu=CpuPath(CpuMove.push_out, overscan=False), checks=SINGLE_VIEW,
        downgrade=MotionType.micro_push_in, cpu_first=True,
    ),
    Motion(
        name=MotionType.subtle_pan, tiers=frozenset({L, M, H}), needs_depth_layers=False, needs_3d=False,
        min_views=1, max_views=1, rank=0, suits=Shot.flat,
        plan_rule="flat_pan", plan_reason="flat scene: a subtle pan, no depth to push into",
        seconds=3.5, max_seconds=6.0,
        ltx2=Ltx2Path(Ltx2Mode.image_to_video, I2V, "Slow cinematic dolly {pan} across {place}, revealing its {pan} side",
                      {PanDirection.left: CameraMove.dolly_left, PanDirection.right: CameraMove.dolly_right}),
        cpu=CpuPath(CpuMove.truck, overscan=True), checks=SINGLE_VIEW,
        downgrade=MotionType.micro_push_in, cpu_first=True,
    ),
    Motion(
        name=MotionType.two_image_reveal, tiers=frozenset({M, H}), needs_depth_layers=True, needs_3d=False,
        min_views=2, max_views=2, rank=1, suits=None,
        plan_rule="tier_medium", plan_reason="medium tier: two-image reveal, limited parallax",
        seconds=4.0, max_seconds=7.0,
        ltx2=Ltx2Path(Ltx2Mode.keyframes, "ltx2-keyframe-interpolation",
                      "Smooth cinematic camera move to the {pan} {through} {place}, revealing the view on its {pan}"),
        cpu=CpuPath(CpuMove.truck, overscan=True), checks=MULTI_VIEW,
        downgrade=MotionType.micro_push_in, cpu_first=False,
    ),
    Motion(
        name=MotionType.multi_image_synthesis, tiers=frozenset({H}), needs_depth_layers=True, needs_3d=True,
        min_views=3, max_views=None, rank=2, suits=None,
        plan_rule="tier_high", plan_reason="high tier: multi-image synthesis",
        seconds=5.0, max_seconds=8.0,
        ltx2=Ltx2Path(Ltx2Mode.keyframes, "ltx2-multi-keyframe",
                      "Smooth cinematic camera glide to the {pan} {through} {place}, passing each viewpoint in turn"),
        cpu=CpuPath(CpuMove.truck, overscan=True), checks=MULTI_VIEW,
        downgrade=MotionType.two_image_reveal, cpu_first=False,
    ),
)
"""Richest last; the order is the order of `allowed_motion_types`."""

MOTIONS: dict[MotionType, Motion] = {m.name: m for m in CATALOGUE}
SINGLE_IMAGE_MOTIONS = frozenset(m.name for m in CATALOGUE if m.max_views == 1)
FLOOR = next(m.name for m in CATALOGUE if m.downgrade is None)
"""The safest motion: the ladder ends on it, as a plain 2D move on the CPU renderer."""


def allowed(tier: ConfidenceTier, *, flat: bool = False, three_d: bool = False) -> tuple[MotionType, ...]:
    """The motions a room of this tier (and depth, and 3D eligibility) may be rendered with."""
    return tuple(m.name for m in CATALOGUE if tier in m.tiers and not (flat and m.needs_depth_layers)
                 and (three_d or not m.needs_3d))


def recommend(choices: Iterable[MotionType], shot: Shot) -> Motion:
    """The richest of `choices`; among equally rich single-view moves, the one that suits the shot."""
    entries = [MOTIONS[c] for c in choices]
    if not entries:
        raise ValueError("nothing to recommend from: no motion is allowed")
    top = max(m.rank for m in entries)
    richest = [m for m in entries if m.rank == top]
    for wanted in (shot, Shot.depth):  # the shot's own move, else the plain push into depth
        for entry in richest:
            if entry.suits is wanted:
                return entry
    return richest[0]


def fit(name: MotionType, views: int, allowed_names: Iterable[MotionType | str] | None = None,
        three_d: bool = True) -> MotionType:
    """The richest motion at or below `name` on the ladder that `views` photos can make and the
    plan allows (`allowed_names`, 3D eligibility); the floor when nothing above it qualifies."""
    if views < 1:
        raise ValueError("a clip needs at least one source photo")
    permitted = None if allowed_names is None else {MotionType(a) for a in allowed_names}
    current: MotionType | None = name
    while current is not None:
        entry = MOTIONS[current]
        if (entry.min_views <= views and (three_d or not entry.needs_3d)
                and (permitted is None or current in permitted)):
            return current
        current = entry.downgrade
    return FLOOR


def views_used(name: MotionType, available: int) -> int:
    """Photos a motion plays: the hero alone, two for a reveal, all of them for multi-image."""
    return MOTIONS[name].views(available)


def validation_flags(name: MotionType, *, flat: bool, plain_2d: bool) -> dict[str, bool]:
    """The validator's switches for a clip of this motion (`tasks.render.validate.validate_clip`)."""
    single = MOTIONS[name].checks.single_view
    return {"single_view": single, "expect_parallax": single and not flat and not plain_2d, "plain_2d": plain_2d}
