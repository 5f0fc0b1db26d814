"""The generator interface: backend choice, request checks, encoded output checked against the ask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from db.enums import ConfidenceTier, MotionType
from tasks.render.generator import (
    BackendName,
    BackendUnavailable,
    BadRender,
    ClipRequest,
    ParallaxBackend,
    choose_backend,
    generate_clip,
    load_backend,
)
from tasks.domain.motions import SINGLE_IMAGE_MOTIONS
from tasks.settings import Settings


def request(images, depths, motion=MotionType.micro_push_in, **kw) -> ClipRequest:
    fields = {"images": tuple(images), "depths": tuple(depths), "motion": motion, "room_type": "living_room",
              "duration": 1.0, "fps": 12, "width": 320, "height": 180, "tier": ConfidenceTier.low}
    return ClipRequest(**(fields | kw))


def test_backend_choice_follows_settings_machine_and_plan() -> None:
    def gpu() -> bool:
        return True

    def no_gpu() -> bool:
        return False

    assert choose_backend("auto", None, gpu) is BackendName.parallax
    assert choose_backend("auto", "Lightricks/LTX-2", no_gpu) is BackendName.parallax
    assert choose_backend("auto", "Lightricks/LTX-2", gpu) is BackendName.ltx2
    assert choose_backend("ltx2", "x", no_gpu) is BackendName.ltx2
    assert choose_backend("parallax", "x", gpu) is BackendName.parallax
    assert choose_backend("auto", "x", gpu, forced="parallax") is BackendName.parallax
    with pytest.raises(ValueError, match="auto, ltx2 or parallax"):
        choose_backend("wan22", None, no_gpu)


def test_ltx2_without_a_model_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match="LTX2_MODEL"):
        load_backend(BackendName.ltx2, Settings(ltx2_model=None))


def test_requests_are_checked() -> None:
    image, depth = np.zeros((40, 60, 3), np.uint8), np.zeros((40, 60), np.float32)
    with pytest.raises(ValueError, match="at least one"):
        request([], [])
    with pytest.raises(ValueError, match="one depth"):
        request([image], [])
    with pytest.raises(ValueError, match="pan_direction"):
        request([image], [depth], pan_direction="up")
    assert request([image], [depth], duration=2.5, fps=30).n_frames == 75


@pytest.mark.parametrize("motion", list(MotionType))
def test_every_motion_is_encoded_at_the_requested_size_rate_and_length(motion, living, living_b, tmp_path) -> None:
    (a, da), (b, db) = living, living_b
    req = request([a, b], [da, db], motion, duration=1.5, fps=24)
    clip = generate_clip(req, ParallaxBackend(), tmp_path / "c.mp4", Settings())
    info = clip.info
    assert (info.width, info.height, info.fps, info.frame_count) == (320, 180, 24.0, 36)
    assert info.duration == pytest.approx(1.5) and (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert clip.backend == "parallax-cpu" and not clip.uses_gpu and not clip.is_3d
    assert clip.metadata["views"] == (1 if motion in SINGLE_IMAGE_MOTIONS else 2)


class ShortBackend:
    """A backend that stops early: the check must notice, whatever made the frames."""

    name, uses_gpu = "short", False

    def render(self, req: ClipRequest, write) -> dict:
        for _ in range(req.n_frames - 3):
            write(np.zeros((req.height, req.width, 3), np.uint8))
        return {}


def test_a_backend_that_delivers_the_wrong_length_is_caught(tmp_path: Path) -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    with pytest.raises(BadRender, match="asked 320x180x12"):
        generate_clip(request([image], [None]), ShortBackend(), tmp_path / "c.mp4", Settings())


def keyframe_indices(path: Path) -> list[int]:
    import av

    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    packets.sort(key=lambda p: p.pts)  # demux order is decode order; frames are numbered by pts
    return [i for i, p in enumerate(packets) if p.is_keyframe]


def test_a_rendered_clip_has_a_keyframe_every_second(living, tmp_path) -> None:
    """Phase 4 trims deep into clips: a seek then decodes at most a second, not the whole clip."""
    image, depth = living
    clip = generate_clip(request([image], [depth], MotionType.subtle_pan, duration=3.5, fps=12),
                         ParallaxBackend(), tmp_path / "c.mp4", Settings())
    keys = keyframe_indices(clip.path)
    assert clip.info.frame_count == 42 and keys[0] == 0
    assert len(keys) >= 4 and max(b - a for a, b in zip(keys, [*keys[1:], 42])) <= 12
