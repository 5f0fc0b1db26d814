"""The downgrade ladder: which safer render follows one that failed. Pure decisions.

Design, Depth Validation Policy: a clip whose depth collapses, warps or goes planar is
re-rendered with a safer motion profile. Each rung is read from the motion catalogue
(tasks.domain.motions: `downgrade`, `cpu_first`, `min_views`, `FLOOR`). Today's ladder, safest last:

    multi_image_synthesis → two_image_reveal → single-image micro motion → CPU parallax
        → plain 2D push in (the floor)

- A clip rejected by the validator steps down one rung on the same backend; a single-image
  LTX-2 clip steps down to the same move on the CPU parallax renderer; on the parallax
  renderer, pans and pull-backs step down to a push in, the safest move (it only ever
  magnifies the photo, so nothing off-frame or behind objects is ever shown). A parallax push in
  that is still rejected steps down to the floor: the same push as a plain 2D zoom (no depth),
  a rigid move of the photo that the depth checks do not judge (`tasks.render.validate`), so a
  usable photo is never dropped for lack of a safe motion. Panoramas start on the floor (a plain
  pan across their width).
- A GPU that cannot do the work (out of memory, the model fails to load, the generator
  crashes) skips the remaining LTX-2 rungs: the same motion on the CPU parallax renderer,
  which renders every motion.
- Photos that cannot be read are dropped, and the motion shrinks to what the remaining
  photos support.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from db.enums import MotionType
from tasks.domain.motions import FLOOR, MOTIONS, fit, views_used
from tasks.render.generator import BackendName


class FailureKind(StrEnum):
    rejected = "rejected"  # rendered, then failed validation
    gpu_failure = "gpu_failure"  # out of memory, failed to load, crashed in generation
    unreadable_sources = "unreadable_sources"  # some source photos could not be read


@dataclass(frozen=True)
class RenderStep:
    motion: MotionType
    source_photo_ids: tuple[int, ...]
    backend: BackendName
    plain_2d: bool = False  # a rigid 2D move of the photo: no depth, no parallax


def sources_for(motion: MotionType, photo_ids: tuple[int, ...]) -> tuple[int, ...]:
    """The photos a motion uses, hero first."""
    return photo_ids[: views_used(motion, len(photo_ids))]


def _step(motion: MotionType, photo_ids: tuple[int, ...], backend: BackendName) -> RenderStep:
    return RenderStep(motion, sources_for(motion, photo_ids), backend)


def safer_step(
    current: RenderStep, failure: FailureKind, readable_ids: tuple[int, ...] | None = None
) -> RenderStep | None:
    """The next rung after `current` failed as `failure`; None when nothing safer is left."""
    if failure is FailureKind.unreadable_sources:
        remaining = tuple(i for i in current.source_photo_ids if i in set(readable_ids or ()))
        if not remaining:
            return None
        return _step(fit(current.motion, len(remaining)), remaining, current.backend)
    if current.plain_2d:
        return None  # the floor: nothing is safer than a rigid move of the photo
    if failure is FailureKind.gpu_failure:
        if current.backend is BackendName.parallax:
            return None  # no GPU was involved; a CPU crash is not fixed by another rung
        return _step(current.motion, current.source_photo_ids, BackendName.parallax)
    # rejected by the validator: one rung down
    entry = MOTIONS[current.motion]
    if entry.cpu_first and current.backend is BackendName.ltx2:
        return _step(current.motion, current.source_photo_ids, BackendName.parallax)
    if entry.downgrade is not None:
        return _step(entry.downgrade, current.source_photo_ids, current.backend)
    return RenderStep(FLOOR, current.source_photo_ids[:1], BackendName.parallax, plain_2d=True)
