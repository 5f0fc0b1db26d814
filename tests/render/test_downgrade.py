"""The downgrade ladder as pure decisions."""

from __future__ import annotations

import pytest

from db.enums import MotionType as M
from tasks.domain.motions import fit as fit_motion
from tasks.render.downgrade import (
    FailureKind,
    RenderStep,
    safer_step,
    sources_for,
)
from tasks.render.generator import BackendName as B


def step(motion: M, ids: tuple[int, ...], backend: B = B.ltx2) -> RenderStep:
    return RenderStep(motion, ids, backend)


def plain_push(ids: tuple[int, ...]) -> RenderStep:
    return RenderStep(M.micro_push_in, ids, B.parallax, plain_2d=True)


def test_validation_failures_walk_the_ladder_to_the_plain_2d_floor() -> None:
    rung = step(M.multi_image_synthesis, (1, 2, 3, 4))
    seen = []
    while rung is not None:
        seen.append((rung.motion, rung.source_photo_ids, rung.backend, rung.plain_2d))
        rung = safer_step(rung, FailureKind.rejected)
    assert seen == [
        (M.multi_image_synthesis, (1, 2, 3, 4), B.ltx2, False),
        (M.two_image_reveal, (1, 2), B.ltx2, False),
        (M.micro_push_in, (1,), B.ltx2, False),
        (M.micro_push_in, (1,), B.parallax, False),
        (M.micro_push_in, (1,), B.parallax, True),
    ]


@pytest.mark.parametrize("motion", list(M))
@pytest.mark.parametrize("backend", list(B))
def test_every_ladder_ends_in_a_plain_2d_move(motion: M, backend: B) -> None:
    """Whatever the start and however often the validator rejects, the last rung is plain 2D."""
    rung, last = step(motion, (1, 2, 3), backend), None
    while rung is not None:
        rung, last = safer_step(rung, FailureKind.rejected), rung
    assert last is not None and last.plain_2d and last.backend is B.parallax


@pytest.mark.parametrize("motion", [M.subtle_pan, M.micro_push_out])
def test_single_image_moves_go_to_parallax_then_to_a_push_in(motion: M) -> None:
    on_cpu = safer_step(step(motion, (7,)), FailureKind.rejected)
    assert on_cpu == step(motion, (7,), B.parallax)
    assert safer_step(on_cpu, FailureKind.rejected) == step(M.micro_push_in, (7,), B.parallax)
    assert safer_step(step(M.micro_push_in, (7,), B.parallax), FailureKind.rejected) == plain_push((7,))
    assert safer_step(plain_push((7,)), FailureKind.rejected) is None
    assert safer_step(plain_push((7,)), FailureKind.gpu_failure) is None


def test_a_gpu_failure_jumps_straight_to_the_same_motion_on_cpu() -> None:
    assert safer_step(step(M.two_image_reveal, (1, 2)), FailureKind.gpu_failure) == step(
        M.two_image_reveal, (1, 2), B.parallax)
    assert safer_step(step(M.two_image_reveal, (1, 2), B.parallax), FailureKind.gpu_failure) is None


def test_unreadable_photos_are_dropped_and_the_motion_shrinks_to_fit() -> None:
    multi = step(M.multi_image_synthesis, (1, 2, 3))
    assert safer_step(multi, FailureKind.unreadable_sources, (1, 3)) == step(M.two_image_reveal, (1, 3))
    assert safer_step(multi, FailureKind.unreadable_sources, (3,)) == step(M.micro_push_in, (3,))
    assert safer_step(multi, FailureKind.unreadable_sources, ()) is None


def test_fit_motion_and_sources() -> None:
    assert fit_motion(M.multi_image_synthesis, 3) is M.multi_image_synthesis
    assert fit_motion(M.multi_image_synthesis, 2) is M.two_image_reveal
    assert fit_motion(M.two_image_reveal, 1) is M.micro_push_in
    assert fit_motion(M.subtle_pan, 1) is M.subtle_pan
    assert sources_for(M.subtle_pan, (4, 5)) == (4,)
    assert sources_for(M.two_image_reveal, (4, 5, 6)) == (4, 5)
    with pytest.raises(ValueError):
        fit_motion(M.micro_push_in, 0)
