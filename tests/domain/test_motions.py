"""The motion catalogue: every entry is plannable by Phase 1, renders on the CPU path, is judged
by the validator and has a downgrade ladder that ends on the floor."""

from __future__ import annotations

import inspect
from itertools import pairwise, product
from pathlib import Path

import numpy as np
import pytest

from db.enums import ConfidenceTier, MotionType, RoomType
from tasks.analyze.plan import ALLOWED_MOTION, recommend_motion
from tasks.domain.motions import (
    CATALOGUE,
    FLOOR,
    MOTIONS,
    Ltx2Mode,
    PanDirection,
    allowed,
    fit,
    validation_flags,
)
from tasks.render.downgrade import FailureKind, RenderStep, safer_step
from tasks.render.generator import (
    BackendName,
    ClipRequest,
    ParallaxBackend,
    generate_clip,
)
from tasks.render.ltx2 import KEYFRAME_MOTIONS, build_prompt, camera_move
from tasks.render.validate import validate_clip
from tasks.settings import Settings

ENTRIES = [pytest.param(m, id=m.name.value) for m in CATALOGUE]


def test_the_catalogue_has_one_entry_per_motion_type_and_one_floor() -> None:
    assert [m.name for m in CATALOGUE] == list(MotionType) and set(MOTIONS) == set(MotionType)
    assert [m.name for m in CATALOGUE if m.downgrade is None] == [FLOOR]
    assert all(FLOOR in allowed(tier, flat=True) for tier in ConfidenceTier)  # the floor is always allowed


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_is_plannable(entry) -> None:
    """Some tier allows it, Phase 1 recommends it for some room, and a room with enough views keeps it."""
    tiers = [t for t in ConfidenceTier if entry.name in ALLOWED_MOTION[t]]
    assert tiers and set(tiers) == set(entry.tiers)
    recommended = {recommend_motion(t, flat, closing).value
                   for t, flat, closing in product(ConfidenceTier, (False, True), (False, True))}
    assert entry.name in recommended
    for tier in tiers:
        assert fit(entry.name, entry.min_views, ALLOWED_MOTION[tier], three_d=entry.needs_3d) is entry.name
    if entry.min_views > 1:
        assert fit(entry.name, entry.min_views - 1) is not entry.name  # too few photos: a smaller motion
    if entry.needs_3d:
        assert fit(entry.name, 8, three_d=False) is not entry.name
    if entry.needs_depth_layers:
        assert all(entry.name not in allowed(t, flat=True, three_d=True) for t in ConfidenceTier)


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_has_an_ltx2_path(entry) -> None:
    """The LTX-2 mode, LoRA and prompt the GPU renderer reads; the model Phase 1 records for it."""
    assert (entry.name in KEYFRAME_MOTIONS) is (entry.ltx2.mode is Ltx2Mode.keyframes)
    assert (entry.ltx2.lora is None) is (entry.ltx2.mode is Ltx2Mode.keyframes)  # a LoRA steers one photo
    for pan in PanDirection:
        move = camera_move(entry.name, pan)
        assert move is None or move is entry.ltx2.lora[pan]
        for room in (RoomType.kitchen, RoomType.front_exterior, "wine_cellar"):
            prompt = build_prompt(room, entry.name, pan)
            assert "{" not in prompt and prompt.endswith("photorealistic real estate video")
    assert entry.ltx2.model and all(m.ltx2.mode is entry.ltx2.mode for m in CATALOGUE
                                    if m.ltx2.model == entry.ltx2.model)  # one model path, one LTX-2 mode


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_renders_on_the_cpu_path(entry, tmp_path: Path) -> None:
    """A few real frames from the parallax renderer, encoded and checked against the request."""
    rng = np.random.default_rng(3)
    views = max(entry.min_views, 3)
    images = tuple(rng.integers(0, 255, (72, 128, 3), dtype=np.uint8) for _ in range(views))
    ramp = np.linspace(0.0, 1.0, 72, dtype=np.float32)[:, None].repeat(128, axis=1)  # near floor, far ceiling
    request = ClipRequest(images=images, depths=(ramp,) * views, motion=entry.name, room_type="kitchen",
                          duration=0.5, fps=12, width=96, height=64, tier=ConfidenceTier.high,
                          model=entry.ltx2.model)
    clip = generate_clip(request, ParallaxBackend(), tmp_path / "clip.mp4", Settings())
    assert (clip.info.width, clip.info.height, clip.info.frame_count) == (96, 64, 6)
    assert clip.metadata["views"] == entry.views(views)


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_tells_the_validator_what_to_judge(entry) -> None:
    flags = validation_flags(entry.name, flat=False, plain_2d=False)
    assert set(flags) <= set(inspect.signature(validate_clip).parameters)
    assert flags["single_view"] is (entry.max_views == 1)
    assert flags["expect_parallax"] is flags["single_view"]  # a single view of a deep scene must show parallax
    assert not validation_flags(entry.name, flat=True, plain_2d=False)["expect_parallax"]
    assert not validation_flags(entry.name, flat=False, plain_2d=True)["expect_parallax"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_the_downgrade_stays_inside_what_the_plan_allowed(entry) -> None:
    """A rung below is safer (poorer, fewer views) and allowed wherever the motion above it was."""
    if entry.downgrade is None:
        return
    below = MOTIONS[entry.downgrade]
    assert below.rank <= entry.rank and below.min_views <= entry.min_views
    assert entry.tiers <= below.tiers and (entry.needs_3d or not below.needs_3d)


@pytest.mark.parametrize(("entry", "backend", "failure"),
                         [pytest.param(m, b, f, id=f"{m.name.value}-{b.value}-{f.value}") for m, b, f in
                          product(CATALOGUE, BackendName, (FailureKind.rejected, FailureKind.gpu_failure))])
def test_every_ladder_terminates(entry, backend: BackendName, failure: FailureKind) -> None:
    """Rejected again and again (after a first rejection or GPU failure), every motion on every backend
    reaches the plain 2D floor and stops; a crash on the CPU renderer stops at once (no GPU was involved)."""
    step: RenderStep | None = RenderStep(entry.name, tuple(range(1, 5)), backend)
    seen = []
    while step is not None:
        assert len(seen) <= 2 * len(CATALOGUE) + 2, f"the ladder from {entry.name} does not end: {seen}"
        seen.append(step)
        step = safer_step(step, failure if len(seen) == 1 else FailureKind.rejected)
    if backend is BackendName.parallax and failure is FailureKind.gpu_failure:
        assert len(seen) == 1
        return
    last = seen[-1]
    assert (last.motion, last.backend, last.plain_2d, len(last.source_photo_ids)) == (
        FLOOR, BackendName.parallax, True, 1)
    assert all(MOTIONS[b.motion].rank <= MOTIONS[a.motion].rank for a, b in pairwise(seen))
